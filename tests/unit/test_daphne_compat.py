"""daphne_compat changes nothing unless a site turns it on; each part checks
the upstream internals it replaces; the formatting and settings shortcuts it
takes on every frame daphne sends keep the results they replace; the walks
over every connection run in slices that do what daphne's single walks do.
(Against a real daphne: tests/system/test_daphne_compat.py.)"""

import asyncio
import functools
import json
import logging
import os
import subprocess
import sys
import time

import pytest
from autobahn import util
from autobahn.websocket import protocol as autobahn_protocol

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
    "daphne.server:Server.timeout_checker",
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


class _Reactor:
    """daphne's reactor as the walks use it: calls to run later, run by hand."""

    def __init__(self):
        self.calls = []

    def callLater(self, delay, function, *args):
        self.calls.append((delay, function, args))

    def run_all(self):
        while self.calls:
            _, function, args = self.calls.pop(0)
            function(*args)


@pytest.fixture
def reactor(monkeypatch):
    # Imported here: importing daphne.server installs Twisted's asyncio
    # reactor, which the rest of the test session has no use for.
    from daphne import server as daphne_server

    fake = _Reactor()
    monkeypatch.setattr(daphne_server, "reactor", fake)
    return fake


class _Protocol:
    def __init__(self):
        self.checked = 0
        self.answered = []

    def check_timeouts(self):
        self.checked += 1

    def handle_exception(self, exception):
        self.answered.append(exception)


class _Server:
    application_close_timeout = 10

    def __init__(self, connections):
        self.connections = connections
        self.stopped = False

    def stop(self):
        self.stopped = True


def _check_timeouts(protocol, details):
    protocol.check_timeouts()


def test_a_walk_lets_the_reactor_run_between_slices_and_reaches_every_connection(reactor):
    protocols = [_Protocol() for _ in range(daphne_compat.WALK_SLICE * 2 + 1)]
    server = _Server({protocol: {} for protocol in protocols})
    done = []
    daphne_compat._walk_in_slices(server, _check_timeouts, lambda: done.append(1))
    assert [p.checked for p in protocols].count(1) == daphne_compat.WALK_SLICE
    assert [delay for delay, *_ in reactor.calls] == [0] and not done  # the rest waits for the next turn
    # Between slices one connection already walked closes, one not yet
    # walked closes, and a new one opens: the walk goes on from where it
    # was, skips the closed one and leaves the new one to the next walk.
    del server.connections[protocols[0]], server.connections[protocols[-1]]
    newcomer = _Protocol()
    server.connections[newcomer] = {}
    reactor.run_all()
    assert [p.checked for p in protocols] == [1] * (len(protocols) - 1) + [0]
    assert newcomer.checked == 0
    assert done == [1]


def test_a_walk_logs_a_connection_that_raises_and_goes_on(reactor, caplog):
    protocols = [_Protocol() for _ in range(daphne_compat.WALK_SLICE + 1)]
    server = _Server({protocol: {} for protocol in protocols})
    done = []

    def visit(protocol, details):
        if protocol is protocols[0]:
            raise RuntimeError("a bad connection")
        protocol.check_timeouts()

    daphne_compat._walk_in_slices(server, visit, lambda: done.append(1))
    reactor.run_all()
    assert [p.checked for p in protocols] == [0] + [1] * (len(protocols) - 1)
    assert done == [1]  # rescheduled
    [record] = [r for r in caplog.records if r.name == "notifications.realtime"]
    assert record.levelname == "ERROR" and "a bad connection" in str(record.exc_info[1])


class _Application:
    """An application future in one of the states the checker handles."""

    def __init__(self, done=False, exception=None, cancelled=False):
        self._done, self._exception, self._cancelled = done, exception, cancelled
        self.cancel_calls = 0

    def done(self):
        return self._done

    def cancel(self):
        self.cancel_calls += 1

    def exception(self):
        if self._cancelled:
            raise asyncio.CancelledError
        return self._exception


def _connections_in_every_state(copies):
    """``copies`` connections in each state the checker handles, by name."""
    now = time.time()
    states = {
        "running": ({}, {}),
        "finished": ({"done": True}, {}),
        "crashed, open": ({"done": True, "exception": ValueError("boom")}, {}),
        "crashed, closed": ({"done": True, "exception": ValueError("boom")}, {"disconnected": now}),
        "cancelled, open": ({"done": True, "cancelled": True}, {}),
        "cancelled, closed": ({"done": True, "cancelled": True}, {"disconnected": now}),
        "closed, finishing": ({}, {"disconnected": now}),
        "closed too long ago": ({}, {"disconnected": now - 60}),
        "closed, finished": ({"done": True}, {"disconnected": now - 60}),
        "closed, no application": (None, {"disconnected": now}),
        "interrupted": ({"done": True, "exception": KeyboardInterrupt()}, {}),
    }
    connections = {}
    for name, (application, details) in states.items():
        for copy in range(copies):
            instance = None if application is None else _Application(**application)
            found = {"application_instance": instance, **details} if instance else dict(details)
            connections[name, copy] = (_Protocol(), found, instance)
    return connections


def _outcome(server, connections, records):
    return {
        "left": {
            name: sorted(server.connections.get(protocol, {"gone": 1})) for name, (protocol, *_) in connections.items()
        },
        "cancelled": {name: app.cancel_calls for name, (*_, app) in connections.items() if app is not None},
        "answered": {name: len(protocol.answered) for name, (protocol, *_) in connections.items()},
        "stopped": server.stopped,
        "logged": sorted(
            (record.name, record.levelname, record.getMessage().split(" for connection")[0][:40], bool(record.exc_info))
            for record in records
        ),
    }


def test_the_sliced_application_check_does_what_daphnes_does(reactor, caplog):
    """daphne's own walk and the sliced one, from the same connections in
    every state the checker handles (more than a slice of them): the same
    connections are forgotten, the same applications cancelled, the same
    crashes logged and answered."""
    from daphne import server as daphne_server

    caplog.set_level(logging.WARNING)
    # daphne's own, whether or not a test before this one turned the part on
    # in this process (importing the demo's ASGI module does).
    checker = daphne_server.Server.application_checker
    daphnes = getattr(checker, "__wrapped__", checker)
    assert daphnes.__module__ == "daphne.server"
    copies = daphne_compat.WALK_SLICE // 10 + 1
    outcomes = []
    for walk in ("daphne", "sliced"):
        caplog.clear()
        connections = _connections_in_every_state(copies)
        server = _Server({protocol: details for protocol, details, _ in connections.values()})
        if walk == "daphne":
            server.application_checker = lambda: None
            daphnes(server)
        else:
            visit = functools.partial(daphne_compat._check_application, server)
            daphne_compat._walk_in_slices(server, visit, list)
            reactor.run_all()
        outcomes.append(_outcome(server, connections, caplog.records))
    assert outcomes[0] == outcomes[1]
    assert len(connections) > daphne_compat.WALK_SLICE
    assert outcomes[1]["left"]["closed, finished", 0] == ["gone"]
    assert outcomes[1]["answered"]["crashed, open", 0] == 1 and outcomes[1]["stopped"]


def test_a_crash_whose_answer_fails_is_forgotten_all_the_same(reactor):
    protocol = _Protocol()
    protocol.handle_exception = lambda exception: 1 / 0
    details = {"application_instance": _Application(done=True, exception=ValueError("boom"))}
    server = _Server({protocol: details})
    with pytest.raises(ZeroDivisionError):
        daphne_compat._check_application(server, protocol, details)
    assert server.connections == {protocol: {}}  # not answered again at the next walk
