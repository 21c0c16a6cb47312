"""The demo's email: SMTP when EMAIL_HOST and EMAIL_PORT are set, printed to
the console otherwise; `notifications_deliver` run as cron would."""

import subprocess
import sys

import pytest

from notifications.signals import notify
from tests import factories
from tests.conftest import _database_url
from tests.live import ROOT, daphne_env


def deliver(env: dict[str, str]) -> str:
    command = [sys.executable, "manage.py", "notifications_deliver"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.django_db(transaction=True)
def test_the_demo_prints_emails_without_an_smtp_host_and_sends_them_with_one(smtp):
    alice = factories.user("alice", email="alice@example.com")
    bob = factories.user("bob")
    env = daphne_env(database_url=_database_url(), redis_url=None)
    for name in ("EMAIL_HOST", "EMAIL_PORT"):
        env.pop(name, None)

    notify.send(bob, recipient=alice, verb="pinged", channels={"email": "immediate"})
    printed = deliver(env)
    assert "Subject: bob pinged" in printed and "To: alice@example.com" in printed
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in printed
    assert printed.rstrip().endswith("1 sent, 0 skipped, 0 deferred, 0 to retry, 0 failed.")
    assert smtp.messages == []

    notify.send(bob, recipient=alice, verb="pinged again", channels={"email": "immediate"})
    env.update(EMAIL_HOST=smtp.host, EMAIL_PORT=str(smtp.port))
    assert "Subject:" not in deliver(env)
    assert smtp.wait_for(1)[0]["Subject"] == "bob pinged again"
