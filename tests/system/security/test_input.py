"""Bad input and abuse against real daphne: every bad frame gets an error
frame or a documented close code, never 1011 or a traceback, and never
harms another socket."""

import asyncio
import json
import sys
import time

import pytest
from channels.db import database_sync_to_async as sync_to_async

from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import ROOT

pytestmark = pytest.mark.daphne


async def admitted(open_socket, timeout=10.0):
    """A socket opened once a place is free: a refused attempt is retried
    until the server has counted a closed socket out."""
    deadline = time.monotonic() + timeout
    while True:
        socket = await open_socket()
        first = await socket.frame()
        if first["type"] == "hello":
            return socket
        assert first == {"type": "closing", "reason": "too_many_sockets"}, first
        assert time.monotonic() < deadline, f"no place was freed within {timeout} s"
        await socket.closed()


BAD_FRAMES = [
    ("{not json", "bad_json"),
    ('"a string"', "bad_frame"),
    ("[1, 2]", "bad_frame"),
    ("[" * 8_000 + "]" * 8_000, "bad_json"),  # 8,000 levels: the most that fits the 16 KiB limit
    ('{"type": 5}', "unknown_type"),
    ('{"type": "shout"}', "unknown_type"),
    ('{"type": "websocket.close", "code": 1000}', "unknown_type"),
    ('{"type": "notifications.frame", "frame": {"type": "hello"}}', "unknown_type"),
    ('{"type": "notifications.announcement", "announcement": {}}', "unknown_type"),
    ('{"type": "realtime.revoke"}', "unknown_type"),
    ('{"type": "__class__"}', "unknown_type"),
    ('{"type": "mark_read", "id": "7"}', "bad_field"),
    ('{"type": "mark_read", "id": 1e3}', "bad_field"),
    ('{"type": "mark_read", "id": true}', "bad_field"),
    ('{"type": "mark_read", "id": 123456789012345678901234567890}', "bad_field"),
    ('{"type": "mark_read", "id": -1}', "bad_field"),
    ('{"type": "sync", "after": [1]}', "bad_field"),
    ('{"type": "mark_read", "id": 99999999}', "not_found"),
]


async def test_each_bad_frame_gets_an_error_and_harms_no_one(daphne, ws_client):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    server = await asyncio.to_thread(daphne)
    attacker, bystander = await ws_client(server, alice), await ws_client(server, bob)
    await attacker.frame("hello")
    await bystander.frame("hello")
    for text, code in BAD_FRAMES:
        await attacker.connection.send(text)
        error = await attacker.frame("error")
        assert error["code"] == code, text[:60]
    await attacker.connection.send(b"\x00\xff binary")
    assert (await attacker.frame("error"))["code"] == "binary_not_supported"
    for socket in (attacker, bystander):
        await socket.send({"type": "ping"})
        assert await socket.frame("pong") == {"type": "pong"}
    await attacker.close()
    await bystander.close()
    log = server.log_text()
    assert "Traceback" not in log and "1011" not in log


async def test_an_oversized_frame_closes_with_1009(daphne, ws_client):
    alice = await sync_to_async(factories.user)("alice")
    await sync_to_async(factories.room)("general")
    server = await asyncio.to_thread(daphne)
    for path in ("/ws/notifications/", "/ws/chat/general/"):
        # Over our limit; over daphne's own; 10,000 levels of nesting.
        for payload in ("x" * 17_000, "x" * 200_000, "[" * 10_000 + "]" * 10_000):
            socket = await ws_client(server, alice, path=path)
            await socket.frame(skip=("heartbeat",))
            await socket.connection.send(payload)
            code, _ = await socket.closed()
            assert code == 1009, (path, len(payload))
    assert "Traceback" not in server.log_text()


async def test_more_than_the_socket_limit_per_user_is_refused_with_4429(daphne, ws_client):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    server = await asyncio.to_thread(daphne)
    sockets = await asyncio.gather(*(ws_client(server, alice) for _ in range(20)))
    for socket in sockets:
        await socket.frame("hello")
    extra = await ws_client(server, alice)
    code, frames = await extra.closed()
    assert code == 4429
    assert frames == [{"type": "closing", "reason": "too_many_sockets"}]
    # Another user is not affected, and a closed socket frees a place.
    bobs = await ws_client(server, bob)
    await bobs.frame("hello")
    await sockets[0].close()
    again = await admitted(lambda: ws_client(server, alice))
    for socket in [*sockets[1:], bobs, again]:
        await socket.close()


@pytest.mark.redis
async def test_the_socket_limit_counts_across_processes(daphne, ws_client, redis_layer):
    alice = await sync_to_async(factories.user)("alice")
    servers = await asyncio.gather(
        *(asyncio.to_thread(daphne, redis_url=redis_layer, NOTIFICATIONS_MAX_SOCKETS_PER_USER="6") for _ in range(2))
    )
    sockets = [await ws_client(servers[i % 2], alice) for i in range(6)]
    for socket in sockets:
        await socket.frame("hello")
    for server in servers:  # three on each: the seventh is refused on either
        extra = await ws_client(server, alice)
        assert await extra.closed() == (4429, [{"type": "closing", "reason": "too_many_sockets"}])
    await sockets[0].close()  # one closed on the first frees a place on the second
    again = await admitted(lambda: ws_client(servers[1], alice))
    for socket in [*sockets[1:], again]:
        await socket.close()


