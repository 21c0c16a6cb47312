"""Calls to the database thread that wait together go together.

A server process has one database thread (Channels' ``database_sync_to_async``
is thread-sensitive). In a connect storm each handshake's lookups queue for it,
one trip each. ``Batched`` instead takes every call that waits while a trip
runs into the next trip, as one list, so a function that answers for many
items with a fixed number of queries answers a storm's handshakes with a few.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from channels.db import database_sync_to_async

Item = TypeVar("Item")

# Items per trip: a query's parameters stay well under any database's limit.
MAX_BATCH = 500


class Batched(Generic[Item]):
    """``await batched(item)`` is ``function([item, ...])``'s answer for
    ``item``. ``function`` runs on the database thread with the items that
    waited together and returns one result per item, in order; a result
    that is an exception is raised to that item's caller alone. If
    ``function`` raises, every caller of that trip gets the exception."""

    def __init__(self, function: Callable[[list[Item]], list[Any]], *, max_batch: int = MAX_BATCH):
        self.function = function
        self.max_batch = max_batch
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()

    async def __call__(self, item: Item) -> Any:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue(self)
        return await queue.put(item)


class _Queue:
    """The callers of one event loop waiting for a trip."""

    def __init__(self, batched: Batched[Any]) -> None:
        self.batched = batched
        self.waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        self.task: asyncio.Task[None] | None = None

    async def put(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if self.task is None:
            self.task = asyncio.ensure_future(self._run())
        return await future

    async def _run(self) -> None:
        size = self.batched.max_batch
        try:
            while self.waiting:
                batch, self.waiting = self.waiting[:size], self.waiting[size:]
                try:
                    found = await database_sync_to_async(self.batched.function)([item for item, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch + self.waiting:
                        future.cancel()
                    self.waiting = []
                    raise
                except Exception as exc:
                    found = [exc] * len(batch)
                for (_, future), result in zip(batch, found, strict=True):
                    if future.done():  # the caller went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.task = None
