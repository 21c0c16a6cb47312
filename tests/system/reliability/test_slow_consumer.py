"""A client that stops reading while thousands of frames are due: daphne
drops it once its unsent backlog passes REALTIME_SEND_BACKLOG_BYTES, so the
server's memory stays bounded; other clients are unaffected; and after
reconnecting, the client gets everything by sync."""

import asyncio
import json
import socket as sockets

import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async

from notifications.models import Notification
from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import connect, eventually
from tests.system.reliability.follower import Follower

pytestmark = [pytest.mark.daphne, pytest.mark.redis]

FRAMES = 5_000
BACKLOG = 1024 * 1024


async def stalled_socket(server, cookie):
    """A WebSocket whose client never reads, with small kernel buffers so the
    backlog builds up in the server rather than in the kernel."""
    raw = sockets.socket()
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", server.port))
    raw.setblocking(False)
    return await websockets.connect(
        server.ws_url + "/ws/notifications/",
        sock=raw,
        additional_headers={"Origin": server.url, "Cookie": cookie},
        max_queue=1,
    )


async def test_a_client_that_stops_reading_is_cut_off_and_recovers_by_sync(daphne, redis_layer):
    actor = await sync_to_async(factories.user)("actor")
    slow, other = await sync_to_async(factories.user)("slow"), await sync_to_async(factories.user)("other")
    slow_cookie = await sync_to_async(session_cookie)(slow)
    server = await asyncio.to_thread(
        daphne, redis_url=redis_layer, TEST_SEND_BACKLOG_BYTES=str(BACKLOG), NOTIFICATIONS_HEARTBEAT_SECONDS="300"
    )
    stalled = await stalled_socket(server, slow_cookie)
    assert json.loads(await stalled.recv())["type"] == "hello"  # then it stops reading
    bystander = Follower(await connect(server, cookie=await sync_to_async(session_cookie)(other))).start()
    await eventually(lambda: bystander.frames.get("hello") == 1, timeout=5, what="the bystander's hello")

    # 5,000 frames of about 1.2 KB each are due to the stalled client, and as
    # many to the bystander.
    text = "x" * 1000
    for _ in range(FRAMES // 500):
        await sync_to_async(notify.send)(actor, recipient=[slow] * 500, verb="bulk", description=text)
        await sync_to_async(notify.send)(actor, recipient=[other] * 500, verb="bulk", description=text)
    expected_other = set(
        await sync_to_async(lambda: list(Notification.objects.filter(recipient=other).values_list("id", flat=True)))()
    )
    expected_slow = set(
        await sync_to_async(lambda: list(Notification.objects.filter(recipient=slow).values_list("id", flat=True)))()
    )
    assert len(expected_slow) == len(expected_other) == FRAMES

    await bystander.until(expected_other, timeout=30)
    # The server dropped it past the backlog limit rather than buffer 6 MB
    # (what that saves in memory: bench/abuse.py).
    log = server.log_text()
    assert "stopped reading" in log, log[-2000:]

    # The stalled client finds its connection dropped (TCP abort: 1006).
    with pytest.raises(websockets.ConnectionClosed):
        async with asyncio.timeout(10):
            async for _ in stalled:
                pass
    assert stalled.close_code in (None, 1006)

    # Reconnecting, it pages through sync and gets every id.
    again = Follower(await connect(server, cookie=slow_cookie))
    again.cursor = 0  # as if it had seen nothing of the burst
    again.start()
    # 5,000 notifications of 1.2 KB are about 420 sync pages of 16 KiB; the
    # client frame limit (20 per second) alone makes that 21 s.
    await again.until(expected_slow, timeout=90)
    assert again.ids == expected_slow
    print(f"resync took {again.frames.get('sync')} pages")
    await again.stop()
    await bystander.stop()
    assert "Traceback" not in server.log_text()


async def test_a_client_that_pauses_reading_gets_every_frame_once_and_in_order(daphne, redis_layer):
    """daphne sends a frame at once when nothing is queued for the socket and
    leaves the rest to Twisted's buffer (daphne_compat.write_through): a
    client that pauses, so the kernel cannot take everything at once, still
    gets each frame once, none overtaking the ones queued before it."""
    actor, user = await sync_to_async(factories.user)("actor"), await sync_to_async(factories.user)("paused")
    server = await asyncio.to_thread(
        daphne, redis_url=redis_layer, TEST_SEND_BACKLOG_BYTES=str(16 * BACKLOG), NOTIFICATIONS_HEARTBEAT_SECONDS="300"
    )
    paused = await stalled_socket(server, await sync_to_async(session_cookie)(user))
    assert json.loads(await paused.recv())["type"] == "hello"  # then it pauses

    # About 6 MB: more than the kernel's buffers hold (up to 4 MB on
    # loopback), less than this server's send-backlog limit.
    for _ in range(FRAMES // 500):
        await sync_to_async(notify.send)(actor, recipient=[user] * 500, verb="bulk", description="x" * 1000)
    expected = await sync_to_async(
        lambda: list(Notification.objects.filter(recipient=user).order_by("id").values_list("id", flat=True))
    )()
    await asyncio.sleep(1)  # the client is not reading yet

    received = []
    async with asyncio.timeout(30):
        while len(received) < len(expected):
            frame = json.loads(await paused.recv())
            assert frame["type"] in ("hello", "notification"), frame
            if frame["type"] == "notification":
                received.append(frame["notification"]["id"])
    assert received == expected
    await paused.close()
    assert "stopped reading" not in server.log_text()
    assert "Traceback" not in server.log_text()
