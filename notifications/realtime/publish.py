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
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

from . import redis_store
from .hub import MULTICAST, MULTICAST_GROUP, running_hub_loops

logger = logging.getLogger("notifications.realtime")

Event = tuple[str, dict[str, Any]]  # (group, message)

PUBLISH_TIMEOUT = 5.0
# More ready frames than this in one publish go as hub.multicast chunks of
# MULTICAST_CHUNK frames, one layer message per chunk per server process,
# instead of one group_send each.
MULTICAST_THRESHOLD = 8
MULTICAST_CHUNK = 250


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


def _publish_failed(message: dict[str, Any], exc: Exception) -> None:
    # Expected while Redis is down; clients recover by sync.
    logger.warning("could not publish %s to %s: %r", message.get("type"), message["group"], exc)


def process_local(layer: Any) -> bool:
    """Whether ``layer`` reaches only the sockets of this process."""
    from channels.layers import InMemoryChannelLayer

    return isinstance(layer, InMemoryChannelLayer)


async def apublish(events: Iterable[Event], *, alias: str = "default", layer: Any = None) -> None:
    """Send each event to its group. Logs and swallows layer failures."""
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
            _publish_failed(message, exc)


class _Publisher:
    """How a plain sync process sends: its own channel layer, and either a
    sync Redis client (channels-redis) or an event loop on a daemon thread."""

    def __init__(self, alias: str):
        self.pid = os.getpid()
        self.layer = channel_layers.make_backend(alias)
        self.sync: redis_store.SyncClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
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
                _publish_failed(message, exc)

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
