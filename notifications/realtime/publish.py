"""Publishing events on the channel layer from sync or async code.

This is the only code that sends to the channel layer. Sends never raise: a
layer failure (Redis down) is logged and the caller's write stands, because
the database is the source of truth and clients recover by sync.

From sync code there are two cases:

- Inside a server process (a view or a ``database_sync_to_async`` call under
  daphne), a hub's event loop is running. The send is run on that loop, which
  reuses its layer connections.
- In a plain sync process (``manage.py``, a worker, WSGI), a long-lived
  sync Redis client sends from the calling thread (channels-redis), or, for
  another layer, a single long-lived publisher thread with its own event
  loop and layer instance does. ``async_to_sync(layer.group_send)`` would
  instead start a new loop, thread and Redis connection on every call.

On channels-redis with one Redis host, a group whose members are all hubs
(every group this app sends to, unless a consumer of the site's own joins
it) is sent to in one round trip either way (``redis_store``).

A send that fails because the layer cannot be reached (Redis down, or a
Sentinel failover under way) is retried in the background, in order, every
RETRY_INTERVAL for up to RETRY_SECONDS. Notifications would come back by the
heartbeat's sync anyway, but announcements, chat messages and revocations
have no such path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

from . import redis_store
from .hub import MULTICAST, MULTICAST_GROUP, WATCH_SECONDS, running_hub_loops

logger = logging.getLogger("notifications.realtime")

Event = tuple[str, dict[str, Any]]  # (group, message)

PUBLISH_TIMEOUT = 5.0
# More ready frames than this in one publish go as hub.multicast chunks of
# MULTICAST_CHUNK frames, one layer message per chunk per server process,
# instead of one group_send each.
MULTICAST_THRESHOLD = 8
MULTICAST_CHUNK = 250
# Failed sends wait this long at most for the layer to come back (a Sentinel
# failover with its default down-after-milliseconds of 30 s fits), and at
# most MAX_RETRIED of them wait at once, the oldest dropped first.
RETRY_SECONDS = 60.0
RETRY_INTERVAL = 0.5
MAX_RETRIED = 10_000
# A Redis that comes back empty (a shard restarted) has lost the hubs'
# groups until each hub notices and re-adds them, within WATCH_SECONDS: a
# retried send to a group without members waits that long for them.
REJOIN_SECONDS = 2 * WATCH_SECONDS + 1


def _layer_messages(events: Iterable[Event]) -> list[Event]:
    """The (group, message) pairs to send for ``events``: many ready frames
    go as multicast chunks, and each message names its group."""
    events = list(events)
    frames = [(group, message["frame"]) for group, message in events if "frame" in message]
    if len(frames) > MULTICAST_THRESHOLD:
        events = [(group, message) for group, message in events if "frame" not in message]
        for start in range(0, len(frames), MULTICAST_CHUNK):
            chunk = frames[start : start + MULTICAST_CHUNK]
            events.append((MULTICAST_GROUP, {"type": MULTICAST, "frames": chunk}))
    return [(group, {**message, "group": group}) for group, message in events]


def _unreachable(exc: Exception) -> bool:
    """Whether ``exc`` says the layer could not be reached, so that the same
    send may succeed later."""
    if isinstance(exc, ConnectionError | TimeoutError | OSError):
        return True
    try:
        import redis.exceptions
    except ImportError:
        return False
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


def _publish_failed(message: dict[str, Any], exc: Exception, retried: bool) -> None:
    # Expected while Redis is down; clients recover by sync.
    then = f"; retrying for up to {RETRY_SECONDS:.0f} s" if retried else ""
    logger.warning("could not publish %s to %s: %r%s", message.get("type"), message["group"], exc, then)


class _Retries:
    """Sends that failed while the layer was unreachable, oldest first, each
    with the send that failed: ``(deadline, send, group, message)``."""

    def __init__(self) -> None:
        self.pending: deque[tuple[float, Any, str, dict[str, Any]]] = deque()
        self.lock = threading.Lock()
        self.running = False
        self.expired = 0
        self.task: asyncio.Task[None] | None = None  # the retrier, on an event loop
        self.waiting: tuple[int, float] | None = None  # (id of the head, since when) without members

    def add(self, send: Any, group: str, message: dict[str, Any]) -> bool:
        """Queue a failed send; True when the caller must start the retrier."""
        with self.lock:
            if len(self.pending) >= MAX_RETRIED:
                self.pending.popleft()
                self.expired += 1
            self.pending.append((time.monotonic() + RETRY_SECONDS, send, group, message))
            start, self.running = not self.running, True
            return start

    def head(self) -> tuple[Any, str, dict[str, Any]] | None:
        """The oldest send still worth retrying; None (and the retrier
        stops) when there is none."""
        with self.lock:
            now = time.monotonic()
            while self.pending and self.pending[0][0] < now:
                self.pending.popleft()
                self.expired += 1
            if self.expired:
                logger.warning("gave up on %s events after %ss without the channel layer", self.expired, RETRY_SECONDS)
                self.expired = 0
            if not self.pending:
                self.running = False
                return None
            return self.pending[0][1:]

    def sent(self, item: tuple[Any, str, dict[str, Any]], exc: Exception | None = None) -> bool:
        """Drop ``item`` once sent, or once it failed for good (``exc``);
        False when it failed only because the layer is still unreachable."""
        if exc is not None and _unreachable(exc):
            return False
        if exc is not None:
            _publish_failed(item[2], exc, retried=False)
        with self.lock:
            if self.pending and self.pending[0][1:] == item:
                self.pending.popleft()
        return True

    def wait_for_members(self, item: tuple[Any, str, dict[str, Any]]) -> bool:
        """Whether ``item``, whose group had no members, may wait longer for
        them (REJOIN_SECONDS); if not, it is dropped as sent to nobody."""
        now = time.monotonic()
        if self.waiting is None or self.waiting[0] != id(item[2]):
            self.waiting = (id(item[2]), now)
        if now - self.waiting[1] < REJOIN_SECONDS:
            return True
        return not self.sent(item)


_loop_retries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Retries] = weakref.WeakKeyDictionary()


async def _retry(retries: _Retries) -> None:
    """Send the failed sends again, in order, until they go through or expire."""
    while (item := retries.head()) is not None:
        send, group, message = item
        try:
            joined = await send(group, message)
        except Exception as exc:
            if not retries.sent(item, exc):
                await asyncio.sleep(RETRY_INTERVAL)
            continue
        if joined is False and retries.wait_for_members(item):
            await asyncio.sleep(RETRY_INTERVAL)
            continue
        retries.sent(item)


async def _send_if_joined(layer: Any, group: str, message: dict[str, Any]) -> bool:
    """A retried send on channels-redis: False, sending nothing, while the
    group has no members (see REJOIN_SECONDS)."""
    if not await redis_store.groups_with_members(layer, [group]):
        return False
    await redis_store.group_send(layer, group, message)
    return True


def _retry_later(send: Callable[[str, dict[str, Any]], Awaitable[Any]], group: str, message: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    retries = _loop_retries.setdefault(loop, _Retries())
    if retries.add(send, group, message):
        retries.task = loop.create_task(_retry(retries), name="realtime-publish-retry")


async def apublish(events: Iterable[Event], *, alias: str = "default", layer: Any = None) -> None:
    """Send each event to its group. Logs and swallows layer failures, and
    retries the sends that failed because the layer was unreachable."""
    layer = layer or get_channel_layer(alias)
    if layer is None:
        return
    group_send = resend = layer.group_send
    if redis_store.is_channels_redis(layer):
        group_send = functools.partial(redis_store.group_send, layer)
        resend = functools.partial(_send_if_joined, layer)
    for group, message in _layer_messages(events):
        try:
            await group_send(group, message)
        except Exception as exc:
            retried = _unreachable(exc)
            _publish_failed(message, exc, retried)
            if retried:
                _retry_later(resend, group, message)


class _Publisher:
    """How a plain sync process sends: its own channel layer, and either a
    sync Redis client (channels-redis) or an event loop on a daemon thread."""

    def __init__(self, alias: str):
        self.pid = os.getpid()
        self.layer = channel_layers.make_backend(alias)
        self.sync: redis_store.SyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.retries = _Retries()
        if redis_store.is_channels_redis(self.layer):
            self.sync = redis_store.SyncClient(self.layer, timeout=PUBLISH_TIMEOUT)
        else:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, name="realtime-publisher", daemon=True).start()

    def publish(self, events: list[Event]) -> None:
        if self.sync is None:
            _wait(apublish(events, layer=self.layer), self.loop, f"publishing {len(events)} events")
            return
        for group, message in _layer_messages(events):
            try:
                self.sync.group_send(group, message)
            except Exception as exc:
                retried = _unreachable(exc)
                _publish_failed(message, exc, retried)
                if retried and self.retries.add(self.sync.group_send_if_joined, group, message):
                    threading.Thread(target=self._retry, name="realtime-publish-retry", daemon=True).start()

    def _retry(self) -> None:
        """As ``_retry``, on a thread of its own."""
        while (item := self.retries.head()) is not None:
            send, group, message = item
            try:
                joined = send(group, message)
            except Exception as exc:
                if not self.retries.sent(item, exc):
                    time.sleep(RETRY_INTERVAL)
                continue
            if joined is False and self.retries.wait_for_members(item):
                time.sleep(RETRY_INTERVAL)
                continue
            self.retries.sent(item)

    def live_groups(self, groups: list[str]) -> set[str] | None:
        if self.sync is None:
            return None  # only channels-redis can tell
        try:
            return self.sync.groups_with_members(groups)
        except Exception as exc:
            return _live_check_failed(exc)


_publishers: dict[str, _Publisher] = {}
_publishers_lock = threading.Lock()


def _publisher(alias: str) -> _Publisher:
    with _publishers_lock:
        publisher = _publishers.get(alias)
        # A forked worker inherits the dict but not the thread.
        if publisher is None or publisher.pid != os.getpid():
            publisher = _publishers[alias] = _Publisher(alias)
        return publisher


def _layer_loop(alias: str) -> tuple[asyncio.AbstractEventLoop, Any, bool] | _Publisher | None:
    """Where sync code should run a layer call: (loop, layer, may wait for
    it) in a server process, this process's publisher in a plain one, None
    when no process can receive anything."""
    layer = get_channel_layer(alias)
    if layer is None:
        return None
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    loops = running_hub_loops()
    if current is not None and current in loops:
        # Sync code on the server's own loop (only possible with
        # DJANGO_ALLOW_ASYNC_UNSAFE): waiting here would block the loop that
        # must do the work.
        return current, layer, False
    loops = [loop for loop in loops if loop is not current]
    if loops:
        return loops[-1], layer, True
    if isinstance(layer, InMemoryChannelLayer):
        # No socket is served by this process, and the in-memory layer cannot
        # reach any other: nobody can receive these events.
        return None
    return _publisher(alias)


def _wait(coroutine: Any, loop: asyncio.AbstractEventLoop, doing: str) -> Any:
    """Run ``coroutine`` on ``loop`` (another thread's) and wait for it, at
    most PUBLISH_TIMEOUT; None when it times out."""
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(timeout=PUBLISH_TIMEOUT)
    except FutureTimeout:
        future.cancel()
        logger.warning("%s timed out after %ss", doing, PUBLISH_TIMEOUT)
        return None


def publish(events: list[Event], *, alias: str = "default") -> None:
    """Send events from sync code and wait (bounded) until they are sent."""
    if not events:
        return
    target = _layer_loop(alias)
    if target is None:
        return
    if isinstance(target, _Publisher):
        target.publish(events)
        return
    loop, layer, may_wait = target
    if not may_wait:
        loop.create_task(apublish(events, layer=layer))
        return
    _wait(apublish(events, layer=layer), loop, f"publishing {len(events)} events")


async def groups_with_members(layer: Any, groups: list[str]) -> set[str] | None:
    """The groups that some server process has joined; None when the layer
    cannot tell (not channels-redis) or Redis fails."""
    if not redis_store.is_channels_redis(layer):
        return None
    try:
        return await redis_store.groups_with_members(layer, groups)
    except Exception as exc:
        return _live_check_failed(exc)


def _live_check_failed(exc: Exception) -> None:
    logger.warning("could not tell which groups have members: %r", exc)


def live_groups(groups: list[str], *, alias: str = "default") -> set[str] | None:
    """From sync code: which of ``groups`` have a member in any process, or
    None when that is unknown (then treat them all as live)."""
    target = _layer_loop(alias)
    if target is None:
        return None
    if isinstance(target, _Publisher):
        return target.live_groups(groups)
    loop, layer, may_wait = target
    if not may_wait:
        return None
    return _wait(groups_with_members(layer, groups), loop, "asking which groups have members")
