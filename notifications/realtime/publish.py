"""Publishing events on the channel layer from sync or async code.

This is the only code that sends to the channel layer. Sends never raise: a
layer failure (Redis down) is logged and the caller's write stands, because
the database is the source of truth and clients recover by sync.

From sync code there are two cases:

- Inside a server process (a view or a ``database_sync_to_async`` call under
  daphne), a hub's event loop is running. The send is run on that loop, which
  reuses its layer connections.
- In a plain sync process (``manage.py``, a worker, WSGI), a single
  long-lived publisher thread with its own event loop and layer instance does
  the sends. ``async_to_sync(layer.group_send)`` would instead start a new
  loop, thread and Redis connection on every call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

from .hub import MULTICAST, MULTICAST_GROUP, running_hub_loops

logger = logging.getLogger("notifications.realtime")

Event = tuple[str, dict[str, Any]]  # (group, message)

PUBLISH_TIMEOUT = 5.0
# More ready frames than this in one publish go as hub.multicast chunks of
# MULTICAST_CHUNK frames, one layer message per chunk per server process,
# instead of one group_send each.
MULTICAST_THRESHOLD = 8
MULTICAST_CHUNK = 250


async def apublish(events: Iterable[Event], *, alias: str = "default", layer: Any = None) -> None:
    """Send each event to its group. Logs and swallows layer failures."""
    layer = layer or get_channel_layer(alias)
    if layer is None:
        return
    events = list(events)
    frames = [(group, message["frame"]) for group, message in events if "frame" in message]
    if len(frames) > MULTICAST_THRESHOLD:
        events = [(group, message) for group, message in events if "frame" not in message]
        for start in range(0, len(frames), MULTICAST_CHUNK):
            chunk = frames[start : start + MULTICAST_CHUNK]
            events.append((MULTICAST_GROUP, {"type": MULTICAST, "frames": chunk}))
    for group, message in events:
        try:
            await layer.group_send(group, {**message, "group": group})
        except Exception as exc:
            # Expected while Redis is down; clients recover by sync.
            logger.warning("could not publish %s to %s: %r", message.get("type"), group, exc)


class _Publisher:
    """An event loop on a daemon thread, with its own channel layer."""

    def __init__(self, alias: str):
        self.pid = os.getpid()
        self.layer = channel_layers.make_backend(alias)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="realtime-publisher", daemon=True)
        self.thread.start()


_publishers: dict[str, _Publisher] = {}
_publishers_lock = threading.Lock()


def _publisher(alias: str) -> _Publisher:
    with _publishers_lock:
        publisher = _publishers.get(alias)
        # A forked worker inherits the dict but not the thread.
        if publisher is None or publisher.pid != os.getpid():
            publisher = _publishers[alias] = _Publisher(alias)
        return publisher


def publish(events: list[Event], *, alias: str = "default") -> None:
    """Send events from sync code and wait (bounded) until they are sent."""
    if not events:
        return
    layer = get_channel_layer(alias)
    if layer is None:
        return
    try:
        current = asyncio.get_running_loop()
    except RuntimeError:
        current = None
    loops = running_hub_loops()
    if current is not None and current in loops:
        # Sync code on the server's own loop (only possible with
        # DJANGO_ALLOW_ASYNC_UNSAFE): waiting here would block the loop that
        # must do the send, so schedule it instead.
        current.create_task(apublish(events, layer=layer))
        return
    loops = [loop for loop in loops if loop is not current]
    if loops:
        future = asyncio.run_coroutine_threadsafe(apublish(events, layer=layer), loops[-1])
    elif isinstance(layer, InMemoryChannelLayer):
        # No socket is served by this process, and the in-memory layer cannot
        # reach any other: nobody can receive these events.
        return
    else:
        publisher = _publisher(alias)
        future = asyncio.run_coroutine_threadsafe(apublish(events, layer=publisher.layer), publisher.loop)
    try:
        future.result(timeout=PUBLISH_TIMEOUT)
    except FutureTimeout:
        future.cancel()
        logger.warning("publishing %d events timed out after %ss", len(events), PUBLISH_TIMEOUT)
