"""Redis stopped for 5 seconds in the middle of a burst: every write
commits, every HTTP request succeeds, and every user ends up with every one
of their ids exactly once, with no daphne restarted."""

import asyncio
import time
import urllib.request

import pytest
from channels.db import database_sync_to_async as sync_to_async

from notifications.models import Notification
from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import CHANNELS_REDIS_OUTAGE_NOISE, connect, eventually, unexpected_tracebacks
from tests.system.reliability.follower import Follower

pytestmark = [pytest.mark.daphne, pytest.mark.redis]

USERS = 100
ROUNDS = 10  # one notification per user per round: 1,000 in all
HEARTBEAT = 1


async def test_redis_stopped_for_5_seconds_during_a_burst(daphne, own_redis):
    actor = await sync_to_async(factories.user)("actor")
    users = [await sync_to_async(factories.user)(f"user{i:03}") for i in range(USERS)]
    cookies = [await sync_to_async(session_cookie)(user) for user in users]
    servers = await asyncio.gather(
        *(
            asyncio.to_thread(daphne, redis_url=own_redis.url, NOTIFICATIONS_HEARTBEAT_SECONDS=str(HEARTBEAT))
            for _ in range(2)
        )
    )
    followers = []
    for i, cookie in enumerate(cookies):
        socket = await connect(servers[i % 2], cookie=cookie)
        followers.append(Follower(socket).start())
    await eventually(lambda: all(f.frames.get("hello") == 1 for f in followers), timeout=10, what="every hello")

    http_failures = []
    http_ok = 0
    stop_http = asyncio.Event()

    def get(url, cookie):
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status

    async def http_traffic():
        nonlocal http_ok
        i = 0
        while not stop_http.is_set():
            server = servers[i % 2]
            try:
                status = await asyncio.to_thread(
                    get, server.url + "/notifications/api/unread_count/", cookies[i % USERS]
                )
                http_ok += status == 200
                if status != 200:
                    http_failures.append(status)
            except Exception as exc:
                http_failures.append(repr(exc))
            i += 1
            await asyncio.sleep(0.05)

    outage = {}

    async def stop_redis_for_5_seconds():
        await asyncio.sleep(2)
        outage["start"] = time.monotonic()
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(5)
        await asyncio.to_thread(own_redis.start)
        outage["end"] = time.monotonic()

    traffic = asyncio.create_task(http_traffic())
    fault = asyncio.create_task(stop_redis_for_5_seconds())
    for _ in range(ROUNDS):
        # One bulk send per round; the push after commit fails while Redis is down.
        await sync_to_async(notify.send)(actor, recipient=users, verb="burst")
        await asyncio.sleep(0.8)
    await fault
    burst_end = time.monotonic()
    assert outage["start"] < outage["end"]

    # Every write committed.
    expected = {
        user.pk: set(ids)
        for user in users
        if (
            ids := await sync_to_async(
                lambda u=user: list(Notification.objects.filter(recipient=u).values_list("id", flat=True))
            )()
        )
    }
    assert sum(len(ids) for ids in expected.values()) == USERS * ROUNDS

    # Within two heartbeats (plus 1 s of slack) of the last write, which
    # comes after Redis has returned, every user has each of their ids.
    try:
        await asyncio.gather(
            *(f.until(expected[user.pk], timeout=2 * HEARTBEAT + 1) for f, user in zip(followers, users, strict=True))
        )
    except TimeoutError:
        lacking = {
            user.username: (len(expected[user.pk] - f.ids), f.frames, f.close_code)
            for f, user in zip(followers, users, strict=True)
            if expected[user.pk] - f.ids
        }
        raise AssertionError(f"{len(lacking)} users lack ids: {dict(list(lacking.items())[:5])}") from None
    complete = time.monotonic()
    after_burst, after_redis = complete - burst_end, complete - outage["end"]
    # Exactly once: each user's list holds each id once and nothing else, and
    # no live push arrived twice (a sync may repeat ids the client has; it
    # drops them by id, as client.js does).
    for follower, user in zip(followers, users, strict=True):
        assert sorted(follower.shown()) == sorted(expected[user.pk])
        assert len(follower.pushed) == len(set(follower.pushed)), user.username

    # No daphne restarted: a push after the outage arrives live, through
    # Redis, on both processes (not only through a heartbeat's sync). Until
    # the hubs have reconnected a push may be missed (a heartbeat's sync
    # recovers it), so push until one arrives live.
    live_before = [f.frames.get("notification", 0) for f in followers[:2]]

    async def pushed_live() -> bool:
        await sync_to_async(notify.send)(actor, recipient=users[:2], verb="after")
        try:
            await eventually(
                lambda: all(
                    f.frames.get("notification", 0) > n for f, n in zip(followers[:2], live_before, strict=True)
                ),
                timeout=1,
            )
        except AssertionError:
            return False
        return True

    deadline = time.monotonic() + 15
    while not await pushed_live():
        assert time.monotonic() < deadline, "no live push reached both processes within 15 s of the outage"

    stop_http.set()
    await traffic
    assert http_failures == [] and http_ok > 50
    for server in servers:
        assert server.proc.poll() is None
        assert unexpected_tracebacks(server.log_text(), CHANNELS_REDIS_OUTAGE_NOISE) == []
    print(
        f"every user had every id {after_burst:.2f} s after the last write ({after_redis:.2f} s after Redis "
        f"returned); {http_ok} HTTP requests, none failed; "
        f"ids a sync repeated and the clients dropped: {sum(len(f.seen) - len(f.ids) for f in followers)}"
    )
    for follower in followers:
        await follower.stop()
