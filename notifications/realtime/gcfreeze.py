"""Keeps CPython's full garbage collections off long-lived objects (opt-in).

A full collection walks every object the collector tracks, and stops the
event loop while it does: at thousands of sockets a process, most of those
objects are the sockets themselves (their protocol, transport and consumer,
about a hundred objects each) and the code loaded at start-up, and none of
them is garbage. ``gc.freeze()`` moves every tracked object to a permanent
generation that collections skip. A site turns it on in its ASGI module::

    application = get_asgi_application(freeze_gc=True)

or wraps any ASGI application in :class:`FreezeLongLived`. It then

- freezes what start-up built (Django, the apps, the routes, the first
  connection's imports and pools), once, a tick after it starts serving
  (so importing the ASGI module, as ``manage.py check`` does, freezes
  nothing);
- raises the youngest generation's threshold from CPython's 700 to
  ``young_threshold`` allocations: a handshake or a frame allocates a few
  hundred objects that mostly die young, and a collection every 700
  walked the ones still alive and promoted them towards the full pass;
- freezes the sockets that opened since the last freeze, once a second
  after a quiet second (or every ``burst`` new sockets during a storm),
  after collecting the two young generations so that new garbage is freed
  first;
- thaws when sockets that were frozen open have closed: a closed socket's
  objects that hold each other are garbage only a collection frees, and
  frozen garbage is never collected. Once the sockets closed since the last
  thaw pass a quarter of those frozen (CPython's own rule for a full pass:
  at most a quarter more than what lives), it unfreezes, collects
  everything once and freezes again. That pause is a full collection's,
  and comes at the rate sockets churn, not at the rate of traffic.

It changes ``gc`` for the whole process, so nothing turns it on but the
site's ASGI module; daphne and uvicorn are both fine.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

logger = logging.getLogger("notifications.realtime")

CHECK_SECONDS = 1.0
BURST = 250
YOUNG_THRESHOLD = 10_000
THAW_RATIO = 0.25
THAW_MINIMUM = 100


class FreezeLongLived:
    """ASGI middleware that freezes start-up and long-lived sockets out of
    the garbage collector's walk (see the module docstring)."""

    def __init__(
        self,
        application: Any,
        *,
        check_seconds: float = CHECK_SECONDS,
        burst: int = BURST,
        thaw_ratio: float = THAW_RATIO,
        young_threshold: int | None = YOUNG_THRESHOLD,
    ):
        self.application = application
        self.young_threshold = young_threshold
        self.check_seconds = check_seconds
        self.burst = burst
        self.thaw_ratio = thaw_ratio
        self.opened = 0  # sockets so far
        self.closed = 0
        self.opened_at_freeze = 0
        self.opened_at_check = 0
        self.closed_at_thaw = 0
        self.frozen_sockets = 0  # frozen since the last thaw, open or not
        self.freezes = 0
        self.thaws = 0
        self._watch: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watch_loop())
        if scope["type"] != "websocket":
            return await self.application(scope, receive, send)
        self.opened += 1
        try:
            return await self.application(scope, receive, send)
        finally:
            self.closed += 1

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                self.check()
            except Exception:
                logger.exception("gc freeze check failed")

    def check(self) -> None:
        """Once a tick: freeze start-up the first time; then thaw after
        churn, or freeze the sockets that opened since the last freeze once
        they stop arriving in bursts."""
        if not self.freezes:
            if self.young_threshold:
                _, middle, old = gc.get_threshold()
                gc.set_threshold(self.young_threshold, middle, old)
            gc.collect()
            self.freeze()
            return
        closed = self.closed - self.closed_at_thaw
        if closed >= THAW_MINIMUM and closed > self.thaw_ratio * self.frozen_sockets:
            self.thaw()
            return
        new = self.opened - self.opened_at_freeze
        quiet = self.opened == self.opened_at_check
        self.opened_at_check = self.opened
        if new and (quiet or new >= self.burst):
            self.freeze()

    def freeze(self) -> None:
        gc.collect(1)
        gc.freeze()
        self.frozen_sockets += self.opened - self.opened_at_freeze
        self.opened_at_freeze = self.opened
        self.freezes += 1

    def thaw(self) -> None:
        started = time.perf_counter()
        closed = self.closed - self.closed_at_thaw
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.closed_at_thaw = self.closed
        self.opened_at_freeze = self.opened
        self.frozen_sockets = self.opened - self.closed
        self.thaws += 1
        logger.info(
            "gc: thawed after %d sockets closed, freed %d objects in %.0f ms",
            closed,
            freed,
            (time.perf_counter() - started) * 1000,
        )
