"""Close codes under daphne, as RFC 6455 defines them.

daphne speaks WebSocket through autobahn, which gets two things wrong for us
(autobahn-python #1642, daphne #374):

- ``sendClose`` refuses every code but 1000 and 3000-4999, so an application
  cannot send 1009 ("message too big") or 1011, which RFC 6455 §7.4.1 lets an
  endpoint send; daphne then fails the consumer.
- autobahn fails a connection (for example a message over daphne's
  ``--websocket-max-message-size``) by dropping TCP, so the client sees 1006
  instead of the close code autobahn chose (1009 for a message too big).

daphne's ``--websocket-max-message-size`` sets autobahn's
``maxMessagePayloadSize``, which autobahn also applies to messages the server
*sends*: with the 16 KiB limit that protects the server from big client
frames, a 100-notification ``sync`` page (about 120 KB) failed with
``PayloadExceededError``. ``apply()`` keeps the limit for incoming messages
only; the server's own frames are bounded by the protocol's page sizes.

It also bounds what daphne buffers for a client that stops reading.
ASGI gives an application no backpressure: daphne writes every frame into
Twisted's transport, which buffers without limit, so one stalled client
could grow the server's memory without bound. ``apply()`` makes daphne drop
a connection whose unsent data passes ``REALTIME_SEND_BACKLOG_BYTES``
(default 1 MiB). A close frame would wait behind that same backlog, so the
connection is aborted and the client sees 1006; it reconnects and syncs.

A send that races the client's close (a push to a socket whose client has
just gone) made autobahn raise ``Disconnected`` into the application, which
daphne logs as "Exception inside application". ``apply()`` drops such sends.

daphne also silently drops an empty message (``send(text_data="")``), because
it tests the payload for truth; Autobahn's fuzzer (cases 1.1.1, 1.2.1, 6.1.x)
found it. ``apply()`` sends empty messages.

autobahn pretty-prints every connection's settings for a debug log line,
eagerly, whether or not debug logging is on: 1.2 ms of CPU per handshake,
2.4 s of a 2,000-socket connect storm. It also colours a function name and
two values for a debug line on every frame it sends, 6% of a broadcast's
CPU. ``apply()`` makes that formatting lazy (done only if the line is
logged).

daphne's ``Server.application_checker`` walks every connection once a
second to reap finished application instances: 18% of an idle server's CPU
at 4,000 sockets (py-spy). ``apply()`` lets it walk them every
APPLICATION_CHECK_SECONDS (5) instead, so a closed connection's entry and an
application past ``--application-close-timeout`` are dealt with up to 4 s
later; an application that crashes, or ends while its connection is still
open, still gets the walk within a second, as before.

Twisted never writes to a socket when asked: ``transport.write`` buffers
the bytes and registers the socket for writability, and the loop's next
turn sends them and unregisters it, two ``epoll_ctl`` calls and a loop
wake-up per write. Writing one broadcast frame to 5,000 sockets, that was
42% of the process's CPU (py-spy). ``apply()`` makes a WebSocket's plain
TCP transport send at once when nothing is queued before it, as asyncio's
own transports do, and hand whatever the kernel does not take to Twisted's
buffer as before, so ordering, the send-backlog bound and error handling
are Twisted's.

An ASGI application writes a frame through a chain of coroutines:
Channels' consumer and session middleware, daphne's server and protocol,
and autobahn, which frames the message. For a broadcast that chain ran once
per socket for the same text, about half of the time spent on each socket.
``apply()`` offers the application a shortcut in the connection's scope,
``scope["extensions"]["notifications.send_text"]["send"]``: a plain
function that writes a text frame at once, with daphne's checks (the
connection is gone, not yet accepted) and the send-backlog bound, from a
frame autobahn prepared once per text (``PreparedMessage``, autobahn's own
broadcast API), written straight to the transport when autobahn has nothing
queued and no compression, as its ``sendData`` would. ``RealtimeConsumer``
uses it when it is there and the ASGI ``send`` otherwise (other servers,
tests).

daphne hands an upgraded connection to its WebSocket protocol and leaves
the HTTP channel and request it came in on holding each other, about 25
objects a socket that only the cyclic collector frees. Its full pass over a
5,000-socket process stalled the loop for 0.6-1.0 s, and the handshakes'
garbage made it come sooner. ``apply()`` takes the request out of its
channel once the upgrade is done: the request, with its headers, addresses
and body buffer, is freed at once, and the channel with the connection.

``apply()`` lets daphne's protocol send the RFC endpoint codes, makes
autobahn fail connections with a close frame, applies the message size limit
to incoming messages only, sends empty messages, drops sends to a closing
socket, bounds the send backlog, and frees upgraded HTTP requests.
It changes nothing else, runs once, and does nothing when daphne is not
installed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.core.signals import setting_changed

logger = logging.getLogger("notifications.realtime")

DEFAULT_SEND_BACKLOG_BYTES = 1 << 20
APPLICATION_CHECK_SECONDS = 5.0
SEND_TEXT_EXTENSION = "notifications.send_text"

# RFC 6455 §7.4.1 codes an endpoint may send, besides 1000.
RFC_ENDPOINT_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    try:
        from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
    except ImportError:
        return
    _applied = True

    server_close = WebSocketProtocol.serverClose

    def serverClose(self: Any, code: int | None = None) -> None:
        if code in RFC_ENDPOINT_CODES:
            self.sendCloseFrame(code=code)
        else:
            server_close(self, code=code)

    WebSocketProtocol.serverClose = serverClose

    factory_init = WebSocketFactory.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        factory_init(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False)

    WebSocketFactory.__init__ = __init__

    server_send = WebSocketProtocol.serverSend

    def serverSend(self: Any, content: Any, binary: bool = False) -> None:
        if not may_send(self):
            return
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            server_send(self, content, binary)
        finally:
            self.maxMessagePayloadSize = limit

    WebSocketProtocol.serverSend = serverSend

    handle_reply = WebSocketProtocol.handle_reply

    def handle_reply_with_empty(self: Any, message: dict[str, Any]) -> None:
        if message.get("type") == "websocket.send" and self.state != self.STATE_CONNECTING:
            if message.get("text") == "" and message.get("bytes") is None:
                self.serverSend("", False)
                return
            if message.get("bytes") == b"" and message.get("text") is None:
                self.serverSend(b"", True)
                return
        handle_reply(self, message)

    WebSocketProtocol.handle_reply = handle_reply_with_empty

    connection_made = WebSocketProtocol.connectionMade

    def connectionMade(self: Any) -> None:
        write_through(self.transport)
        connection_made(self)

    WebSocketProtocol.connectionMade = connectionMade

    _throttle_application_checker()
    _free_upgraded_requests()

    from autobahn.websocket import protocol as autobahn_protocol

    for name in ("pformat", "hltype", "hlval"):
        format_now = getattr(autobahn_protocol, name, None)
        if format_now is not None and not isinstance(format_now, Lazily):
            setattr(autobahn_protocol, name, Lazily(format_now))

    setting_changed.connect(_forget_send_backlog_bytes)


def _throttle_application_checker() -> None:
    from daphne import server as daphne_server
    from daphne.ws_protocol import WebSocketProtocol

    check = daphne_server.Server.application_checker
    create = daphne_server.Server.create_application

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        if isinstance(protocol, WebSocketProtocol) and protocol in self.connections:
            shortcut = functools.partial(send_text, protocol, self.connections[protocol])
            scope.setdefault("extensions", {})[SEND_TEXT_EXTENSION] = {"send": shortcut}
        queue = create(self, protocol, scope)
        details = self.connections.get(protocol)
        future = details.get("application_instance") if details else None
        if future is not None:

            def ended(done: Any) -> None:
                # A crash (a handshake to no route, say) must still be
                # answered within a second, and so must an application that
                # ends while its connection is open: walk at the next tick.
                crashed = not done.cancelled() and done.exception() is not None
                if crashed or not details.get("disconnected"):
                    self._realtime_checked = float("-inf")

            future.add_done_callback(ended)
        return queue

    daphne_server.Server.create_application = create_application

    def application_checker(self: Any) -> None:
        # daphne's own checker reschedules itself in 1 s through this
        # attribute; in between full walks, only reschedule.
        now = time.monotonic()
        if now - getattr(self, "_realtime_checked", float("-inf")) < APPLICATION_CHECK_SECONDS:
            daphne_server.reactor.callLater(1, self.application_checker)
            return
        self._realtime_checked = now
        check(self)

    daphne_server.Server.application_checker = application_checker


def _free_upgraded_requests() -> None:
    from daphne.http_protocol import WebRequest

    process = WebRequest.process

    def process_then_let_go(self: Any) -> Any:
        result = process(self)
        channel = self.channel
        if self.transport is None and channel is not None and self in channel.requests:
            # Upgraded to a WebSocket (the upgrade runs to the end without
            # waiting, and takes the transport): the HTTP channel and this
            # request are done with, but hold each other, so only the
            # cyclic collector would free them.
            channel.requests.remove(self)
        return result

    WebRequest.process = process_then_let_go


def may_send(protocol: Any) -> bool:
    """Whether a frame may be written to this connection now. Drops the
    connection once its unsent backlog passes the limit."""
    if protocol.state in (protocol.STATE_CLOSING, protocol.STATE_CLOSED):
        # The client is gone or going; autobahn would raise Disconnected
        # into the application, which daphne logs as a crash. The consumer
        # gets websocket.disconnect next, and the client syncs whatever it
        # missed when it comes back.
        return False
    limit = send_backlog_bytes()
    if _backlog(protocol.transport) > limit:
        if not getattr(protocol, "_realtime_aborted", False):
            protocol._realtime_aborted = True
            logger.warning("dropping %s: over %d bytes unsent, it stopped reading", protocol.client_addr, limit)
            protocol.transport.abortConnection()
        return False
    return True


@functools.lru_cache(maxsize=16)
def _prepared(text: str) -> Any:
    """A text frame framed once, for every socket a broadcast goes to."""
    from autobahn.websocket.protocol import PreparedMessage

    return PreparedMessage(text.encode(), False, applyMask=False, doNotCompress=False)


def send_text(protocol: Any, connection: dict[str, Any], text: str) -> bool:
    """Write a text frame now, as daphne does for ``websocket.send``. False
    when the socket is not accepted yet: the caller then uses the ASGI send,
    which raises as daphne does."""
    if protocol.state == protocol.STATE_CONNECTING:
        return False
    if connection.get("disconnected") or not may_send(protocol):
        return True  # dropped, as daphne drops a send to a closed connection
    prepared = _prepared(text)
    if protocol._perMessageCompress is None and not protocol.send_queue:
        # What sendPreparedMessage and sendData come down to here, without
        # their per-frame statistics and debug-log arguments.
        protocol.transport.write(prepared.payloadHybi)
    else:
        protocol.sendPreparedMessage(prepared)
    return True


def write_through(transport: Any) -> None:
    """Make a plain (non-TLS) Twisted TCP transport send at once when its
    buffer is empty; anything else keeps Twisted's buffered write."""
    from twisted.internet import tcp

    if not isinstance(transport, tcp.Connection) or transport.TLS:
        return
    buffered_write = transport.write

    def write(data: bytes) -> None:
        if (
            data
            and transport.connected
            and not transport.disconnecting
            and not transport._writeDisconnected
            and not transport._tempDataBuffer
            and len(transport.dataBuffer) == transport.offset
        ):
            try:
                sent = transport.socket.send(data)
            except OSError:
                # EAGAIN, or a broken connection: Twisted's own write path
                # buffers the bytes, retries, and reports a lost connection.
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        buffered_write(data)

    transport.write = write


