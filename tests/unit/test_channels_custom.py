"""A site's own channel: the webhook example of docs/channels.md, as written,
against a real local HTTP server."""

from __future__ import annotations

import json
import re
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import checks

from notifications.outbound.services import deliveries_send_due
from notifications.signals import notify
from tests.live import ROOT

pytestmark = pytest.mark.django_db


def docs_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "channels.md").read_text(), re.S)
    [block] = [b for b in blocks if containing in b]
    return block


@pytest.fixture
def webhook_site(settings):
    """The example channel as module ``myproject.channels``, named in
    settings as the docs show, and a server that records each POST."""
    module = types.ModuleType("myproject.channels")
    exec(docs_block("class WebhookChannel"), module.__dict__)
    sys.modules["myproject"] = types.ModuleType("myproject")
    sys.modules["myproject.channels"] = module
    namespace: dict = {}
    exec(docs_block('"CHANNEL_CLASSES"'), namespace)
    settings.DJANGO_NOTIFICATIONS_CONFIG = namespace["DJANGO_NOTIFICATIONS_CONFIG"]

    received: list[dict] = []
    status = {"code": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(status["code"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.NOTIFICATIONS_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield types.SimpleNamespace(received=received, status=status)
    server.shutdown()
    server.server_close()
    del sys.modules["myproject.channels"], sys.modules["myproject"]


def test_the_webhook_channel_of_the_docs_posts_each_notification(webhook_site, alice, bob, settings):
    assert [e for e in checks.run_checks() if e.id.startswith("notifications.E02")] == []
    [(_, [notice])] = notify.send(bob, recipient=alice, verb="mentioned you in")
    report = deliveries_send_due()
    assert [d.channel for d in report.sent] == ["webhook"]  # email stays a fallback, not due yet
    assert webhook_site.received == [
        {"id": notice.pk, "recipient": "alice", "category": "default", "text": "bob mentioned you in"}
    ]

    webhook_site.status["code"] = 500
    notify.send(bob, recipient=alice, verb="pinged")
    report = deliveries_send_due()
    assert len(report.retrying) == 1 and "HTTP Error 500" in report.retrying[0][1]

    settings.NOTIFICATIONS_WEBHOOK_URL = ""
    notify.send(bob, recipient=alice, verb="pinged again")
    assert [reason for _, reason in deliveries_send_due().skipped] == ["no webhook URL is set"]


def test_a_channel_class_that_is_not_a_channel_is_a_check_error(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"CHANNEL_CLASSES": {"fax": "builtins.dict"}, "CHANNELS": ["fax"]}
    [error] = [e for e in checks.run_checks() if e.id == "notifications.E023"]
    assert "is not a notifications.outbound.base.Channel" in error.msg


def test_web_push_without_keys_is_a_check_warning(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"CHANNELS": ["webpush"]}
    warnings = [e.msg for e in checks.run_checks() if e.id == "notifications.W024"]
    assert any("VAPID_PRIVATE_KEY" in message for message in warnings)
