"""chat is a separate app: on a site without notifications it works, and a
mention is simply not a notification."""

import os
import subprocess
import sys

from tests.live import ROOT


def test_chat_works_on_a_site_without_the_notifications_app(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.chatonly.settings",
        "CHAT_ONLY_DATABASE": str(tmp_path / "db.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.chatonly.check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "chat works without notifications" in result.stdout
    assert "Traceback" not in result.stderr