@pytest.mark.redis
async def test_each_server_renews_its_socket_entries_in_the_shared_count(redis_layer):
    """The renewal that keeps a live socket counted (and lets a killed
    server's entries expire) pushes back every entry, across script calls."""
    import redis
    from channels.layers import get_channel_layer

    from notifications.realtime import redis_store, socket_limit

    layer = get_channel_layer()
    users = range(redis_store.GROUPS_PER_SCRIPT + 100)
    for user_id in users:
        assert await socket_limit.admit(layer, kind="Bench", user_id=user_id, socket_id="s", limit=1)
    assert await socket_limit.admit(layer, kind="Bench", user_id=users[-1], socket_id="t", limit=2)
    client = redis.Redis.from_url(redis_layer)
    key = socket_limit._key(layer, "Bench", users[-1])
    client.zadd(key, {"s": time.time() + 1, "t": time.time() + 1})
    client.expire(key, 2)
    await socket_limit.keep_alive(layer, [("Bench", user_id, "s") for user_id in users] + [("Bench", users[-1], "t")])
    for user_id, socket_id in ((users[0], "s"), (users[-1], "s"), (users[-1], "t")):
        key = socket_limit._key(layer, "Bench", user_id)
        assert client.zscore(key, socket_id) > time.time() + socket_limit.ENTRY_SECONDS - 5
        assert client.ttl(key) > socket_limit.ENTRY_SECONDS - 5


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub_shutdown")
async def test_sockets_closing_at_once_release_their_places_through_a_small_pool(settings, clean_redis, caplog):
    """A mass disconnect (a network blip, every client closing) makes one
    release per socket at once; past the Redis pool's size, redis-py raises
    instead of waiting, and the places would stay counted until they expire."""
    import redis
    from channels.layers import get_channel_layer

    from notifications.realtime import redis_channel_layer, socket_limit
    from notifications.realtime.hub import MAX_CONCURRENT_LAYER_OPS
    from tests.unit.test_consumers import frame, open_socket

    # Room for the hub's own operations and its receive, not for 150 at once.
    pool = MAX_CONCURRENT_LAYER_OPS + 8
    settings.CHANNEL_LAYERS = {
        "default": redis_channel_layer(clean_redis, prefix=settings.CHANNEL_PREFIX, max_connections=pool)
    }
    users = [await sync_to_async(factories.user)(f"user{i}") for i in range(2 * pool)]
    sockets = [await open_socket(user) for user in users]
    for socket in sockets:
        await frame(socket, "hello")
    await asyncio.gather(*(socket.disconnect() for socket in sockets))

    client = redis.Redis.from_url(clean_redis)
    layer = get_channel_layer()
    counted = [user.pk for user in users if client.zcard(socket_limit._key(layer, "NotificationConsumer", user.pk))]
    assert counted == []
    assert "could not release" not in caplog.text


@pytest.mark.redis
async def test_a_flood_is_throttled_and_closed_while_others_get_every_push(daphne, ws_client, redis_layer):
    """What the flood costs the others' latency and the server's memory is
    measured by bench/abuse.py; here: it is closed, and no push is lost."""
    users = [await sync_to_async(factories.user)(f"user{i}") for i in range(10)]
    actor = await sync_to_async(factories.user)("actor")
    attacker_user = await sync_to_async(factories.user)("attacker")
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    sockets = {user.pk: await ws_client(server, user) for user in users}
    for socket in sockets.values():
        await socket.frame("hello")

    cookie = await sync_to_async(session_cookie)(attacker_user)
    flooder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.system.security.flood_client",
        server.ws_url + "/ws/notifications/",
        server.url,
        cookie,
        "6",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    # While it floods, every push reaches its user, in order.
    pushed = []
    while flooder.returncode is None and len(pushed) < 2000:
        user = users[len(pushed) % len(users)]
        [(_, [created])] = await sync_to_async(notify.send)(actor, recipient=user, verb="pinged")
        assert (await sockets[user.pk].frame("notification"))["notification"]["id"] == created.id
        pushed.append(created.id)
        await asyncio.sleep(0.01)
    out, _ = await flooder.communicate()
    flood = json.loads(out)

    # Every socket of the flood was closed with 4429 but the last, which the
    # flooder closed itself when its time was up; each reconnect after a 4429
    # was held in the handshake for the cooldown.
    codes = [socket["code"] for socket in flood]
    assert len(flood) >= 2 and all(code == 4429 for code in codes[:-1]), flood
    assert all(socket["handshake"] >= 2.5 for socket in flood[1:]), flood
    assert sum(socket["sent"] for socket in flood) >= 90, flood
    assert pushed
    for socket in sockets.values():
        await socket.close()
    assert "Traceback" not in server.log_text()
