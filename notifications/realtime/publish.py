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
it) is sent to in one round trip either way (``channels_redis_copy``).

A send that fails because the layer cannot be reached (Redis down, or a
Sentinel failover under way) is retried in the background, in order, for up
to RETRY_SECONDS, starting REJOIN_SECONDS after the layer answers again. Notifications come back by the heartbeat's
sync and are not retried (``retry=False``); announcements, chat messages and
revocations have no such path.
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

import redis.exceptions
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

from . import redis_store
from .wire import MULTICAST, MULTICAST_GROUP, WATCH_SECONDS

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
# groups until each hub notices and re-adds them, within WATCH_SECONDS (or
# its receive loop's retry, at most a second): retried sends wait this long
# after the layer answers again.
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
    return isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError)


def _publish_failed(message: dict[str, Any], exc: Exception, retried: bool) -> None:
    # Expected while Redis is down; clients recover by sync.
    then = f"; retrying for up to {RETRY_SECONDS:.0f} s" if retried else ""
    logger.warning("could not publish %s to %s: %r%s", message.get("type"), message["group"], exc, then)


class _Retries:
    """Sends that failed while the layer was unreachable, oldest first:
    ``(deadline, send, group, message)``, and what a retrier does next.

    Once ``probe()`` (one round trip to every Redis host) answers again, the
    retrier waits REJOIN_SECONDS before it resends anything, so that every
    hub has re-added its groups on a Redis that came back empty: a group
    that only some hubs had re-added would reach only their sockets.
    """

    def __init__(self, probe: Callable[[], Any]) -> None:
        self.probe = probe
        self.pending: deque[tuple[float, Any, str, dict[str, Any]]] = deque()
        self.lock = threading.Lock()
        self.running = False
        self.expired = 0
        self.task: asyncio.Task[None] | None = None  # the retrier, on an event loop
        self.back_at: float | None = None  # when the layer answered again
        self.sending: tuple[Any, str, dict[str, Any]] | None = None

    def add(self, send: Any, group: str, message: dict[str, Any]) -> bool:
        """Queue a failed send; True when the caller must start a retrier."""
        with self.lock:
            if len(self.pending) >= MAX_RETRIED:
                self.pending.popleft()
                self.expired += 1
            self.pending.append((time.monotonic() + RETRY_SECONDS, send, group, message))
            start, self.running = not self.running, True
            if start:
                self.back_at = None
            return start

    def step(self) -> Callable[[], Any] | float | None:
        """What the retrier does next: call this (a probe or a send, then
        ``done``), wait this many seconds, or stop (None: nothing left)."""
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
            self.sending = None
            if self.back_at is None:
                return self.probe
            if now < self.back_at + REJOIN_SECONDS:
                return self.back_at + REJOIN_SECONDS - now
            self.sending = send, group, message = self.pending[0][1:]
            return functools.partial(send, group, message)

    def done(self, exc: Exception | None = None) -> float:
        """Book the outcome of the last call ``step`` gave; how long to wait
        before the next step."""
        if exc is not None and _unreachable(exc):
            self.back_at = None
            return RETRY_INTERVAL
        if self.sending is None:  # the probe
            if exc is not None:
                logger.warning("could not reach the channel layer: %r", exc)
                return RETRY_INTERVAL
            self.back_at = time.monotonic()
            return 0
        if exc is not None:
            _publish_failed(self.sending[2], exc, retried=False)
        with self.lock:
            if self.pending and self.pending[0][1:] == self.sending:
                self.pending.popleft()
        return 0


_layer_retries: weakref.WeakKeyDictionary[Any, _Retries] = weakref.WeakKeyDictionary()


async def _retry(retries: _Retries) -> None:
    """Send the failed sends again, in order, until they go through or expire."""
    while (step := retries.step()) is not None:
        if not callable(step):
            await asyncio.sleep(step)
            continue
        try:
            await step()
            pause = retries.done()
        except Exception as exc:
            pause = retries.done(exc)
        await asyncio.sleep(pause)


