"""Redis fails over while users are connected and notifications keep coming.

Two daphne processes, users connected to both, a notification to every user
four times a second, an announcement and a chat message in the middle of the
fault. With Sentinel the primary is SIGKILLed and the sentinels promote the
replica; with a sharded layer one shard is SIGKILLed and restarted empty.
Every notification committed before, during and after reaches every
recipient's socket (each id once in the client's list, by push or by the
heartbeat's sync), live pushes resume by themselves within 10 s of Redis
being back, the announcement and the chat message arrive, no daphne restarts,
and nothing is logged at ERROR once it has settled.

They run in the PostgreSQL pass (with Redis), as a production site would.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async

from notifications.models import Notification
from notifications.realtime.publish import REJOIN_SECONDS
from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import Daphne, connect, unexpected_tracebacks
from tests.system.reliability.conftest import MASTER_NAME, RedisServer, SentinelSet, wait_for
from tests.system.reliability.follower import Follower

pytestmark = [pytest.mark.daphne, pytest.mark.redis, pytest.mark.postgres]

USERS = 16
PERIOD = 0.25  # one notification to every user per period
HEARTBEAT = 1
RESUME_WITHIN = 10.0  # seconds after Redis is back


class ChatReader:
    """A chat socket that collects the bodies of the messages pushed to it."""

    def __init__(self, socket: Any):
        self.socket = socket
        self.bodies: list[str] = []
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        try:
            async for text in self.socket.connection:
                frame = json.loads(text)
                if frame["type"] == "message":
                    self.bodies.append(frame["message"]["body"])
        except websockets.ConnectionClosed:
            pass

    async def until(self, body: str, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while body not in self.bodies:
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.socket.close()
        await self.task


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")]


async def notifications_flow_through(
    servers: list[Daphne], fault: Callable[[], Awaitable[float]], announce: Callable[[], Any]
) -> dict[str, Any]:
    """Run the scenario around ``fault()``, which breaks Redis and returns
    (monotonic) when it is usable again; returns figures to print."""
    from chat.models import Room

    actor = await sync_to_async(factories.user)("actor")
    users = [await sync_to_async(factories.user)(f"user{i:02}") for i in range(USERS)]
    await sync_to_async(factories.room)("ops")
    cookies = [await sync_to_async(session_cookie)(user) for user in users]
    followers = []
    for i, cookie in enumerate(cookies):
        followers.append(Follower(await connect(servers[i % 2], cookie=cookie)).start())
    chat = []
    for i in range(2):
        socket = await connect(servers[i], cookie=cookies[i], path="/ws/chat/ops/")
        await socket.frame("history")
        chat.append(ChatReader(socket))
    async with asyncio.timeout(10):
        while not all(f.frames.get("hello") == 1 for f in followers):
            await asyncio.sleep(0.05)

    stop = asyncio.Event()
    sent = 0

    async def steady_notifications() -> None:
        nonlocal sent
        while not stop.is_set():
            started = time.monotonic()
            await sync_to_async(notify.send)(actor, recipient=users, verb="tick")
            sent += 1
            await asyncio.sleep(max(0, PERIOD - (time.monotonic() - started)))

    sender = asyncio.create_task(steady_notifications())
    await asyncio.sleep(2)
    killed = time.monotonic()
    fault_task = asyncio.create_task(fault())
    # In the middle of the fault: an announcement (from this process) and a
    # chat message (posted through a daphne, which publishes it).
    await asyncio.sleep(0.3)
    announcement = await sync_to_async(announce)()
    await chat[0].socket.send({"type": "message", "body": "during the failover", "client_id": "f1"})
    recovered = await fault_task
    await asyncio.sleep(3)
    stop.set()
    await sender

    expected = {
        user.pk: set(
            await sync_to_async(
                lambda u=user: list(Notification.objects.filter(recipient=u).values_list("id", flat=True))
            )()
        )
        for user in users
    }
    assert all(len(ids) == sent for ids in expected.values())
    try:
        await asyncio.gather(
            *(f.until(expected[u.pk], timeout=2 * HEARTBEAT + 3) for f, u in zip(followers, users, strict=True))
        )
    except TimeoutError:
        lacking = {
            u.username: sorted(expected[u.pk] - f.ids)[:5]
            for f, u in zip(followers, users, strict=True)
            if expected[u.pk] - f.ids
        }
        raise AssertionError(f"{len(lacking)} of {USERS} users lack ids: {lacking}") from None
    for follower, user in zip(followers, users, strict=True):
        assert follower.ids == expected[user.pk]  # nothing foreign, each id once in the list

    # Pushes resumed by themselves on both processes, within RESUME_WITHIN of
    # Redis coming back: the first live push after it, per process.
    resumed = []
    for index in range(2):
        pushes = [t for f in followers[index::2] for t in f.pushed_at.values() if t > recovered]
        assert pushes, f"no live push on process {index} after Redis was back"
        resumed.append(min(pushes) - recovered)
    assert max(resumed) < RESUME_WITHIN

    # The announcement and the chat message sent during the fault arrived:
    # their failed sends are retried REJOIN_SECONDS after Redis answers.
    async with asyncio.timeout(REJOIN_SECONDS + 5):
        while not all(announcement.pk in f.announcements for f in followers):
            await asyncio.sleep(0.05)
    for reader in chat:
        await reader.until("during the failover", timeout=REJOIN_SECONDS + 5)
    assert await sync_to_async(lambda: Room.objects.get(slug="ops").messages.count())() == 1

    # Settled: a push now arrives live on every socket, and from here on no
    # process logs an error.
    marks = [len(server.log_text()) for server in servers]
    [(_, created)] = await sync_to_async(notify.send)(actor, recipient=users, verb="settled")
    for follower, notification in zip(followers, created, strict=True):
        async with asyncio.timeout(3):
            while notification.pk not in follower.pushed_at:
                await asyncio.sleep(0.02)
    await asyncio.sleep(2 * HEARTBEAT)
    for server, mark in zip(servers, marks, strict=True):
        assert server.proc.poll() is None, "a daphne process died"
        assert error_lines(server.log_text()[mark:]) == []
        assert unexpected_tracebacks(server.log_text()) == []

    figures = {
        "notifications": sent * USERS,
        "redis back after": f"{recovered - killed:.2f} s",
        "first push after, per process": ", ".join(f"{t:.2f} s" for t in resumed),
        "duplicate receipts dropped": sum(len(f.seen) - len(f.ids) for f in followers),
    }
    for follower in followers:
        await follower.stop()
    for reader in chat:
        await reader.stop()
    return figures


def publish_announcement() -> Any:
    from notifications import services

    announcement = services.announcement_create(title="Redis is failing over")
    services.announcement_publish(announcement=announcement)
    return announcement


async def test_a_sentinel_failover_loses_nothing(daphne, sentinel_set: SentinelSet):
    env = {
        "REDIS_SENTINELS": sentinel_set.addresses,
        "REDIS_SENTINEL_MASTER": MASTER_NAME,
        "NOTIFICATIONS_HEARTBEAT_SECONDS": str(HEARTBEAT),
    }
    servers = list(await asyncio.gather(*(asyncio.to_thread(daphne, **env) for _ in range(2))))
    replica = sentinel_set.replica.port

    async def kill_the_primary() -> float:
        await asyncio.to_thread(sentinel_set.primary.stop, signal.SIGKILL)
        await asyncio.to_thread(wait_for, lambda: sentinel_set.master_port() == replica, "the promotion", 30)
        return time.monotonic()

    figures = await notifications_flow_through(servers, kill_the_primary, publish_announcement)
    print("sentinel failover:", figures)


async def test_a_shard_killed_and_restarted_empty_loses_nothing(daphne, shards: list[RedisServer]):
    from channels.layers import get_channel_layer

    from notifications.protocol import ANNOUNCEMENTS_GROUP

    # The shard that dies holds the announcements' group (and the chat
    # rooms'), so the hubs' memberships there are lost with it.
    assert get_channel_layer().consistent_hash(ANNOUNCEMENTS_GROUP) == 0
    env = {"NOTIFICATIONS_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    redis_url = ",".join(server.url for server in shards)
    servers = list(await asyncio.gather(*(asyncio.to_thread(daphne, redis_url=redis_url, **env) for _ in range(2))))

    async def kill_a_shard_and_restart_it_empty() -> float:
        await asyncio.to_thread(shards[0].stop, signal.SIGKILL)
        await asyncio.sleep(2)
        await asyncio.to_thread(shards[0].start)
        return time.monotonic()

    figures = await notifications_flow_through(servers, kill_a_shard_and_restart_it_empty, publish_announcement)
    print("shard restarted empty:", figures)
