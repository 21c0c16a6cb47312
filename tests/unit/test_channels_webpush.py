"""Web Push through pywebpush against a local push service that checks the
VAPID JWT and decrypts the payload with the subscription's own keys."""

from __future__ import annotations

import json

import pytest

from notifications.models import Delivery, PushSubscription
from notifications.outbound.services import deliveries_send_due, push_subscription_save
from notifications.outbound.webpush import generate_vapid_keys
from notifications.signals import notify
from tests.pushservice import start_push_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def push(settings):
    vapid = generate_vapid_keys("mailto:admin@example.com")
    service, server = start_push_service(vapid)
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        "CHANNELS": ["webpush"],
        "WEBPUSH": {**vapid, "PUSH_SERVICES": [service.origin]},
        "SITE_URL": "http://testserver",
    }
    yield service
    server.shutdown()
    server.server_close()


def test_a_push_reaches_every_subscription_signed_and_encrypted(push, alice, bob):
    phone, laptop = push.subscribe("phone"), push.subscribe("laptop")
    for browser in (phone, laptop):
        push_subscription_save(user=alice, endpoint=browser.endpoint, **browser.keys)
    [(_, [notice])] = notify.send(
        bob, recipient=alice, verb="commented on", description="Nice", channels={"webpush": "immediate"}
    )

    report = deliveries_send_due()
    assert push.rejected == []
    assert [d.channel for d in report.sent] == ["webpush"]
    assert sorted(path for path, _ in push.received) == ["/push/laptop", "/push/phone"]
    _, payload = push.received[0]
    assert payload == {
        "id": notice.pk,
        "title": "bob commented on",
        "body": "Nice",
        "url": "http://testserver/notifications/",
        "tag": f"notification-{notice.pk}",
    }


def test_subscriptions_the_push_service_calls_gone_are_dropped(push, alice, bob):
    kept, expired, unknown = push.subscribe("kept"), push.subscribe("expired"), push.subscribe("unknown")
    for browser in (kept, expired, unknown):
        push_subscription_save(user=alice, endpoint=browser.endpoint, **browser.keys)
    push.gone.add("/push/expired")
    del push.browsers["/push/unknown"]  # the service answers 404

    notify.send(bob, recipient=alice, verb="pinged", channels={"webpush": "immediate"})
    assert len(deliveries_send_due().sent) == 1
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [kept.endpoint]

    push.gone.add("/push/kept")
    notify.send(bob, recipient=alice, verb="pinged again", channels={"webpush": "immediate"})
    report = deliveries_send_due()
    assert [reason for _, reason in report.skipped] == ["every push subscription of the recipient has expired"]
    assert not PushSubscription.objects.exists()


def test_no_subscription_is_a_skip_and_a_refusing_service_a_retry(push, alice, bob):
    notify.send(bob, recipient=alice, verb="pinged", channels={"webpush": "immediate"})
    assert [r for _, r in deliveries_send_due().skipped] == ["the recipient has no push subscription"]

    browser = push.subscribe("phone")
    push_subscription_save(
        user=alice, endpoint=browser.endpoint, p256dh=browser.keys["p256dh"], auth=push.subscribe("other").keys["auth"]
    )  # the wrong secret: the service refuses
    notify.send(bob, recipient=alice, verb="pinged again", channels={"webpush": "immediate"})
    report = deliveries_send_due()
    assert len(report.retrying) == 1 and "403" in report.retrying[0][1]
    assert Delivery.objects.filter(state="pending").count() == 1


def test_the_subscription_endpoint_and_the_service_worker(client, alice, push):
    assert client.get("/notifications/api/push-subscription/").status_code == 401
    client.force_login(alice)
    assert client.get("/notifications/api/push-subscription/").json() == {"public_key": push.vapid_public_key}
    subscription = {"endpoint": "https://fcm.googleapis.com/fcm/send/v1/abc", "keys": {"p256dh": "p", "auth": "a"}}
    body = json.dumps(subscription)
    saved = client.post("/notifications/api/push-subscription/", body, content_type="application/json")
    assert saved.status_code == 201 and PushSubscription.objects.get().user == alice
    bad = client.post(
        "/notifications/api/push-subscription/", '{"endpoint": "ftp://x"}', content_type="application/json"
    )
    assert bad.status_code == 400 and "over https" in bad.json()["error"]
    assert client.delete("/notifications/api/push-subscription/", body, content_type="application/json").json() == {
        "subscribed": False
    }
    assert not PushSubscription.objects.exists()

    worker = client.get("/notifications/service-worker.js")
    assert worker.status_code == 200 and worker["Content-Type"] == "text/javascript"
    assert b'addEventListener("push"' in worker.content


@pytest.mark.parametrize(
    "subscription",
    [
        {"endpoint": "https://fcm.googleapis.com/fcm/send/" + "x" * 1000, "keys": {"p256dh": "p", "auth": "a"}},
        {"endpoint": "https://fcm.googleapis.com/fcm/send/v1/abc", "keys": {"p256dh": "p" * 201, "auth": "a"}},
        {"endpoint": "https://fcm.googleapis.com/fcm/send/v1/abc", "keys": {"p256dh": "p", "auth": ["a"]}},
        {"endpoint": "https://fcm.googleapis.com/fcm/send/v1/abc", "keys": {"p256dh": "", "auth": "a"}},
        {"endpoint": "https://fcm.googleapis.com/fcm/send/v1/abc", "keys": "p"},
    ],
)
def test_a_subscription_that_cannot_be_stored_is_a_clear_400(client, alice, push, subscription):
    client.force_login(alice)
    response = client.post(
        "/notifications/api/push-subscription/", json.dumps(subscription), content_type="application/json"
    )
    assert response.status_code == 400 and "PushSubscription" in response.json()["error"]
    assert not PushSubscription.objects.exists()


def test_a_batch_sent_from_a_thread_that_runs_an_event_loop_still_goes_out():
    # asyncio.run refuses to nest; deliveries_send_due may be called from
    # async code, a notebook or a test driving a browser.
    import asyncio

    from notifications.outbound.webpush import run_coroutine

    async def caller() -> int:
        return run_coroutine(asyncio.sleep(0, result=7))

    assert run_coroutine(asyncio.sleep(0, result=3)) == 3
    assert asyncio.run(caller()) == 7
