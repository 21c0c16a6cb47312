"""Without a WebSocket: client frames POSTed to ``/notifications/api/frames/``,
answered as the socket answers them, and the events view under WSGI. (The
Server-Sent Events stream on a real daphne: tests/system/test_fallback.py.)"""

import json

import pytest
from django.test import Client
from django.urls import reverse

from notifications.signals import notify
from notifications.swappable import load_notification_model

Notification = load_notification_model()


def post(client, frame, **extra):
    body = frame if isinstance(frame, str) else json.dumps(frame)
    response = client.post(reverse("notifications:frames"), body, content_type="application/json", **extra)
    return response.status_code, response.json()


@pytest.mark.django_db(transaction=True)
def test_a_posted_frame_gets_the_sockets_answer_and_the_heartbeat(alice, bob):
    client = Client()
    client.force_login(alice)
    [(_, [first])] = notify.send(bob, recipient=alice, verb="pinged")
    [(_, [theirs])] = notify.send(alice, recipient=bob, verb="pinged")

    status, frames = post(client, {"type": "sync", "after": 0})
    assert status == 200 and [f["type"] for f in frames] == ["sync", "heartbeat"]
    assert [n["id"] for n in frames[0]["notifications"]] == [first.id]
    assert frames[1] == {"type": "heartbeat", "last_id": first.id, "unread_count": 1, "unseen_count": 1}

    status, frames = post(client, {"type": "mark_read", "id": first.id})
    assert status == 200 and frames == [
        {"type": "heartbeat", "last_id": first.id, "unread_count": 0, "unseen_count": 0}
    ]
    first.refresh_from_db()
    assert first.unread is False

    # The socket's errors: someone else's id, bad JSON, an unknown type.
    assert post(client, {"type": "mark_read", "id": theirs.id})[1][0]["code"] == "not_found"
    assert post(client, "{nope")[1][0]["code"] == "bad_json"
    assert post(client, {"type": "launch"})[1][0]["code"] == "unknown_type"
    assert post(client, {"type": "ping"})[1][0] == {"type": "pong"}
    theirs.refresh_from_db()
    assert theirs.unread is True


@pytest.mark.django_db(transaction=True)
def test_the_frames_endpoint_needs_a_login_csrf_and_a_frame_of_bounded_size(alice, settings):
    anonymous = Client()
    assert post(anonymous, {"type": "ping"})[0] == 401
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("notifications:frames"), "{}", content_type="application/json").status_code == 403
    client = Client()
    client.force_login(alice)
    assert client.get(reverse("notifications:frames")).status_code == 405
    status, frames = post(client, {"type": "ping", "pad": "x" * 20_000})
    assert status == 413 and frames[0]["code"] == "too_large"


@pytest.mark.django_db(transaction=True)
def test_posted_frames_have_the_sockets_rate_limit(alice, settings):
    from notifications.realtime import http

    http._buckets.clear()
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"FRAMES_PER_SECOND": 1, "FRAME_BURST": 5}
    client = Client()
    client.force_login(alice)
    statuses = [post(client, {"type": "ping"})[0] for _ in range(10)]
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429


@pytest.mark.django_db(transaction=True)
def test_get_gives_the_whole_of_a_notification_too_big_for_a_frame(alice, bob):
    client = Client()
    client.force_login(alice)
    [(_, [big])] = notify.send(bob, recipient=alice, verb="attached", description="x" * 50_000)
    [sync, _] = post(client, {"type": "sync", "after": 0})[1]
    [stub] = sync["notifications"]
    assert stub["truncated"] is True and stub["id"] == big.id and "description" not in stub
    [item, _] = post(client, {"type": "get", "id": big.id})[1]
    assert item["type"] == "item" and item["notification"]["description"] == "x" * 50_000
    assert item["notification"]["group"]["latest_id"] == big.id
    [(_, [theirs])] = notify.send(alice, recipient=bob, verb="attached")
    assert post(client, {"type": "get", "id": theirs.id})[1][0]["code"] == "not_found"


@pytest.mark.django_db
def test_under_wsgi_the_events_view_answers_503_and_the_client_polls(alice):
    """Django's WSGI handler would hold a worker on the endless stream."""
    client = Client()
    client.force_login(alice)
    response = client.get(reverse("notifications:events"))
    assert response.status_code == 503 and response.json()["code"] == "unavailable"
