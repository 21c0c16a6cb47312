"""A realtime consumer over plain HTTP, for clients whose WebSocket cannot
open (a proxy that strips ``Upgrade``, a server without the routes).

- ``EventStreams``: an ASGI application that runs the consumer as it runs
  for a socket (hub groups, ``hello``, pushes, heartbeats, revocation), its
  frames each one Server-Sent Event of the response; the package's
  ``get_asgi_application`` routes the events URL to it, ahead of Django.
- ``event_stream``: the same, as the body of a Django view's streaming
  response, for a site whose ASGI application is Django's alone (under
  WSGI the view answers 503 and the client polls).
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
import contextvars
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from django.urls import NoReverseMatch, reverse

from .consumer import RealtimeConsumer
from .frames import decode
from .hub import get_hub
from .origin import Handshake, cross_site
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


HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-store, must-revalidate, max-age=0"),
    # nginx would hold the stream in its buffer.
    (b"x-accel-buffering", b"no"),
]


class EventStreams:
    """The ASGI application of the events URL: ``consumer_class`` on an
    HTTP connection, with no task, queue or thread of its own per stream.
    The consumer's WebSocket messages become the response: its accept the
    head, each frame an event, its close the end; the client going away is
    its disconnect. Wrap it in the session auth, as the socket routes are."""

    def __init__(self, consumer_class: type[RealtimeConsumer]):
        self.application = consumer_class.as_asgi()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if cross_site(Handshake(scope)):
            # Another site's page would hold the user's stream slots and keep
            # them "online" (it cannot read the stream); the socket is as strict.
            await _json(send, 403, {"type": "error", "code": "forbidden"})
            return
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            await _json(send, 401, {"type": "error", "code": "not_logged_in"})
            return
        try:
            await get_hub()
        except RuntimeError as exc:  # no CHANNEL_LAYERS
            await _json(send, 503, {"type": "error", "code": "unavailable", "message": str(exc)})
            return
        connecting = True

        async def as_websocket_receive() -> dict[str, Any]:
            nonlocal connecting
            if connecting:
                connecting = False
                return {"type": "websocket.connect"}
            while (await receive())["type"] != "http.disconnect":
                pass  # a request body is not read
            return {"type": "websocket.disconnect", "code": 1001}

        async def as_response(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "websocket.accept":
                await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
                await send({"type": "http.response.body", "body": OPENING.encode(), "more_body": True})
            elif kind == "websocket.send" and message.get("text") is not None:
                body = f"data: {message['text']}\n\n".encode()
                await send({"type": "http.response.body", "body": body, "more_body": True})
            elif kind == "websocket.close":
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.application({**scope, "type": "websocket", "subprotocols": []}, as_websocket_receive, as_response)


async def _json(send: Any, status: int, body: dict[str, Any]) -> None:
    content = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


class EventsRoute:
    """``http``: the events URL to ``streams``, everything else to ``django``.
    The URL is reversed on the first request, once the URLconf is loaded."""

    def __init__(self, django: Any, streams: Any, url_name: str):
        self.django, self.streams, self.url_name = django, streams, url_name
        self.path: str | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if self.path is None:
            try:
                self.path = reverse(self.url_name)
            except NoReverseMatch:
                self.path = ""  # not included (check notifications.W017): Django answers
        if scope["type"] == "http" and self.path and scope["path"] == self.path and scope["method"] == "GET":
            return await self.streams(scope, receive, send)
        return await self.django(scope, receive, send)


async def request_user(request: Any) -> Any:
    """``request.auser()``, outside the request's context (event_stream says
    why): a stream then holds no thread or connection of its own."""
    return await asyncio.create_task(request.auser(), context=contextvars.Context())


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
    # Run outside the request's context: there Django gives each request a
    # thread of its own (and that thread a database connection of its own)
    # for the consumer's sync calls, which an open stream would hold. Out of
    # it they share the process's one sync thread, as sockets' consumers do.
    task = asyncio.create_task(
        application(_scope(request, user, "websocket"), incoming.get, send), context=contextvars.Context()
    )
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
