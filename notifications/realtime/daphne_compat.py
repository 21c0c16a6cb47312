"""Opt-in fixes and speed-ups for daphne, autobahn and Twisted.

Nothing here runs unless the site asks for it, in its ASGI module::

    from notifications.realtime import daphne_compat

    daphne_compat.enable("fixes")               # or "speedups", "all", or part names

Each part replaces a few internals of a named upstream version. Before it
does, it checks that those internals are still there and shaped as expected;
if not, it skips that part with one log line, and ``manage.py check``
reports it (``notifications.W014``; ``check --deploy`` lists the parts that
are on as ``notifications.I013``). docs/daphne.md says what each part does,
why, and where the fix belongs upstream.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

# daphne, autobahn and Twisted are imported inside the parts: they are
# optional (the daphne extra), and nothing loads them unless a part is on.
logger = logging.getLogger("notifications.realtime")
# The logger daphne's own application checker writes to.
daphne_logger = logging.getLogger("daphne.server")

DEFAULT_SEND_BACKLOG_BYTES = 1 << 20
APPLICATION_CHECK_SECONDS = 5.0
# Connections per slice of a walk over all of them: the reactor runs between
# slices, so a frame waits behind one slice instead of a whole walk (daphne's
# timeout checker walks every connection every 2 s; docs/daphne.md).
WALK_SLICE = 50
SEND_TEXT_EXTENSION = "notifications.send_text"

# RFC 6455 §7.4.1 codes an endpoint may send, besides 1000.
RFC_ENDPOINT_CODES = frozenset({1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})

# The upstream versions whose internals the parts below replace; a part
# checks the shapes it relies on, so a newer version that keeps them works.
TESTED_WITH = {"daphne": "4.2", "autobahn": "26.10", "twisted": "26.10"}


class NotApplicable(Exception):
    """The internals a part replaces are missing or shaped differently."""


@dataclass(frozen=True)
class Part:
    name: str
    kind: str  # "fix" or "speedup"
    summary: str
    install: Callable[[], None]


_enabled: dict[str, Part] = {}
_skipped: dict[str, str] = {}


def _expect(owner: Any, attribute: str, *mentions: str) -> Any:
    """``owner.attribute``, after checking that it exists and that its source
    mentions each of ``mentions`` (the internals a patch relies on)."""
    target = getattr(owner, attribute, None)
    if target is None:
        raise NotApplicable(f"{getattr(owner, '__name__', owner)}.{attribute} is missing")
    if mentions:
        try:
            source = inspect.getsource(target)
        except (OSError, TypeError) as exc:
            raise NotApplicable(f"the source of {attribute} cannot be read: {exc}") from exc
        missing = [name for name in mentions if name not in source]
        if missing:
            raise NotApplicable(f"{attribute} no longer mentions {', '.join(missing)}")
    return target


# The parts ------------------------------------------------------------------


def _install_close_codes() -> None:
    from autobahn.websocket.protocol import WebSocketServerFactory
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

    server_close = _expect(WebSocketProtocol, "serverClose", "sendClose")
    _expect(WebSocketProtocol, "sendCloseFrame")
    factory_init = _expect(WebSocketFactory, "__init__")
    if "failByDrop" not in inspect.signature(WebSocketServerFactory.setProtocolOptions).parameters:
        raise NotApplicable("autobahn's setProtocolOptions has no failByDrop")

    def serverClose(self: Any, code: int | None = None) -> None:
        if code in RFC_ENDPOINT_CODES:
            self.sendCloseFrame(code=code)
        else:
            server_close(self, code=code)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        factory_init(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False)

    WebSocketProtocol.serverClose = serverClose
    WebSocketFactory.__init__ = __init__


def _install_server_send() -> None:
    """One wrapper of ``serverSend`` serves three parts; each checks its flag."""
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol.serverSend, "_realtime", False):
        return
    server_send = _expect(WebSocketProtocol, "serverSend", "sendMessage")

    def serverSend(self: Any, content: Any, binary: bool = False) -> None:
        if not may_send(self):
            return
        if "outgoing_size" not in _enabled:
            server_send(self, content, binary)
            return
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            server_send(self, content, binary)
        finally:
            self.maxMessagePayloadSize = limit

    serverSend._realtime = True  # type: ignore[attr-defined]
    WebSocketProtocol.serverSend = serverSend


def _install_outgoing_size() -> None:
    from autobahn.websocket.protocol import WebSocketProtocol as AutobahnProtocol

    _expect(AutobahnProtocol, "sendMessage", "maxMessagePayloadSize")
    _install_server_send()


def _install_closing_sends() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    _expect(WebSocketProtocol, "STATE_CLOSING")
    _install_server_send()


def _install_send_backlog() -> None:
    from twisted.internet import abstract

    _expect(abstract.FileDescriptor, "write", "_tempDataLen")
    _expect(abstract.FileDescriptor, "doWrite", "dataBuffer", "offset")
    _install_server_send()


def _install_empty_messages() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    handle_reply = _expect(WebSocketProtocol, "handle_reply", "websocket.send", "serverSend")

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


def _install_lazy_debug_format() -> None:
    from autobahn.websocket import protocol as autobahn_protocol

    for name in ("pformat", "hltype", "hlval"):
        _expect(autobahn_protocol, name)
    for name in ("pformat", "hltype", "hlval"):
        format_now = getattr(autobahn_protocol, name)
        if not isinstance(format_now, Lazily):
            setattr(autobahn_protocol, name, Lazily(format_now))


def _install_create_application() -> None:
    """One wrapper of ``Server.create_application`` serves two parts: the
    send shortcut and the reaping of crashed applications within a second."""
    from daphne import server as daphne_server
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(daphne_server.Server.create_application, "_realtime", False):
        return
    create = _expect(daphne_server.Server, "create_application", "application_instance")

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        if "send_text" in _enabled and isinstance(protocol, WebSocketProtocol) and protocol in self.connections:
            shortcut = functools.partial(send_text, protocol, self.connections[protocol])
            scope.setdefault("extensions", {})[SEND_TEXT_EXTENSION] = {"send": shortcut}
        queue = create(self, protocol, scope)
        details = self.connections.get(protocol)
        future = details.get("application_instance") if details else None
        if future is not None and "application_checker" in _enabled:

            def ended(done: Any) -> None:
                # A crash (a handshake to no route, say) must still be
                # answered within a second, and so must an application that
                # ends while its connection is open: walk at the next tick.
                crashed = not done.cancelled() and done.exception() is not None
                if crashed or not details.get("disconnected"):
                    self._realtime_checked = float("-inf")

            future.add_done_callback(ended)
        return queue

    create_application._realtime = True  # type: ignore[attr-defined]
    daphne_server.Server.create_application = create_application


def _walk_in_slices(server: Any, visit: Callable[[Any, dict[str, Any]], None], then: Callable[[], Any]) -> None:
    """Call ``visit(protocol, details)`` for each connection the server has
    now, WALK_SLICE at a time, with the reactor running between slices;
    then call ``then()``, which reschedules the walk. A connection that went
    while the walk was under way is skipped. A visit that raises is logged
    and the walk goes on (daphne's own walk stopped for good)."""
    _walk_slice(server, list(server.connections), 0, visit, then)


def _walk_slice(server: Any, protocols: list[Any], start: int, visit: Any, then: Any) -> None:
    # A module function, not a closure that schedules itself: that closure
    # would be a reference cycle holding every connection of the walk (and
    # each HTTP request's objects) until the cyclic collector ran.
    from daphne import server as daphne_server

    end = start + WALK_SLICE
    for protocol in protocols[start:end]:
        details = server.connections.get(protocol)
        if details is None:
            continue
        try:
            visit(protocol, details)
        except Exception:
            logger.exception("daphne_compat: checking connection %r failed", protocol)
    if end < len(protocols):
        daphne_server.reactor.callLater(0, _walk_slice, server, protocols, end, visit, then)
    else:
        then()


def _check_application(server: Any, protocol: Any, details: dict[str, Any]) -> None:
    """What daphne's ``Server.application_checker`` does for one connection:
    cancel an application that outlived its closed connection by
    ``application_close_timeout``, log a crash (and answer it on an open
    connection), and forget a finished application and a closed connection.
    A finished application is forgotten even if answering its crash fails,
    so that it is not answered again at every walk."""
    disconnected = details.get("disconnected")
    application_instance = details.get("application_instance")
    closed_too_long = disconnected and time.time() - disconnected > server.application_close_timeout
    if closed_too_long and application_instance and not application_instance.done():
        daphne_logger.warning(
            "Application instance %r for connection %s took too long to shut down and was killed.",
            application_instance,
            repr(protocol),
        )
        application_instance.cancel()
    if application_instance and application_instance.done():
        try:
            exception = application_instance.exception()
        except (concurrent.futures.CancelledError, asyncio.CancelledError):
            exception = None
        try:
            if exception:
                if isinstance(exception, KeyboardInterrupt):
                    server.stop()
                else:
                    daphne_logger.error("Exception inside application: %s", exception, exc_info=exception)
                    if not disconnected:
                        protocol.handle_exception(exception)
        finally:
            del server.connections[protocol]["application_instance"]
        application_instance = None
    if not application_instance and disconnected:
        del server.connections[protocol]


def _install_application_checker() -> None:
    from daphne import server as daphne_server

    daphnes = _expect(
        daphne_server.Server,
        "application_checker",
        "application_close_timeout",
        "handle_exception",
        "KeyboardInterrupt",
        'del self.connections[protocol]["application_instance"]',
        "del self.connections[protocol]",
        "callLater(1, self.application_checker)",
    )
    _install_create_application()

    def application_checker(self: Any) -> None:
        # daphne's own checker reschedules itself in 1 s through this
        # attribute; in between full walks, only reschedule.
        now = time.monotonic()
        if now - getattr(self, "_realtime_checked", float("-inf")) < APPLICATION_CHECK_SECONDS:
            daphne_server.reactor.callLater(1, self.application_checker)
            return
        self._realtime_checked = now
        _walk_in_slices(
            self,
            functools.partial(_check_application, self),
            lambda: daphne_server.reactor.callLater(1, self.application_checker),
        )

    application_checker.__wrapped__ = daphnes  # type: ignore[attr-defined]
    daphne_server.Server.application_checker = application_checker


def _install_timeout_checker() -> None:
    from daphne import server as daphne_server

    daphnes = _expect(daphne_server.Server, "timeout_checker", "check_timeouts()", "callLater(2, self.timeout_checker)")

    def timeout_checker(self: Any) -> None:
        _walk_in_slices(
            self,
            lambda protocol, details: protocol.check_timeouts(),
            lambda: daphne_server.reactor.callLater(2, self.timeout_checker),
        )

    timeout_checker.__wrapped__ = daphnes  # type: ignore[attr-defined]
    daphne_server.Server.timeout_checker = timeout_checker


def _install_send_text() -> None:
    from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol

    _expect(WebSocketProtocol, "sendPreparedMessage", "payloadHybi")
    _expect(WebSocketProtocol, "sendData", "send_queue")
    if "payloadHybi" not in inspect.getsource(PreparedMessage):
        raise NotApplicable("autobahn's PreparedMessage has no payloadHybi")
    _install_create_application()


def _install_write_through() -> None:
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import abstract, tcp

    _expect(abstract.FileDescriptor, "write", "_tempDataBuffer", "_writeDisconnected")
    _expect(abstract.FileDescriptor, "doWrite", "dataBuffer", "offset")
    _expect(tcp.Connection, "TLS")
    connection_made = _expect(WebSocketProtocol, "connectionMade")

    def connectionMade(self: Any) -> None:
        write_through(self.transport)
        connection_made(self)

    WebSocketProtocol.connectionMade = connectionMade


def _install_free_upgraded_requests() -> None:
    from daphne.http_protocol import WebRequest

    process = _expect(WebRequest, "process", "upgrade", "transport")

    def process_then_let_go(self: Any) -> Any:
        result = process(self)
        channel = self.channel
        if self.transport is None and channel is not None and self in getattr(channel, "requests", ()):
            # Upgraded to a WebSocket (the upgrade runs to the end without
            # waiting, and takes the transport): the HTTP channel and this
            # request are done with, but hold each other, so only the
            # cyclic collector would free them.
            channel.requests.remove(self)
        return result

    WebRequest.process = process_then_let_go


PARTS: dict[str, Part] = {
    part.name: part
    for part in (
        Part(
            "close_codes",
            "fix",
            "send RFC 6455 close codes (1009, 1011) and fail connections with a close frame, not a dropped TCP",
            _install_close_codes,
        ),
        Part(
            "outgoing_size",
            "fix",
            "apply --websocket-max-message-size to incoming messages only",
            _install_outgoing_size,
        ),
        Part("empty_messages", "fix", "send empty messages instead of dropping them", _install_empty_messages),
        Part(
            "closing_sends",
            "fix",
            "drop a send to a closing socket instead of logging an application crash",
            _install_closing_sends,
        ),
        Part(
            "send_backlog",
            "fix",
            "drop a client whose unsent data passes REALTIME_SEND_BACKLOG_BYTES",
            _install_send_backlog,
        ),
        Part(
            "lazy_debug_format",
            "speedup",
            "format autobahn's debug-log arguments only when the line is logged",
            _install_lazy_debug_format,
        ),
        Part(
            "application_checker",
            "speedup",
            "walk connections to reap applications every 5 s, in slices, and at once after a crash",
            _install_application_checker,
        ),
        Part(
            "timeout_checker",
            "speedup",
            "walk connections for timeouts and pings in slices, letting frames through in between",
            _install_timeout_checker,
        ),
        Part(
            "write_through",
            "speedup",
            "write to a plain TCP socket at once when nothing is queued",
            _install_write_through,
        ),
        Part(
            "send_text",
            "speedup",
            "a broadcast frame is framed once and written past the ASGI send chain",
            _install_send_text,
        ),
        Part(
            "free_upgraded_requests",
            "speedup",
            "free an upgraded connection's HTTP request without the cyclic collector",
            _install_free_upgraded_requests,
        ),
    )
}
GROUPS = {
    "fixes": tuple(name for name, part in PARTS.items() if part.kind == "fix"),
    "speedups": tuple(name for name, part in PARTS.items() if part.kind == "speedup"),
    "all": tuple(PARTS),
}


def enable(*names: str) -> dict[str, bool]:
    """Turn parts on, by name or group (``fixes``, ``speedups``, ``all``).
    Returns, for each part asked for, whether it is on. Unknown names raise
    ValueError; a part whose upstream internals changed is skipped and
    logged. Without daphne installed, nothing is turned on."""
    wanted: list[str] = []
    for name in names or ("all",):
        if name in GROUPS:
            wanted.extend(GROUPS[name])
        elif name in PARTS:
            wanted.append(name)
        else:
            known = ", ".join([*GROUPS, *PARTS])
            raise ValueError(f"daphne_compat has no part {name!r}; choose from {known}.")
    try:
        import daphne.server  # noqa: F401
    except ImportError:
        for name in wanted:
            _skipped.setdefault(name, "daphne is not installed")
        return dict.fromkeys(wanted, False)
    for name in wanted:
        if name in _enabled or name in _skipped:
            continue
        part = PARTS[name]
        try:
            # Flag first: a shared wrapper installed by this part reads it.
            _enabled[name] = part
            part.install()
        except (NotApplicable, ImportError) as exc:
            del _enabled[name]
            _skipped[name] = str(exc)
            logger.warning("daphne_compat: part %r skipped: %s", name, exc)
    return {name: name in _enabled for name in wanted}


def enabled() -> list[str]:
    """The parts that are on in this process, in PARTS order."""
    return [name for name in PARTS if name in _enabled]


def skipped() -> dict[str, str]:
    """The parts asked for but not applied, with the reason."""
    return dict(_skipped)


def requested(names: Iterable[str]) -> bool:
    return any(name in _enabled or name in _skipped for name in names)


def closing(protocol: Any) -> bool:
    """The client is gone or going: autobahn would raise Disconnected into
    the application, which daphne logs as a crash. The consumer gets
    websocket.disconnect next, and the client syncs what it missed when it
    comes back."""
    return protocol.state in (protocol.STATE_CLOSING, protocol.STATE_CLOSED)


def over_backlog(protocol: Any) -> bool:
    """Whether the connection's unsent data passed the limit; drops it (once)
    when it has: a close frame would wait behind that same backlog."""
    limit = send_backlog_bytes()
    if _backlog(protocol.transport) <= limit:
        return False
    if not getattr(protocol, "_realtime_aborted", False):
        protocol._realtime_aborted = True
        logger.warning("dropping %s: over %d bytes unsent, it stopped reading", protocol.client_addr, limit)
        protocol.transport.abortConnection()
    return True


def may_send(protocol: Any) -> bool:
    """Whether a frame may be written to this connection now, as the parts
    that are on decide."""
    if "closing_sends" in _enabled and closing(protocol):
        return False
    return not ("send_backlog" in _enabled and over_backlog(protocol))


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
    if connection.get("disconnected") or closing(protocol) or not may_send(protocol):
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
    return int(getattr(settings, "REALTIME_SEND_BACKLOG_BYTES", DEFAULT_SEND_BACKLOG_BYTES))


def _forget_send_backlog_bytes(*, setting: str, **kwargs: Any) -> None:
    if setting == "REALTIME_SEND_BACKLOG_BYTES":
        send_backlog_bytes.cache_clear()


setting_changed.connect(_forget_send_backlog_bytes)


def _backlog(transport: Any) -> int:
    """Bytes written to a Twisted transport and not yet sent (0 if unknown)."""
    buffered = getattr(transport, "dataBuffer", b"")
    offset = getattr(transport, "offset", 0)
    pending = getattr(transport, "_tempDataLen", 0)
    try:
        return len(buffered) - offset + pending
    except TypeError:
        return 0
