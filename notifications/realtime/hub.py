"""The per-process fan-out hub.

The Channels tutorial puts every socket in a channel-layer group, so one
broadcast costs one layer message and one consumer dispatch per socket. The
hub instead subscribes once per group for the whole process (one event loop),
and when an event arrives it encodes the frame once and writes it to every
local socket in that group. docs/benchmarks.md has the measurements.

Events published to a group are plain channel-layer messages carrying the
``group`` they were sent to and either a ready ``frame`` (sent as-is to every
member) or a ``type`` that names a member method, as in Channels:
``"realtime.revoke"`` calls ``member.realtime_revoke(event)``.

Many frames for many groups at once (``notify.send`` to a list of 10,000
users) travel as a few ``hub.multicast`` messages to MULTICAST_GROUP, which
every hub joins: each carries up to a few hundred (group, frame) pairs, and
each hub writes the frames whose group has local members. That is one layer
message per chunk per process instead of one group_send per recipient. An app
can also send MULTICAST_GROUP an event of its own type, which each hub hands
to the handler the app registered with ``Hub.on``: notifications sends a bulk
send's rows that way, and each hub builds the frames of its own recipients.

Part of the real-time layer (docs/architecture.md): it imports the wire and
the Redis helpers, and the apps' ``jobs`` modules give it its tickers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from . import redis_store
from .frames import encode
from .wire import MULTICAST, MULTICAST_GROUP, WATCH_SECONDS

logger = logging.getLogger("notifications.realtime")

# Layer operations in flight at once per hub. A connect storm would otherwise
# open one Redis connection per connecting socket and exhaust the pool.
MAX_CONCURRENT_LAYER_OPS = 64
# How often the hub re-adds its groups. channels-redis forgets a group member
# after group_expiry, and a Redis restarted empty forgets all of them.
DEFAULT_REFRESH_SECONDS = 60.0
# Every WATCH_SECONDS (wire.py) a hub on channels-redis checks that no Redis
# host of the layer lost its data: a shard restarted empty drops the hub's
# groups there while the hub's own inbox, on another shard, never notices. A
# marker key per host that outlives a few checks tells.
MARKER_TTL = 10
# The longest wait between attempts to reach a channel layer that is down.
# Short, so pushes resume within about a second of Redis coming back; an
# attempt against a stopped Redis is one refused connection.
MAX_RETRY_SECONDS = 1.0


class Member(Protocol):
    async def send_encoded(self, text: str) -> None: ...


Ticker = Callable[["Hub"], Awaitable[None]]
Handler = Callable[["Hub", dict[str, Any]], Awaitable[None]]
Frames = Iterable[tuple[str, dict[str, Any]]]  # (group, frame) pairs

# Sent by close() to the hub's own channel.
STOP = "hub.stop"
WRITES_BETWEEN_YIELDS = 16


class Hub:
    """Group membership and fan-out for the sockets of one event loop."""

    def __init__(self, layer: Any, refresh_seconds: float = DEFAULT_REFRESH_SECONDS):
        self.layer = layer
        self.channel_name = ""
        self._receive: Callable[[], Awaitable[dict[str, Any]]]  # set by start()
        self.members: dict[str, set[Member]] = defaultdict(set)
        # Re-add well inside the layer's group_expiry, or channels-redis
        # stops delivering to sockets older than it.
        group_expiry = getattr(layer, "group_expiry", None)
        if isinstance(group_expiry, int | float) and group_expiry > 0:
            refresh_seconds = min(refresh_seconds, group_expiry / 3)
        self.refresh_seconds = refresh_seconds
        self._registered: set[str] = set()
        self._adding: dict[str, asyncio.Future[None]] = {}
        self._to_add: list[str] = []
        self._discarding: dict[str, asyncio.Future[None]] = {}
        self._refreshing = asyncio.Lock()
        self._adder: asyncio.Future[None] | None = None
        # Held around every layer operation the hub or its sockets make.
        self.ops = asyncio.Semaphore(MAX_CONCURRENT_LAYER_OPS)
        self._tasks: list[asyncio.Task[None]] = []
        self._tickers: dict[str, asyncio.Task[None]] = {}
        self._handlers: dict[str, Handler] = {}
        self.loop = asyncio.get_running_loop()

    async def start(self) -> None:
        if redis_store.is_channels_redis(self.layer):
            self.channel_name = redis_store.hub_channel()
            self._receive = redis_store.Inbox(self.layer, self.channel_name).receive
        else:
            # The layer's own receive, on a channel of the default prefix: a
            # layer like channels-redis serves one inbox per prefix under one
            # lock, so another prefix would wait behind its consumers' pops.
            self.channel_name = await self.layer.new_channel()
            self._receive = functools.partial(self.layer.receive, self.channel_name)
        self._tasks.append(asyncio.create_task(self._receive_loop(), name="hub-receive"))
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="hub-refresh"))
        if redis_store.is_channels_redis(self.layer):
            self._tasks.append(asyncio.create_task(self._watch_loop(), name="hub-watch"))

    async def close(self, timeout: float = 7.0) -> None:
        """Stop the hub. The receive loop is asked to stop through its own
        channel instead of being cancelled: cancelling redis-py in the middle
        of the blocking pop can leave the task hanging in its disconnect."""
        receiver, *others = self._tasks or [None]
        for task in [*others, *self._tickers.values()]:
            task.cancel()
        self._tasks.clear()
        self._tickers.clear()
        if receiver is None or receiver.done():
            return
        try:
            await self.layer.send(self.channel_name, {"type": STOP})
            await asyncio.wait_for(asyncio.shield(receiver), timeout)
        except Exception:
            logger.warning("hub receive loop did not stop; cancelling it", exc_info=True)
            receiver.cancel()

    # Membership -------------------------------------------------------------

    async def join(self, group: str, member: Member) -> None:
        """Add a local member; returns once the process is subscribed to the
        group and to MULTICAST_GROUP."""
        self.members[group].add(member)
        await self._subscribe(MULTICAST_GROUP)
        await self._subscribe(group)

    async def _subscribe(self, group: str) -> None:
        """Returns once the process is subscribed to ``group``. Groups asked
        for while an add runs go to the layer together in the next one: in a
        connect storm, one script call for the handshakes that waited, not a
        round trip each."""
        while (discarding := self._discarding.get(group)) is not None:
            # An add sent while the refresh's discard of this group is in
            # flight can reach Redis first, and the discard then drops it.
            await asyncio.shield(discarding)
        if group in self._registered:
            return
        pending = self._adding.get(group)
        if pending is None:
            pending = self._adding[group] = self.loop.create_future()
            self._to_add.append(group)
            if self._adder is None:
                self._adder = asyncio.ensure_future(self._add_waiting())
        await asyncio.shield(pending)

    async def _add_waiting(self) -> None:
        try:
            while self._to_add:
                groups, self._to_add = self._to_add, []
                try:
                    failed = await self._add_groups(groups)
                except asyncio.CancelledError:
                    for group in [*groups, *self._to_add]:
                        self._adding.pop(group).cancel()
                    self._to_add = []
                    raise
                for group in groups:
                    future = self._adding.pop(group)
                    exc = failed.get(group)
                    if exc is None:
                        future.set_result(None)
                    else:
                        future.set_exception(exc)
                        future.add_done_callback(lambda f: f.exception())  # retrieved: each joiner raises it
        finally:
            self._adder = None

    async def _add_groups(self, groups: list[str]) -> dict[str, Exception]:
        """Add ``groups`` to the layer: the exception of each that failed.
        On channels-redis one script call adds them all, or fails them all."""
        if redis_store.is_channels_redis(self.layer):
            try:
                await self._group_add_many(groups)
            except Exception as exc:
                return dict.fromkeys(groups, exc)
            return {}
        failed: dict[str, Exception] = {}
        for group in groups:
            try:
                await self._group_add(group)
            except Exception as exc:
                failed[group] = exc
        return failed

    def leave(self, group: str, member: Member) -> None:
        """Remove a local member. The layer subscription is dropped lazily by
        the refresh loop, so a quick leave-then-join never races a discard."""
        members = self.members.get(group)
        if members is not None:
            members.discard(member)
            if not members:
                del self.members[group]

    def local_members(self, group: str) -> set[Member]:
        return self.members.get(group, set())

    async def _group_add(self, group: str) -> None:
        async with self.ops:
            await self.layer.group_add(group, self.channel_name)
        self._registered.add(group)

    async def _refresh(self) -> None:
        # The refresh loop, the watch and the receive loop's recovery all
        # call this: one at a time, so that no re-add overtakes a discard.
        async with self._refreshing:
            await self._refresh_once()

    async def _refresh_once(self) -> None:
        stale = self._registered - self.members.keys() - {MULTICAST_GROUP}
        self._registered -= stale
        discarding = {group: self.loop.create_future() for group in stale}
        self._discarding.update(discarding)
        try:
            for group, done in discarding.items():
                async with self.ops:
                    await self.layer.group_discard(group, self.channel_name)
                # Released group by group: a join waits for its own group only.
                del self._discarding[group]
                done.set_result(None)
        finally:
            for group, done in discarding.items():
                if not done.done():
                    del self._discarding[group]
                    done.set_result(None)
        groups = [MULTICAST_GROUP, *self.members] if self.members else []
        if redis_store.is_channels_redis(self.layer):
            await self._group_add_many(groups)
            return
        for group in groups:
            await self._group_add(group)

    async def _group_add_many(self, groups: list[str]) -> None:
        """channels-redis's group_add for each group, in one script call per
        slice of groups and Redis host."""
        async with self.ops:
            await redis_store.group_add_many(self.layer, groups, self.channel_name)
        self._registered.update(groups)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self._refresh()
            except Exception as exc:
                logger.warning("hub could not refresh its groups: %r", exc)

    async def _watch_loop(self) -> None:
        """Re-add the groups when a Redis host has lost them (``WATCH_SECONDS``)."""
        marker = f"{self.layer.prefix}{self.channel_name}alive"
        marked = False
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                lost = await redis_store.hosts_lost(self.layer, marker, MARKER_TTL)
                if not lost:
                    continue
                if marked:
                    logger.warning("Redis host %s lost its data; re-adding this process's groups", lost)
                await self._refresh()
                await redis_store.hosts_mark(self.layer, marker, MARKER_TTL, lost)
                marked = True
            except Exception as exc:
                # The receive loop reports an unreachable Redis.
                logger.debug("hub could not check its Redis hosts: %r", exc)

    # Periodic work ------------------------------------------------------------

    def every(self, key: str, seconds: float, ticker: Ticker, *, at_once: bool = False) -> None:
        """Run ``ticker(hub)`` every ``seconds`` while the hub lives (once per
        key), the first time at once or after ``seconds``. A ticker that runs
        until it fails (a listener) is thus restarted ``seconds`` later."""
        if key in self._tickers:
            return

        async def run() -> None:
            wait = 0.0 if at_once else seconds
            while True:
                await asyncio.sleep(wait)
                wait = seconds
                try:
                    await ticker(self)
                except Exception:
                    logger.exception("hub ticker %s failed", key)

        self._tickers[key] = asyncio.create_task(run(), name=f"hub-{key}")

    def on(self, event_type: str, handler: Handler) -> None:
        """Run ``handler(hub, message)`` for each event of ``event_type`` this
        hub receives, such as one sent to MULTICAST_GROUP (once per type)."""
        self._handlers.setdefault(event_type, handler)

    # Receiving ------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self._receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis stopped or restarted. Its group memberships may be gone,
                # so re-add them all once it answers; pushes missed meanwhile
                # are recovered by the clients' heartbeat sync. An outage is
                # expected, so it is logged in one line, not as a traceback.
                logger.warning("hub receive failed (%r); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_RETRY_SECONDS)
                try:
                    self._registered.clear()
                    await self._refresh()
                    backoff = 0.1
                except Exception:
                    logger.info("channel layer still unavailable")
                continue
            if message.get("type") == STOP:
                return
            await self.dispatch(message)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Deliver one event to the local members of its group."""
        event_type = message.get("type")
        if event_type == MULTICAST:
            await self.write_frames(message.get("frames", ()))
            return
        handler = self._handlers.get(event_type)
        if handler is not None:
            try:
                await handler(self, message)
            except Exception:
                logger.exception("hub handler of %s failed", event_type)
            return
        members = self.members.get(message.get("group", ""))
        if not members:
            return
        frame = message.get("frame")
        if frame is not None:
            await self._write(members, frame)
            return
        handler_name = str(message.get("type", "")).replace(".", "_")
        for member in tuple(members):
            handler = getattr(member, handler_name, None)
            if handler is None:
                logger.warning("no handler %s on %r", handler_name, member)
                continue
            try:
                await handler(message)
            except Exception:
                logger.exception("hub handler %s failed", handler_name)

    async def write_frames(self, frames: Frames) -> None:
        """Write each (group, frame) pair to that group's local members."""
        for index, (group, frame) in enumerate(frames):
            members = self.members.get(group)
            if not members:
                continue
            if index % WRITES_BETWEEN_YIELDS == 0:
                # A write does not suspend. Let the loop flush sockets and
                # serve other events between writes: else a chunk of frames
                # for one user lands in its send buffer at once and can trip
                # the backlog cutoff, and a heartbeat round of thousands of
                # users holds pushes up (bench/personal.py).
                await asyncio.sleep(0)
            await self._write(members, frame)

    async def _write(self, members: set[Member], frame: dict[str, Any]) -> None:
        """Encode once, write to each member."""
        text = encode(frame)
        for member in tuple(members):
            try:
                await member.send_encoded(text)
            except Exception:
                logger.exception("hub could not write to a socket")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[Hub]] = weakref.WeakKeyDictionary()


async def get_hub() -> Hub:
    """The hub of the running event loop, started on first use, on the
    default channel layer (one hub per loop, so one layer)."""
    loop = asyncio.get_running_loop()
    future = _hubs.get(loop)
    if future is None:
        future = loop.create_future()
        _hubs[loop] = future
        try:
            layer = get_channel_layer()
            if layer is None:
                raise RuntimeError("No channel layer is configured: set CHANNEL_LAYERS to push live.")
            hub = Hub(layer)
            await hub.start()
        except BaseException as exc:
            del _hubs[loop]
            future.set_exception(exc)
            future.exception()  # mark retrieved; the caller gets the raise below
            raise
        future.set_result(hub)
    return await asyncio.shield(future)


async def close_hub() -> None:
    """Stop and forget the running loop's hub, if it has one."""
    future = _hubs.pop(asyncio.get_running_loop(), None)
    if future is not None and future.done() and not future.cancelled() and future.exception() is None:
        await future.result().close()


def running_hub_loops() -> list[asyncio.AbstractEventLoop]:
    """Event loops in this process that have a started hub and still run."""
    return [
        loop
        for loop, future in list(_hubs.items())
        if future.done() and not future.cancelled() and future.exception() is None and loop.is_running()
    ]
