"""daphne_compat changes nothing unless a site turns it on; each part checks
the upstream internals it replaces; the formatting and settings shortcuts it
takes on every frame daphne sends keep the results they replace, and an
upgraded connection's HTTP request is freed at once."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from autobahn import util
from autobahn.websocket import protocol as autobahn_protocol
from daphne.testing import DaphneProcess
from websockets.sync.client import connect

from notifications.realtime import daphne_compat
from tests.live import ROOT

# Every function a part replaces, as "module:Class.attribute".
REPLACED = [
    "daphne.ws_protocol:WebSocketProtocol.serverClose",
    "daphne.ws_protocol:WebSocketProtocol.serverSend",
    "daphne.ws_protocol:WebSocketProtocol.handle_reply",
    "daphne.ws_protocol:WebSocketProtocol.connectionMade",
    "daphne.ws_protocol:WebSocketFactory.__init__",
    "daphne.server:Server.application_checker",
    "daphne.server:Server.create_application",
    "daphne.http_protocol:WebRequest.process",
    "autobahn.websocket.protocol:pformat",
    "autobahn.websocket.protocol:hltype",
    "autobahn.websocket.protocol:hlval",
]

OWNERS = """
import importlib, json, sys
import django
django.setup()
{before}
owners = {{}}
for spec in {replaced!r}:
    module, _, path = spec.partition(":")
    target = importlib.import_module(module)
    for name in path.split("."):
        target = getattr(target, name)
    owners[spec] = getattr(target, "__module__", type(target).__module__)
print(json.dumps(owners))
"""


def _owners(before: str = "") -> dict[str, str]:
    """Which module each replaced function comes from, in a fresh process
    that loads the demo's settings (both apps installed) and runs ``before``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    script = OWNERS.format(before=before, replaced=REPLACED)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_nothing_is_changed_until_the_site_turns_it_on():
    owners = _owners()
    assert all(not module.startswith("notifications") for module in owners.values()), owners
    turned_on = _owners("from notifications.realtime import daphne_compat; daphne_compat.enable('all')")
    assert all(module == "notifications.realtime.daphne_compat" for module in turned_on.values()), turned_on


def test_fixes_and_speedups_are_separate_parts():
    fixes = _owners("from notifications.realtime import daphne_compat; daphne_compat.enable('fixes')")
    assert fixes["daphne.ws_protocol:WebSocketProtocol.serverClose"].startswith("notifications")
    assert not fixes["daphne.http_protocol:WebRequest.process"].startswith("notifications")
    assert not fixes["autobahn.websocket.protocol:pformat"].startswith("notifications")


def test_a_part_whose_upstream_internals_changed_is_skipped_with_one_log_line_and_a_check(tmp_path):
    script = tmp_path / "upstream_changed.py"
    script.write_text("""
import logging, django
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
django.setup()
from daphne.ws_protocol import WebSocketProtocol
def handle_reply(self, message):  # an upstream rewrite of the reply handling
    pass
WebSocketProtocol.handle_reply = handle_reply
from notifications.realtime import daphne_compat
print(daphne_compat.enable("empty_messages", "close_codes"))
from django.core import checks
print(sorted(m.id for m in checks.run_checks() if m.id == "notifications.W014"))
assert WebSocketProtocol.handle_reply is handle_reply
""")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "{'empty_messages': False, 'close_codes': True}" in result.stdout
    assert "['notifications.W014']" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "empty_messages" in skipped[0] and "serverSend" in skipped[0], result.stderr


def test_an_unknown_part_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no part 'turbo'.*fixes, speedups, all"):
        daphne_compat.enable("turbo")


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
    assert daphne_compat.enable("free_upgraded_requests", "application_checker") == {
        "free_upgraded_requests": True,
        "application_checker": True,
    }
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
