"""Redis restarted empty, and channels-redis's group expiry: sockets that
stay connected keep receiving live pushes. The hub re-joins its groups: at
once when its receive fails (Redis went away), and every third of
group_expiry (at most every 60 s) in any case."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import CHANNELS_REDIS_OUTAGE_NOISE, connect, unexpected_tracebacks

pytestmark = [pytest.mark.daphne, pytest.mark.redis]


async def open_sockets(servers, users):
    sockets = []
    for i, user in enumerate(users):
        socket = await connect(servers[i % len(servers)], cookie=await sync_to_async(session_cookie)(user))
        await socket.frame("hello")
        sockets.append(socket)
    return sockets


async def test_redis_restarted_empty_while_clients_stay_connected(daphne, own_redis):
    actor = await sync_to_async(factories.user)("actor")
    users = [await sync_to_async(factories.user)(f"user{i}") for i in range(4)]
    # A long heartbeat, so only a live push (not a heartbeat's sync) can pass.
    servers = await asyncio.gather(
        *(asyncio.to_thread(daphne, redis_url=own_redis.url, NOTIFICATIONS_HEARTBEAT_SECONDS="300") for _ in range(2))
    )
    sockets = await open_sockets(servers, users)

    await asyncio.to_thread(own_redis.stop)
    await asyncio.to_thread(own_redis.start)  # empty: every group membership is gone

    # The hubs notice on their next receive and re-join; a send right after
    # the restart may be dropped, so send until one arrives, and then check
    # that every later send arrives.
    async def first_push(socket, user):
        async with asyncio.timeout(15):
            while True:
                await sync_to_async(notify.send)(actor, recipient=user, verb="probe")
                try:
                    await socket.frame("notification", timeout=1)
                    return
                except TimeoutError:
                    continue

    await asyncio.gather(*(first_push(s, u) for s, u in zip(sockets, users, strict=True)))
    # Probes sent meanwhile may still arrive: nothing else does.
    await asyncio.gather(*(s.nothing(within=1.7, skip=("heartbeat", "notification")) for s in sockets))
    [(_, created)] = await sync_to_async(notify.send)(actor, recipient=users, verb="after the restart")
    for socket, notification in zip(sockets, created, strict=True):
        while True:
            pushed = await socket.frame("notification", timeout=3)
            if pushed["notification"]["id"] == notification.id:
                break
    for server in servers:
        assert server.proc.poll() is None
        assert unexpected_tracebacks(server.log_text(), CHANNELS_REDIS_OUTAGE_NOISE) == []
    for socket in sockets:
        await socket.close()


async def test_a_socket_older_than_group_expiry_still_receives_pushes(daphne, own_redis, settings):
    from notifications.realtime import redis_channel_layer

    # channels-redis prunes expired members when it sends, with the sender's
    # expiry: this process uses the short value too.
    settings.CHANNEL_LAYERS = {
        "default": redis_channel_layer(own_redis.url, prefix=settings.CHANNEL_PREFIX, group_expiry=2)
    }
    actor = await sync_to_async(factories.user)("actor")
    alice = await sync_to_async(factories.user)("alice")
    server = await asyncio.to_thread(
        daphne, redis_url=own_redis.url, TEST_GROUP_EXPIRY="2", NOTIFICATIONS_HEARTBEAT_SECONDS="300"
    )
    [socket] = await open_sockets([server], [alice])
    await asyncio.sleep(5)  # well past the 2 s expiry
    [(_, [created])] = await sync_to_async(notify.send)(actor, recipient=alice, verb="late")
    pushed = await socket.frame("notification", timeout=3)
    assert pushed["notification"]["id"] == created.id
    await socket.close()
