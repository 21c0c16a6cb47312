"""Web Push reaches push services and nothing else: no endpoint outside them
is stored, none is sent to, no redirect is followed, no answer is read
without bound, and a subscription stays its owner's."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from notifications.models import Delivery, PushSubscription
from notifications.outbound.push_endpoints import (
    MAX_SUBSCRIPTIONS_PER_USER,
    RefusedEndpoint,
    check_endpoint,
    is_public,
    public_resolver,
)
from notifications.outbound.services import deliveries_send_due, push_subscription_save
from notifications.outbound.webpush import generate_vapid_keys
from notifications.signals import notify
from tests.pushservice import start_push_service

pytestmark = pytest.mark.django_db

URL = "/notifications/api/push-subscription/"
KEYS = {"p256dh": "p", "auth": "a"}


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


def subscribe(client, endpoint, keys=KEYS):
    body = json.dumps({"endpoint": endpoint, "keys": keys})
    return client.post(URL, body, content_type="application/json")


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://127.0.0.1.attacker.example/x", "https"),
        ("http://localhost@attacker.example/x", "https"),
        ("http://127.0.0.1:6379/", "https"),
        ("https://169.254.169.254/latest/meta-data/", "an address"),
        ("https://[::1]/x", "an address"),
        ("https://localhost/x", "not a push service"),
        ("https://user:pw@fcm.googleapis.com/x", "user name"),
        ("https://fcm.googleapis.com@attacker.example/x", "user name"),
        ("https://fcm.googleapis.com.attacker.example/x", "not a push service"),
        ("https://attacker.example/fcm.googleapis.com", "not a push service"),
        ("https://fcm.googleapis.com:6379/x", "port 443"),
        ("https://notpush.apple.com/x", "not a push service"),
        ("ftp://fcm.googleapis.com/x", "https"),
        ("https://fcm.googleapis.com:99999/x", "not a URL"),
    ],
)
def test_an_endpoint_outside_the_push_services_is_refused(client, alice, settings, debug, endpoint, reason):
    settings.DEBUG = debug
    client.force_login(alice)
    response = subscribe(client, endpoint)
    assert response.status_code == 400 and reason in response.json()["error"]
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/abc",
        "https://web.push.apple.com/QGuQ",
        "https://wns2-db5p.notify.windows.com/w/?token=abc",
    ],
)
def test_the_browsers_push_services_are_accepted(client, alice, endpoint):
    client.force_login(alice)
    assert subscribe(client, endpoint).status_code == 201


def test_a_site_adds_push_services_by_name_domain_or_origin(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        "WEBPUSH": {"PUSH_SERVICES": ["push.example.com", ".push.example.net", "http://127.0.0.1:8765"]}
    }
    for endpoint in ("https://push.example.com/a", "https://eu.push.example.net/a", "http://127.0.0.1:8765/a"):
        check_endpoint(endpoint)
    for endpoint in ("https://example.com/a", "http://127.0.0.1:8766/a", "https://x.push.example.com/a"):
        with pytest.raises(RefusedEndpoint):
            check_endpoint(endpoint)


def test_a_user_keeps_the_newest_subscriptions(client, alice):
    client.force_login(alice)
    for index in range(MAX_SUBSCRIPTIONS_PER_USER + 3):
        assert subscribe(client, f"https://fcm.googleapis.com/fcm/send/{index}").status_code == 201
    kept = sorted(int(e.rsplit("/", 1)[1]) for e in PushSubscription.objects.values_list("endpoint", flat=True))
    assert kept == list(range(3, MAX_SUBSCRIPTIONS_PER_USER + 3))


def test_knowing_an_endpoint_does_not_take_the_subscription(client, alice, bob):
    endpoint = "https://fcm.googleapis.com/fcm/send/alices-phone"
    client.force_login(alice)
    assert subscribe(client, endpoint, {"p256dh": "alice-key", "auth": "alice-secret"}).status_code == 201
    client.force_login(bob)
    taken = subscribe(client, endpoint, {"p256dh": "bob-key", "auth": "bob-secret"})
    assert taken.status_code == 409
    assert PushSubscription.objects.get().user == alice
    # Bob's DELETE removes nothing of alice's.
    assert client.delete(URL, json.dumps({"endpoint": endpoint}), content_type="application/json").status_code == 200
    assert PushSubscription.objects.get().user == alice
    # The same browser, with its own keys, signed in as bob: it moves.
    moved = subscribe(client, endpoint, {"p256dh": "alice-key", "auth": "alice-secret"})
    assert moved.status_code == 201 and PushSubscription.objects.get().user == bob


class Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self):
        Counting.hits.append(self.path)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_redirect_from_a_push_service_is_not_followed(push, alice, bob):
    """The push service answers 307 to another port (keeping the POST and
    its body, as curl and aiohttp would): nothing reaches the other port."""
    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    Counting.hits = []
    try:
        browser = push.subscribe("redirecting")
        push.redirects["/push/redirecting"] = f"http://127.0.0.1:{elsewhere.server_address[1]}/stolen"
        push_subscription_save(user=alice, endpoint=browser.endpoint, **browser.keys)
        notify.send(bob, recipient=alice, verb="pinged", channels={"webpush": "immediate"})
        report = deliveries_send_due()
        assert len(report.retrying) == 1 and "307" in report.retrying[0][1]
        assert Counting.hits == []
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()


def test_an_answer_is_read_up_to_a_bound(push, alice, bob):
    push.padding = 64 * 1024 * 1024  # a 64 MiB answer to every push
    browser = push.subscribe("chatty")
    push_subscription_save(user=alice, endpoint=browser.endpoint, **browser.keys)
    notify.send(bob, recipient=alice, verb="pinged", channels={"webpush": "immediate"})
    assert len(deliveries_send_due().sent) == 1
    # The client hung up after its bound: what got out is that and the
    # sockets' buffers, not the answer.
    for _ in range(50):
        if push.padded:
            break
        time.sleep(0.1)
    [written] = push.padded
    assert written < push.padding // 2, written


def test_a_stored_endpoint_outside_the_push_services_is_never_contacted(push, alice, bob):
    """Stored before endpoints were checked (or by other means): not sent
    to, the request never leaves, and the row is kept (a site may put its
    PUSH_SERVICES right); the delivery is skipped, not retried."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    PushSubscription.objects.create(user=alice, endpoint=f"http://127.0.0.1:{port}/x", **KEYS)
    notify.send(bob, recipient=alice, verb="pinged", channels={"webpush": "immediate"})
    report = deliveries_send_due()
    assert not report.sent and Delivery.objects.filter(state="sent").count() == 0
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()
    assert PushSubscription.objects.count() == 1
    assert Delivery.objects.get(channel="webpush").state == "skipped"


def test_a_push_service_name_that_resolves_to_a_private_address_is_not_reached():
    async def resolve(host):
        return await public_resolver().resolve(host, 443)

    with pytest.raises(OSError, match="no public address"):
        asyncio.run(resolve("localhost"))
    assert not is_public("169.254.169.254") and not is_public("10.0.0.1") and not is_public("::1")
    assert not is_public("fe80::1%eth0") and not is_public("224.0.0.1") and is_public("142.250.1.1")
