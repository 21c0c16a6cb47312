"""Publishing without a live Redis: a dead Redis is logged and fails
nothing, and another layer is published to from the publisher thread's event
loop. (On channels-redis: tests/system/test_publish.py.)"""

import logging
import threading

from channels.layers import BaseChannelLayer

from notifications.realtime import publish as publish_module
from notifications.realtime import redis_channel_layer


def test_a_dead_redis_is_logged_and_fails_nothing(settings, caplog):
    # Nothing listens on port 1.
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)}
    publish_module._publishers.clear()
    try:
        with caplog.at_level(logging.WARNING, logger="notifications.realtime"):
            publish_module.publish([("notifications.user.1", {"type": "notifications.frame", "frame": {}})])
            assert publish_module.live_groups(["notifications.user.1"]) is None
        assert "could not publish notifications.frame to notifications.user.1" in caplog.text
        assert "could not tell which groups have members" in caplog.text
    finally:
        publish_module._publishers.clear()


class RecordingLayer(BaseChannelLayer):
    """A layer that is neither channels-redis nor in-memory."""

    sent: list = []

    async def group_send(self, group, message):
        self.sent.append((group, message, threading.current_thread().name))


def test_another_layer_is_published_to_from_the_publisher_thread(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.unit.test_publish.RecordingLayer"}}
    publish_module._publishers.clear()
    try:
        publish_module.publish([("notifications.user.3", {"type": "notifications.frame", "frame": {"n": 3}})])
        assert publish_module.live_groups(["notifications.user.3"]) is None  # cannot tell: all are live
    finally:
        publish_module._publishers.clear()
    message = {"type": "notifications.frame", "frame": {"n": 3}, "group": "notifications.user.3"}
    assert RecordingLayer.sent == [("notifications.user.3", message, "realtime-publisher")]
