"""Without a WebSocket: the socket's frames as Server-Sent Events from
``/notifications/api/events/``, and client frames POSTed to
``/notifications/api/frames/``, answered as the socket answers them."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.test import Client
from django.urls import reverse

from notifications.signals import notify
from notifications.swappable import load_notification_model
from tests import factories
from tests.conftest import session_cookie
from tests.live import EventStream, connect

Notification = load_notification_model()
# The package's application (the stream beside Django) and startproject's
# asgi.py (the view under Django's own).
BOTH_APPLICATIONS = pytest.mark.parametrize(
    "application",
    ["tests.stock_asgi:application", "tests.django_asgi:application"],
    ids=["package-asgi", "startproject-asgi"],
)


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


@pytest.mark.daphne
@BOTH_APPLICATIONS
async def test_an_event_stream_says_hello_and_carries_what_another_process_sends(daphne, application):
    """Served beside Django by the package's application, or by the view
    under Django's own (startproject's asgi.py, where no WebSocket opens)."""
    server = await asyncio.to_thread(daphne, application=application)
    alice = await sync_to_async(factories.user)("alice")
    cookie = await sync_to_async(session_cookie)(alice)
    stream = await EventStream.open(server, "/notifications/api/events/", cookie)
    assert stream.status == 200 and stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["x-accel-buffering"] == "no"
    hello = await stream.frame("hello")
    assert hello["user"] == factories.wire(alice.pk) and hello["unread_count"] == 0
    # This test process is another process: without Redis the server finds
    # the row by its database watch and tells the stream by a heartbeat.
    [(_, [sent])] = await sync_to_async(notify.send)(alice, recipient=alice, verb="pinged")
    beat = await stream.frame("heartbeat", skip=())
    while beat["last_id"] != sent.id:
        beat = await stream.frame("heartbeat", skip=())
    assert beat["unread_count"] == 1
    await stream.close()


@pytest.mark.daphne
@pytest.mark.redis
async def test_a_read_in_one_stream_reaches_a_socket_and_another_stream(daphne, redis_layer):
    server = await asyncio.to_thread(daphne, redis_url=redis_layer, application="tests.stock_asgi:application")
    alice = await sync_to_async(factories.user)("alice")
    cookie = await sync_to_async(session_cookie)(alice)
    streams = [await EventStream.open(server, "/notifications/api/events/", cookie) for _ in range(2)]
    socket = await connect(server, cookie=cookie)
    for live in (*streams, socket):
        await live.frame("hello")
    [(_, [sent])] = await sync_to_async(notify.send)(alice, recipient=alice, verb="pinged")
    for live in (*streams, socket):
        assert (await live.frame("notification"))["notification"]["id"] == sent.id
    client = Client()
    await sync_to_async(client.force_login)(alice)
    status, _ = await sync_to_async(post)(client, {"type": "mark_read", "id": sent.id})
    assert status == 200
    for live in (*streams, socket):
        assert (await live.frame("read"))["ids"] == [sent.id]
    for live in (*streams, socket):
        await live.close()


@pytest.mark.daphne
async def test_an_event_stream_refuses_anonymous_users_and_a_site_without_a_layer(daphne, settings):
    server = await asyncio.to_thread(daphne, application="tests.stock_asgi:application")
    stream = await EventStream.open(server, "/notifications/api/events/")
    assert stream.status == 401
    await stream.close()


@pytest.mark.daphne
@BOTH_APPLICATIONS
async def test_another_sites_page_cannot_open_an_event_stream(daphne, application):
    """It could not read the stream, but it would hold the user's places and
    keep them "online": refused as the socket's handshake is."""
    server = await asyncio.to_thread(daphne, application=application)
    alice = await sync_to_async(factories.user)("alice")
    cookie = await sync_to_async(session_cookie)(alice)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        stream = await EventStream.open(server, "/notifications/api/events/", cookie, headers=headers)
        assert stream.status == 403, headers
        await stream.close()
    own = await EventStream.open(server, "/notifications/api/events/", cookie, headers={"Origin": server.url})
    assert own.status == 200
    await own.frame("hello")
    await own.close()


@pytest.mark.django_db
def test_under_wsgi_the_events_view_answers_503_and_the_client_polls(alice):
    """Django's WSGI handler would hold a worker on the endless stream."""
    client = Client()
    client.force_login(alice)
    response = client.get(reverse("notifications:events"))
    assert response.status_code == 503 and response.json()["code"] == "unavailable"


@pytest.mark.daphne
async def test_event_streams_count_against_the_socket_limit_and_free_their_places(daphne, ws_client):
    server = await asyncio.to_thread(daphne, NOTIFICATIONS_MAX_SOCKETS_PER_USER="2")
    alice = await sync_to_async(factories.user)("alice")
    cookie = await sync_to_async(session_cookie)(alice)
    streams = [await EventStream.open(server, "/notifications/api/events/", cookie) for _ in range(2)]
    for stream in streams:
        await stream.frame("hello")
    refused = await ws_client(server, alice)
    assert await refused.closed() == (4429, [{"type": "closing", "reason": "too_many_sockets"}])
    third = await EventStream.open(server, "/notifications/api/events/", cookie)
    assert await third.frame() == {"type": "closing", "reason": "too_many_sockets"}
    await third.close()
    await streams[0].close()
    deadline = asyncio.get_running_loop().time() + 10
    while True:  # until the server has seen the closed stream go
        socket = await ws_client(server, alice)
        first = await socket.frame()
        if first["type"] == "hello":
            break
        assert first == {"type": "closing", "reason": "too_many_sockets"}
        assert asyncio.get_running_loop().time() < deadline, "a closed stream did not free its place"
        await socket.closed()
    await socket.close()
    await streams[1].close()
