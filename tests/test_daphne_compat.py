"""The formatting and settings shortcuts daphne_compat takes on every frame
daphne sends keep the results they replace."""

from autobahn import util
from autobahn.websocket import protocol as autobahn_protocol

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
