"""`make run`, as a developer first tries it: the real make target serving
the demo (SQLite, the in-memory layer), a logged-in socket, and a
`notify.send` from `manage.py shell` and an announcement from `manage.py
announce`, other processes, each reaching it within 2 s."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.live import ROOT, free_port, project_files, rung, wait_listening
from tests.system.test_quickstart import Browser, run

pytestmark = [pytest.mark.packaging, pytest.mark.daphne]


@pytest.fixture
def checkout(tmp_path):
    """The tracked files of this checkout, with its virtualenv, in a folder
    of their own: `make run` writes db.sqlite3 where it runs."""
    for name in project_files():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


async def test_a_notify_send_and_an_announce_from_other_processes_reach_the_make_run_demo_within_2_s(checkout):
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "PYTHONPATH", "TEST_RUN_ID"}
    }
    log = checkout / "make-run.log"
    with log.open("w") as handle:
        server = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=checkout,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        await asyncio.to_thread(wait_listening, port, server, log, 180)
        browser = Browser(f"http://127.0.0.1:{port}")
        await asyncio.to_thread(browser.log_in, "alice", "demo")

        import websockets

        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/notifications/",
            additional_headers={"Cookie": browser.cookie_header(), "Origin": f"http://127.0.0.1:{port}"},
            open_timeout=10,
        ) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert hello["type"] == "hello"
            python = str(checkout / ".venv" / "bin" / "python")
            send = (
                "from django.contrib.auth.models import User; from notifications.signals import notify;"
                "alice = User.objects.get(username='alice');"
                "notify.send(User.objects.get(username='bob'), recipient=alice, verb='pinged from the shell')"
            )
            await asyncio.to_thread(run, python, "manage.py", "shell", "-c", send, cwd=checkout, env=env, timeout=60)
            started = time.monotonic()
            notification = await rung(socket, "pinged from the shell", timeout=2)
            assert notification["actor"] == "bob", notification
            print(f"rang {time.monotonic() - started:.2f} s after the shell exited")

            announce = (python, "manage.py", "announce", "Deploy at noon")
            await asyncio.to_thread(run, *announce, cwd=checkout, env=env, timeout=60)
            async with asyncio.timeout(2):
                while (frame := json.loads(await socket.recv()))["type"] != "announcement":
                    pass
            assert frame["announcement"]["title"] == "Deploy at noon"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    assert "Traceback" not in log.read_text(), log.read_text()
