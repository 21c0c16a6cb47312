"""The layering of docs/architecture.md holds: the wire-level modules, the
apps' protocols, the selectors and both confs load without the server (the
consumer, the hub, daphne_compat, Channels' WebSocket consumer)."""

import json

from tests.unit.test_foundation import run_python

SERVER_MODULES = (
    "notifications.realtime.consumer",
    "notifications.realtime.hub",
    "notifications.realtime.daphne_compat",
    "channels.generic.websocket",
)

LOWER_LAYERS = ("notifications.protocol", "chat.protocol", "notifications.selectors", "notifications.conf", "chat.conf")


def test_protocols_selectors_and_confs_load_without_the_server():
    code = (
        "import json, sys, django; django.setup(); "
        + "".join(f"import {module}; " for module in LOWER_LAYERS)
        + f"print(json.dumps([m for m in {list(SERVER_MODULES)!r} if m in sys.modules]))"
    )
    result = run_python(code, DJANGO_SETTINGS_MODULE="tests.settings")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_old_import_paths_of_the_wire_names_still_work():
    from notifications.realtime import consumer, socket_limit, wire

    assert consumer.ErrorCode is wire.ErrorCode
    assert consumer.FrameError is wire.FrameError
    assert consumer.CloseCode is wire.CloseCode
    assert consumer.control_group is wire.control_group
    assert consumer.TokenBucket is socket_limit.TokenBucket
