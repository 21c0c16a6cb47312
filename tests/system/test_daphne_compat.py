"""daphne_compat against a real daphne: an upgraded connection's HTTP
request is freed at once, and the sliced timeout walk closes every socket
past its timeout."""

import asyncio
import json
import time
import urllib.request

import pytest
import websockets
from daphne.testing import DaphneProcess
from websockets.sync.client import connect

from notifications.realtime import daphne_compat


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


def _enable_in_daphne_process(*names):
    """Turn parts on in a DaphneProcess: daphne.testing imports daphne.server
    anew there, so a part the test process turned on (importing the demo's
    ASGI module does) is put on the new module too."""
    daphne_compat._enabled.clear()
    daphne_compat._skipped.clear()
    return daphne_compat.enable(*names)


def _application_keeping_garbage():
    import gc

    gc.set_debug(gc.DEBUG_SAVEALL)  # what the cyclic collector finds is kept in gc.garbage
    assert _enable_in_daphne_process("free_upgraded_requests", "application_checker") == {
        "free_upgraded_requests": True,
        "application_checker": True,
    }
    return _count_handshake_objects


def _hold_until_closed_with_timeouts_checked():
    assert _enable_in_daphne_process("timeout_checker") == {"timeout_checker": True}
    from daphne import server as daphne_server

    # The part patched the daphne.server this process serves with.
    assert daphne_server.Server.timeout_checker.__module__ == daphne_compat.__name__

    async def application(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass

    return application


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

        # More than one slice of the walk.
        for _ in range(daphne_compat.WALK_SLICE + 10):
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


@pytest.mark.daphne
def test_the_sliced_timeout_walk_closes_every_socket_past_its_timeout():
    """daphne's --websocket_timeout, enforced by the sliced walk, reaches
    every connection of several slices."""
    server = DaphneProcess("127.0.0.1", _hold_until_closed_with_timeouts_checked, kwargs={"websocket_timeout": 2})
    server.start()
    try:
        assert server.ready.wait(10), "daphne did not start"
        url = f"ws://127.0.0.1:{server.port.value}/"

        async def held_until_closed():
            sockets = []
            for _ in range(daphne_compat.WALK_SLICE * 2 + 10):
                sockets.append(await websockets.connect(url))
            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(socket.wait_closed() for socket in sockets)), 15)
            return time.monotonic() - started, {socket.close_code for socket in sockets}

        waited, codes = asyncio.run(held_until_closed())
    finally:
        server.terminate()
        server.join(10)
    assert codes == {1000}
    assert waited < 2 + 2 + 3  # the timeout, one walk period, slack
