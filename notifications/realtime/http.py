"""A realtime consumer over plain HTTP, for clients whose WebSocket cannot
open (a proxy that strips ``Upgrade``, a server without the routes).

- ``event_stream``: the consumer runs as it does for a socket (hub groups,
  ``hello``, pushes, heartbeats, revocation), and each frame it sends is
  one Server-Sent Event of the response.
- ``answer``: one client frame, POSTed, handled by the consumer's own
  ``handle_<type>`` with its validation and errors; the frames it sends
  back are the response. Writes then reach every tab of the user the way
  socket writes do, through the hub.

The frames, the gap rules (resume by id, heartbeat, sync) and the errors are
the socket's. It sits in the real-time layer beside the consumer base it
drives, and imports no app.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from .consumer import RealtimeConsumer
from .frames import decode
from .socket_limit import TokenBucket

logger = logging.getLogger("notifications.realtime")

# An SSE comment, sent when the stream opens, so that proxies and browsers
# see the response start before the first frame.
OPENING = ": stream\n\n"
# How long a stream's consumer gets to leave its groups once the client is gone.
CLOSE_TIMEOUT = 5.0
_CLOSED = object()


def _scope(request: Any, user: Any, kind: str) -> dict[str, Any]:
    """The consumer's scope for ``request``, with its already resolved user."""
    return {
        "type": kind,
        "path": request.path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
        "query_string": request.META.get("QUERY_STRING", "").encode(),
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
        "user": user,
        "session": getattr(request, "session", None),
        "url_route": {"args": (), "kwargs": {}},
    }


async def event_stream(consumer_class: type[RealtimeConsumer], request: Any, user: Any) -> AsyncIterator[str]:
    """The frames a ``consumer_class`` socket of ``user`` would get, as
    ``text/event-stream`` lines, until the consumer closes or the client
    goes away."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[Any] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and message.get("text") is not None:
            outgoing.put_nowait(message["text"])
        elif message["type"] == "websocket.close":
            outgoing.put_nowait(_CLOSED)

    application = consumer_class.as_asgi()
    task = asyncio.create_task(application(_scope(request, user, "websocket"), incoming.get, send))
    task.add_done_callback(lambda _: outgoing.put_nowait(_CLOSED))
    try:
        yield OPENING
        while (text := await outgoing.get()) is not _CLOSED:
            yield f"data: {text}\n\n"
    finally:
        incoming.put_nowait({"type": "websocket.disconnect", "code": 1001})
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT)
        except Exception:
            task.cancel()
            logger.warning("an event stream's consumer did not stop; cancelled it", exc_info=True)


# One token bucket per user and consumer class for POSTed frames: the
# socket's frame rate limit, across a user's requests in this process.
_buckets: OrderedDict[tuple[str, Any], TokenBucket] = OrderedDict()
MAX_BUCKETS = 10_000


def _bucket(consumer: RealtimeConsumer, user_id: Any) -> TokenBucket:
    key = (type(consumer).__qualname__, user_id)
    bucket = _buckets.pop(key, None)
    if bucket is None:
        limits = consumer.socket_limits
        bucket = TokenBucket(limits.frames_per_second, limits.frame_burst)
    _buckets[key] = bucket
    while len(_buckets) > MAX_BUCKETS:
        _buckets.popitem(last=False)
    return bucket


async def answer(consumer_class: type[RealtimeConsumer], request: Any, user: Any, text: str) -> list[dict[str, Any]]:
    """The frames a ``consumer_class`` socket of ``user`` would send back for
    the client frame ``text``: the socket's validation, errors and rate
    limit, on a consumer that joins no group."""
    consumer = consumer_class()
    consumer.scope = _scope(request, user, "http")
    consumer.user = user
    consumer.socket_limits = consumer.limits()
    consumer.bucket = _bucket(consumer, user.pk)
    consumer.closed = False
    consumer.strikes = 0
    # receive() answers only a consumer that joined; this one's answers go
    # back in the response.
    consumer.joined_groups = ["http"]
    sent: list[str] = []

    async def capture(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and message.get("text") is not None:
            sent.append(message["text"])

    consumer.base_send = capture
    # A response has no frame size limit (a stub's whole notification, `get`).
    consumer.fits = lambda text: True  # type: ignore[method-assign]
    await consumer.receive(text_data=text)
    return [decode(frame) for frame in sent]