class Lazily:
    """A formatting function for log arguments whose result is computed
    only when the log line is rendered."""

    def __init__(self, format_now: Callable[..., Any]):
        self.format_now = format_now

    def __call__(self, *args: Any, **kwargs: Any) -> LazyFormat:
        return LazyFormat(self.format_now, args, kwargs)


class LazyFormat:
    def __init__(self, format_now: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self.format_now, self.args, self.kwargs = format_now, args, kwargs

    def __str__(self) -> str:
        return str(self.format_now(*self.args, **self.kwargs))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


@functools.cache
def send_backlog_bytes() -> int:
    """REALTIME_SEND_BACKLOG_BYTES, read once: it is checked on every frame."""
    from django.conf import settings

    return int(getattr(settings, "REALTIME_SEND_BACKLOG_BYTES", DEFAULT_SEND_BACKLOG_BYTES))


def _forget_send_backlog_bytes(*, setting: str, **kwargs: Any) -> None:
    if setting == "REALTIME_SEND_BACKLOG_BYTES":
        send_backlog_bytes.cache_clear()


def _backlog(transport: Any) -> int:
    """Bytes written to a Twisted transport and not yet sent (0 if unknown)."""
    buffered = getattr(transport, "dataBuffer", b"")
    offset = getattr(transport, "offset", 0)
    pending = getattr(transport, "_tempDataLen", 0)
    try:
        return len(buffered) - offset + pending
    except TypeError:
        return 0
