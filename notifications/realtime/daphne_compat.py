"""Close codes under daphne, as RFC 6455 defines them.

daphne speaks WebSocket through autobahn, which gets two things wrong for us
(autobahn-python #1642, daphne #374):

- ``sendClose`` refuses every code but 1000 and 3000-4999, so an application
  cannot send 1009 ("message too big") or 1011, which RFC 6455 §7.4.1 lets an
  endpoint send; daphne then fails the consumer.
- autobahn fails a connection (for example a message over daphne's
  ``--websocket-max-message-size``) by dropping TCP, so the client sees 1006
  instead of the close code autobahn chose (1009 for a message too big).

``apply()`` lets daphne's protocol send the RFC endpoint codes and makes
autobahn fail connections with a close frame. It changes nothing else, runs
once, and does nothing when daphne is not installed.
"""

from __future__ import annotations

from typing import Any

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
