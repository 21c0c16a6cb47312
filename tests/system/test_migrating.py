"""docs/migrating.md, followed as written on a site built on
django-notifications (tests/migrating/site): a custom user model, its own
login pages (allauth's URL names) and inbox, email sent from a ``post_save``
receiver on ``Notification``, ``data`` written and read, a ``Group`` as
recipient.

The site runs its own tests on django-notifications-hq 1.8.3 and Django
5.0 (the newest it runs on) and stores a notification; then Django is
upgraded, every block of the page is applied, the site's tests run again,
its stored notification is still there, daphne serves it with the page's
command, a login through the site's own form opens a socket, and a send from
another process rings it (and emails, from the receiver)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import textwrap
import urllib.parse
import urllib.request
import venv
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, build_wheel, free_port, wait_listening

pytestmark = [pytest.mark.packaging, pytest.mark.daphne]

PAGE = ROOT / "docs" / "migrating.md"
SITE = ROOT / "tests" / "migrating" / "site"
BLOCK = re.compile(r"<!-- migrating: (append|replace|create) (\S+) -->\n(\s*)```\w*\n(.*?)```", re.S)
SHELL = re.compile(r"^(\s*)```sh\n(.*?)^\s*```", re.S | re.M)

STORE = """
from django.contrib.auth import get_user_model
from lending.models import Item
from lending.services import loan_request
Member = get_user_model()
olga = Member.objects.create_user("olga", "olga@example.com", "pw")
bert = Member.objects.create_user("bert", "bert@example.com", "pw")
loan = loan_request(item=Item.objects.create(title="Ladder", owner=olga), borrower=bert)
print(loan.pk)
"""
READ = """
import json
from django.contrib.auth import get_user_model
olga = get_user_model().objects.get(username="olga")
print(json.dumps([[n.verb, n.data, n.unread] for n in olga.notifications.unread()]))
"""
SEND = """
from django.contrib.auth import get_user_model
from lending.models import Item
from lending.services import loan_request
Member = get_user_model()
olga, bert = Member.objects.get(username="olga"), Member.objects.get(username="bert")
loan_request(item=Item.objects.create(title="Tent", owner=olga), borrower=bert)
"""


def run(*args: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def file_blocks() -> list[tuple[str, str, str]]:
    """(action, path, text) for each file the page says to change; the
    blocks sit in a numbered list, so they are indented."""
    return [(action, path, textwrap.dedent(text)) for action, path, _, text in BLOCK.findall(PAGE.read_text())]


def shell_lines() -> list[str]:
    return [
        line.strip()
        for _, block in SHELL.findall(PAGE.read_text())
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: Any) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


async def arrived(socket: Any, *, target: str, timeout: float) -> dict[str, Any]:
    """What the page's client does (tests.live.rung), for the notification
    on ``target``: pushed, or synced after a heartbeat shows a newer id."""
    last_id = 0
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == "hello":
                last_id = frame["last_id"] or 0
            elif frame["type"] == "heartbeat" and (frame["last_id"] or 0) > last_id:
                await socket.send(json.dumps({"type": "sync", "after": last_id}))
            items = [frame["notification"]] if frame["type"] == "notification" else frame.get("notifications", [])
            for item in items:
                if item.get("target") == target:
                    return item


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def log_in(self, path: str, username: str, password: str) -> str:
        page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
        request = urllib.request.Request(self.base + path, data=body.encode(), headers={"Referer": self.base + path})
        with self.opener.open(request, timeout=10) as response:
            return response.geturl()

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


async def test_migrating_md_as_written_keeps_a_django_notifications_site_working_and_makes_it_live(wheel, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"}}
    env.pop("REDIS_URL", None)
    site = tmp_path / "site"
    shutil.copytree(SITE, site, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))
    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    python = str(bin_dir / "python")

    # Before: the site on django-notifications-hq, its tests green, one
    # notification stored. jsonfield 3.1 keeps data in a text column (3.2
    # moved to Django's JSONField), so the site's data__contains="..." is a
    # substring match there.
    before = ("Django>=5.0,<5.1", "django-notifications-hq==1.8.3", "jsonfield==3.1.0")
    run(str(bin_dir / "pip"), "install", "-q", *before, cwd=site, env=env)
    run(python, "manage.py", "migrate", cwd=site, env=env)
    assert "OK" in run(python, "manage.py", "test", cwd=site, env=env)
    loan = int(run(python, "manage.py", "shell", "-c", STORE, cwd=site, env=env).split()[-1])
    stored = json.loads(run(python, "manage.py", "shell", "-c", READ, cwd=site, env=env).splitlines()[-1])
    assert stored == [["asked to borrow", {"loan": loan}, True]]

    # The page, as written.
    lines = shell_lines()
    assert lines[0].startswith("pip uninstall") and lines[1].startswith("pip install")
    run(str(bin_dir / "pip"), *shlex.split(lines[0])[1:], cwd=site, env=env)
    extras = shlex.split(lines[1])[2].partition("[")[2]
    run(str(bin_dir / "pip"), "install", "-q", f"{wheel}[{extras}", cwd=site, env=env)
    blocks = file_blocks()
    assert [(action, path) for action, path, _ in blocks] == [
        ("append", "mysite/settings.py"),
        ("replace", "mysite/asgi.py"),
    ]
    for action, relative, text in blocks:
        target = site / relative
        target.write_text((target.read_text() + "\n" + text) if action == "append" else text)
    port = free_port()
    server = None
    log = tmp_path / "daphne.log"
    try:
        for line in lines[2:]:
            if line.startswith("python manage.py"):
                run(python, *shlex.split(line)[1:], cwd=site, env=env)
            elif line.startswith("daphne "):
                args = shlex.split(line.replace("port=8000", f"port={port}"))
                with log.open("w") as handle:
                    server = subprocess.Popen(
                        [str(bin_dir / "daphne"), *args[1:]], cwd=site, env=env, stdout=handle, stderr=subprocess.STDOUT
                    )
                await asyncio.to_thread(wait_listening, port, server, log)
        assert server is not None, "the page starts no daphne"

        # After: the site's own tests, its stored notification, no warnings.
        assert "OK" in run(python, "manage.py", "test", cwd=site, env=env)
        after = json.loads(run(python, "manage.py", "shell", "-c", READ, cwd=site, env=env).splitlines()[-1])
        assert after == stored
        checks = run(python, "manage.py", "check", cwd=site, env=env)
        assert "notifications." not in checks, checks

        browser = Browser(f"http://127.0.0.1:{port}")
        landed = await asyncio.to_thread(browser.log_in, "/account/login/", "olga", "pw")
        assert landed.endswith(f"127.0.0.1:{port}/")  # the site's own LOGIN_REDIRECT_URL, its inbox
        import websockets

        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/notifications/",
            additional_headers={"Cookie": browser.cookie_header(), "Origin": f"http://127.0.0.1:{port}"},
            open_timeout=10,
        ) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert hello["type"] == "hello" and hello["unread_count"] == 1
            # Another process, with the site's receiver: a push and an email.
            printed = await asyncio.to_thread(run, python, "manage.py", "shell", "-c", SEND, cwd=site, env=env)
            assert "Subject: bert asked to borrow" in printed and "To: olga@example.com" in printed
            pushed = await arrived(socket, target="Tent", timeout=10)
            assert (pushed["verb"], pushed["actor"]) == ("asked to borrow", "bert")

        inbox = await asyncio.to_thread(browser.get, "/")
        assert "2 loan request(s)" in inbox and f"bert asked to borrow Ladder (loan {loan})" in inbox
        listing = json.loads(await asyncio.to_thread(browser.get, "/inbox/notifications/api/unread_list/"))
        assert {"recipient", "actor_content_type", "actor_object_id", "target_object_id", "data"} <= set(
            listing["unread_list"][0]
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()