def process_local(layer: Any) -> bool:
    """Whether ``layer`` reaches only the sockets of this process."""
    return isinstance(layer, InMemoryChannelLayer)


async def _reach(layer: Any) -> None:
    """One round trip to each Redis host of a channels-redis layer."""
    if redis_store.is_channels_redis(layer):
        for index in range(len(layer.hosts)):
            await layer.connection(index).ping()


def _retry_later(
    layer: Any, send: Callable[[str, dict[str, Any]], Awaitable[Any]], group: str, message: dict[str, Any]
) -> None:
    retries = _layer_retries.get(layer)
    if retries is None:
        retries = _layer_retries[layer] = _Retries(functools.partial(_reach, layer))
    if retries.add(send, group, message):
        retries.task = asyncio.get_running_loop().create_task(_retry(retries), name="realtime-publish-retry")


async def apublish(events: Iterable[Event], *, alias: str = "default", layer: Any = None, retry: bool = True) -> None:
    """Send each event to its group. Logs and swallows layer failures, and
    retries the sends that failed because the layer was unreachable, unless
    ``retry`` is False: for events that clients recover another way (a
    notification, by the heartbeat's sync) or that are stale when late
    (typing)."""
    layer = layer or get_channel_layer(alias)
    if layer is None:
        return
    group_send = layer.group_send
    if redis_store.is_channels_redis(layer):
        group_send = functools.partial(redis_store.group_send, layer)
    for group, message in _layer_messages(events):
        try:
            await group_send(group, message)
        except Exception as exc:
            retried = retry and _unreachable(exc)
            _publish_failed(message, exc, retried)
            if retried:
                _retry_later(layer, group_send, group, message)


class _Publisher:
    """How a plain sync process sends: its own channel layer, and either a
    sync Redis client (channels-redis) or an event loop on a daemon thread."""

    def __init__(self, alias: str):
        self.pid = os.getpid()
        self.layer = channel_layers.make_backend(alias)
        self.sync: redis_store.SyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.retries = _Retries(self._reach)
        if redis_store.is_channels_redis(self.layer):
            self.sync = redis_store.SyncClient(self.layer, timeout=PUBLISH_TIMEOUT)
        else:
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, name="realtime-publisher", daemon=True).start()

    def publish(self, events: list[Event], retry: bool) -> None:
        if self.sync is None:
            _wait(apublish(events, layer=self.layer, retry=retry), self.loop, f"publishing {len(events)} events")
            return
        for group, message in _layer_messages(events):
            try:
                self.sync.group_send(group, message)
            except Exception as exc:
                retried = retry and _unreachable(exc)
                _publish_failed(message, exc, retried)
                if retried and self.retries.add(self.sync.group_send, group, message):
                    threading.Thread(target=self._retry, name="realtime-publish-retry", daemon=True).start()

    def _reach(self) -> None:
        for client in self.sync.clients if self.sync else ():
            client.ping()

    def _retry(self) -> None:
        """As ``_retry``, on a thread of its own."""
        while (step := self.retries.step()) is not None:
            if not callable(step):
                time.sleep(step)
                continue
            try:
                step()
                pause = self.retries.done()
            except Exception as exc:
                pause = self.retries.done(exc)
            time.sleep(pause)

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
    # Imported here: publishing code (services, delivery) loads without the
    # hub, and a process whose hub module was never imported has no hub.
    from .hub import running_hub_loops

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


def publish(events: list[Event], *, alias: str = "default", retry: bool = True) -> None:
    """Send events from sync code and wait (bounded) until they are sent;
    ``retry`` as in ``apublish``."""
    if not events:
        return
    target = _layer_loop(alias)
    if target is None:
        return
    if isinstance(target, _Publisher):
        target.publish(events, retry)
        return
    loop, layer, may_wait = target
    if not may_wait:
        loop.create_task(apublish(events, layer=layer, retry=retry))
        return
    _wait(apublish(events, layer=layer, retry=retry), loop, f"publishing {len(events)} events")


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
