"""The formatting and settings shortcuts daphne_compat takes on every frame
daphne sends keep the results they replace, and an upgraded connection's HTTP
request is freed at once."""

import json
import time
import urllib.request

import pytest
from autobahn import util
from autobahn.websocket import protocol as autobahn_protocol
from daphne.testing import DaphneProcess
from websockets.sync.client import connect

from notifications.realtime import daphne_compat


def test_autobahn_debug_arguments_render_as_before_but_only_when_logged():
    calls = []

    def colour(value):
        calls.append(value)
        return util.hlval(value)

    lazy = daphne_compat.Lazily(colour)("peer")
    assert calls == []  # a debug line that is not logged formats nothing
    assert f"{lazy}" == util.hlval("peer") and calls == ["peer"]
    assert str(autobahn_protocol.hltype(test_autobahn_debug_arguments_render_as_before_but_only_when_logged)) == (
        util.hltype(test_autobahn_debug_arguments_render_as_before_but_only_when_logged)
    )
    assert str(autobahn_protocol.pformat({"a": 1})) == "{'a': 1}"


def test_the_send_backlog_limit_is_read_once_and_follows_a_settings_change(settings):
    settings.REALTIME_SEND_BACKLOG_BYTES = 4096
    assert daphne_compat.send_backlog_bytes() == 4096
    settings.REALTIME_SEND_BACKLOG_BYTES = 8192
    assert daphne_compat.send_backlog_bytes() == 8192


async def _count_handshake_objects(scope, receive, send):
    """A WebSocket is accepted and held; an HTTP request is answered with how
    many of daphne's HTTP requests are alive, and how many a cyclic
    collection then finds unreachable."""
    if scope["type"] == "websocket":
        await receive()  # connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    import gc

    gc.collect()
    unreachable = sum(type(obj).__name__ == "WebRequest" for obj in gc.garbage)
    alive = sum(type(obj).__name__ == "WebRequest" for obj in gc.get_objects()) - unreachable
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send(
        {"type": "http.response.body", "body": json.dumps({"alive": alive, "unreachable": unreachable}).encode()}
    )


def _application_keeping_garbage():
    import gc

    gc.set_debug(gc.DEBUG_SAVEALL)  # what the cyclic collector finds is kept in gc.garbage
    daphne_compat.apply()
    return _count_handshake_objects


@pytest.mark.daphne
def test_an_upgraded_connections_http_request_is_freed_without_the_cycle_collector():
    """daphne leaves the HTTP channel and request of each upgraded connection
    holding each other: about 25 objects a socket for the cyclic collector,
    whose full pass over a 5,000-socket process stalled it for 0.6-1.0 s
    (docs/benchmarks.md)."""
    server = DaphneProcess("127.0.0.1", _application_keeping_garbage)
    server.start()
    try:
        assert server.ready.wait(10), "daphne did not start"
        url = f"127.0.0.1:{server.port.value}"

        def requests():
            with urllib.request.urlopen(f"http://{url}/") as response:
                return json.loads(response.read())

        for _ in range(10):
            with connect(f"ws://{url}/"):
                pass
        # daphne forgets a finished request at its next walk of connections.
        deadline = time.monotonic() + daphne_compat.APPLICATION_CHECK_SECONDS + 5
        while (found := requests())["alive"] > 1 and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        server.terminate()
        server.join(10)
    assert found == {"alive": 1, "unreachable": 0}  # only the request being answered
