"""Without a WebSocket, on a real daphne: the socket's frames as Server-Sent
Events from ``/notifications/api/events/``, beside Django and as Django's own
view, across processes over Redis."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.test import Client

from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import EventStream, connect
from tests.unit.test_fallback import post

# The package's application (the stream beside Django) and startproject's
# asgi.py (the view under Django's own).
BOTH_APPLICATIONS = pytest.mark.parametrize(
    "application",
    ["tests.stock_asgi:application", "tests.django_asgi:application"],
    ids=["package-asgi", "startproject-asgi"],
)


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
