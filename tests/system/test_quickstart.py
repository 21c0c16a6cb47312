"""docs/quickstart.md, followed as written: the wheel installed into a fresh
virtualenv, a fresh `django-admin startproject` site, every block of the page
applied to it, daphne started with the page's command line, a login through
the site's real form, and a push from `notify.send` run in another process.

It runs three times: as the page stands (SQLite, the in-memory layer), on
PostgreSQL without Redis, and with REDIS_URL set."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_REDIS_URL, need, redis_available
from tests.live import ROOT, build_wheel, free_port, rung, wait_listening

pytestmark = [pytest.mark.packaging, pytest.mark.daphne]

QUICKSTART = ROOT / "docs" / "quickstart.md"
PASSWORD = "quick-start-1"
BLOCK = re.compile(r"<!-- quickstart: (append|replace|create) (\S+) -->\n```\w*\n(.*?)```", re.S)
SHELL = re.compile(r"```sh\n(.*?)```", re.S)


def run(*args: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def file_blocks() -> list[tuple[str, str, str]]:
    """(action, path, text) for each file the page says to change."""
    return BLOCK.findall(QUICKSTART.read_text())


def shell_lines() -> list[str]:
    """Every command of the page's shell blocks, in order."""
    return [
        line.strip()
        for block in SHELL.findall(QUICKSTART.read_text())
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: Any) -> Path:
    """A virtualenv with the wheel built from this checkout, installed with
    the extras the page's `pip install` line names."""
    [install] = [line for line in shell_lines() if line.startswith("pip install")]
    requirement = shlex.split(install)[2]
    name, _, extras = requirement.partition("[")
    assert name == "django-notifications-live"
    home = tmp_path_factory.mktemp("quickstart")
    wheel = build_wheel(ROOT, home / "wheels")
    venv.create(home / "venv", with_pip=True)
    bin_dir = home / "venv" / "bin"
    # psycopg: the PostgreSQL run's site, like any site on PostgreSQL, has it.
    run(str(bin_dir / "pip"), "install", "-q", f"{wheel}[{extras}", "psycopg[binary]", cwd=home, env=os.environ)
    return bin_dir


def make_site(bin_dir: Path, home: Path, env: dict[str, str], extra_settings: str) -> Path:
    run(str(bin_dir / "django-admin"), "startproject", "mysite", cwd=home, env=env)
    site = home / "mysite"
    for action, relative, text in file_blocks():
        target = site / relative
        assert (action == "create") != target.exists(), f"{action} {relative}: the page and startproject disagree"
        target.parent.mkdir(parents=True, exist_ok=True)
        if action == "append":
            target.write_text(target.read_text() + "\n" + text)
        else:
            target.write_text(text)
    settings = site / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + extra_settings)
    return site


def manage(bin_dir: Path, site: Path, env: dict[str, str], line: str) -> str:
    args = shlex.split(line)
    assert args[:2] == ["python", "manage.py"], line
    if args[2] == "createsuperuser":
        args += ["--noinput", "--username", "alice", "--email", "alice@example.com"]
    return run(str(bin_dir / "python"), *args[1:], cwd=site, env={**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD})


class Browser:
    """Cookies, and pages fetched as a browser would."""

    def __init__(self, base: str):
        from http.cookiejar import CookieJar

        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, timeout=10) as response:
                return response.status, response.geturl(), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, path, ""

    def log_in(self, username: str, password: str) -> str:
        """Fill in the site's login form; returns where it lands."""
        status, url, page = self.get("/notifications/")
        assert status == 200 and "/accounts/login/" in url, (status, url)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        follow = re.search(r'name="next" value="([^"]*)"', page).group(1)
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": follow}
        ).encode()
        request = urllib.request.Request(url, data=body, headers={"Referer": url})
        with self.opener.open(request, timeout=10) as response:
            return response.geturl()

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


@pytest.mark.parametrize("variant", ["as-written", "postgresql-no-redis", "redis"])
async def test_the_quickstart_as_written_gives_a_live_site(variant, installed, tmp_path, request):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"}}
    env.pop("REDIS_URL", None)
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    extra_settings = ""
    if variant == "postgresql-no-redis":
        url = request.getfixturevalue("postgres_database")
        extra_settings = (
            "\nfrom urllib.parse import urlsplit\n"
            f"_db = urlsplit({url!r})\n"
            "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': _db.path[1:],"
            " 'USER': _db.username, 'HOST': _db.hostname, 'PORT': _db.port}}\n"
        )
    elif variant == "redis":
        need(f"Redis at {TEST_REDIS_URL}", redis_available(TEST_REDIS_URL))
        env["REDIS_URL"] = TEST_REDIS_URL
    site = make_site(installed, tmp_path, env, extra_settings)

    location = run(
        str(installed / "python"), "-c", "import notifications; print(notifications.__file__)", cwd=site, env=env
    )
    assert str(installed.parent) in location  # the installed wheel, not this checkout

    port = free_port()
    server = None
    log = tmp_path / "daphne.log"
    try:
        for line in shell_lines():
            if line.startswith("python manage.py shell"):
                send_line = line
            elif line.startswith("python manage.py"):
                manage(installed, site, env, line)
            elif line.startswith("daphne "):
                args = shlex.split(line.replace("port=8000", f"port={port}"))
                with log.open("w") as handle:
                    server = subprocess.Popen(
                        [str(installed / "daphne"), *args[1:]],
                        cwd=site,
                        env=env,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                    )
                await asyncio.to_thread(wait_listening, port, server, log)
        assert server is not None, "the page starts no daphne"

        checks = manage(installed, site, env, "python manage.py check")
        assert "notifications." not in checks, checks  # W010-W012 stay silent on the quickstart site

        browser = Browser(f"http://127.0.0.1:{port}")
        landed = await asyncio.to_thread(browser.log_in, "alice", PASSWORD)
        assert landed.endswith("/notifications/")
        status, _, inbox = await asyncio.to_thread(browser.get, "/notifications/")
        assert status == 200 and "My site" in inbox and "data-notifications-bell" in inbox  # the site's layout
        status, _, script = await asyncio.to_thread(browser.get, "/static/notifications/bell.js")
        assert status == 200 and "NotificationsClient" in script

        import websockets

        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/notifications/",
            additional_headers={"Cookie": browser.cookie_header(), "Origin": f"http://127.0.0.1:{port}"},
            open_timeout=10,
        ) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert hello["type"] == "hello" and hello["unread_count"] == 0
            # Another process: the page's shell command.
            await asyncio.to_thread(manage, installed, site, env, send_line)
            notification = await rung(socket, "said hello", timeout=10)
            assert notification["actor"] == "alice" and notification["unread"] is True
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    assert "Traceback" not in log.read_text(), log.read_text()


def test_the_readme_block_works_pasted_into_a_startproject_site(installed, tmp_path):
    """README.md's short block, each part at the end of its file of a fresh
    `startproject` site: the site checks without errors and renders the bell."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"}}
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    run(str(installed / "django-admin"), "startproject", "mysite", cwd=tmp_path, env=env)
    site = tmp_path / "mysite"
    readme = (ROOT / "README.md").read_text()
    [block] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "# settings.py" in b]
    parts = re.split(r"^# (settings\.py|urls\.py|asgi\.py)[^\n]*\n", block, flags=re.M)[1:]
    assert [name for name in parts[::2]] == ["settings.py", "urls.py", "asgi.py"]
    for name, text in zip(parts[::2], parts[1::2], strict=True):
        target = site / "mysite" / name
        target.write_text(target.read_text() + "\n" + text)
    python = str(installed / "python")
    run(python, "manage.py", "migrate", cwd=site, env=env)
    checks = subprocess.run(
        [python, "manage.py", "check", "--fail-level", "ERROR"], cwd=site, env=env, capture_output=True, text=True
    )
    assert checks.returncode == 0, checks.stdout + checks.stderr
    render = (
        "from django.contrib.auth.models import User; from django.template import engines;"
        "from django.test import RequestFactory; import mysite.asgi;"
        "request = RequestFactory().get('/'); request.user = User.objects.create_user('ann');"
        "print(engines['django'].from_string('{% load notifications_tags %}{% notifications_bell %}')"
        ".render({'user': request.user}, request))"
    )
    assert "data-notifications-bell" in run(python, "manage.py", "shell", "-c", render, cwd=site, env=env)


ROUTES = (
    "import chat, mysite.asgi; from channels.routing import URLRouter;"
    "router = mysite.asgi.application.application_mapping['websocket']\n"
    "while not isinstance(router, URLRouter): router = getattr(router, 'application', None) or router.inner\n"
    "print(chat.__file__); print(' '.join(str(route.pattern) for route in router.routes))"
)
ASGI = (
    "import os\nfrom notifications.asgi import get_asgi_application\n"
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')\napplication = get_asgi_application()\n"
)
SETTINGS = (
    "\nINSTALLED_APPS += ['channels', 'notifications', 'chat']\nASGI_APPLICATION = 'mysite.asgi.application'\n"
    "CHANNEL_LAYERS = {'default': {'BACKEND': 'channels.layers.InMemoryChannelLayer'}}\n"
)


def test_a_site_with_its_own_chat_app_keeps_it_and_ours_comes_as_its_own_wheel(installed, tmp_path):
    """The notifications wheel claims no name but its own; chat is the
    django-notifications-live-chat distribution (chat/pyproject.toml)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"}}
    env["PATH"] = f"{installed}{os.pathsep}{env['PATH']}"
    python = str(installed / "python")
    [wheel] = (installed.parent.parent / "wheels").glob("*.whl")  # what the site installed
    packed = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert packed == {"notifications", wheel.name.split("-py3")[0] + ".dist-info"}

    def site(name: str, own_chat: bool) -> Path:
        where = tmp_path / name
        where.mkdir()
        run(str(installed / "django-admin"), "startproject", "mysite", name, cwd=tmp_path, env=env)
        if own_chat:
            run(python, "manage.py", "startapp", "chat", cwd=where, env=env)
        (where / "mysite" / "asgi.py").write_text(ASGI)
        settings = where / "mysite" / "settings.py"
        settings.write_text(settings.read_text() + SETTINGS)
        run(python, "manage.py", "migrate", cwd=where, env=env)
        run(python, "manage.py", "check", "--fail-level", "ERROR", cwd=where, env=env)
        return where

    theirs = site("theirs", own_chat=True)
    module, routes = run(python, "manage.py", "shell", "-c", ROUTES, cwd=theirs, env=env).splitlines()[-2:]
    assert module.startswith(str(theirs / "chat")) and routes.split() == ["ws/notifications/"]

    wheel = build_wheel(ROOT / "chat", tmp_path / "wheels")
    run(str(installed / "pip"), "install", "-q", "--no-deps", str(wheel), cwd=tmp_path, env=env)
    try:
        ours = site("ours", own_chat=False)
        module, routes = run(python, "manage.py", "shell", "-c", ROUTES, cwd=ours, env=env).splitlines()[-2:]
        assert str(installed.parent) in module
        assert routes.split() == ["ws/notifications/", "ws/chat/", "ws/chat/<str:slug>/"]
    finally:
        run(str(installed / "pip"), "uninstall", "-q", "-y", "django-notifications-live-chat", cwd=tmp_path, env=env)


def test_the_chat_distribution_moves_with_the_notifications_one():
    import tomllib

    import notifications

    chat = tomllib.loads((ROOT / "chat" / "pyproject.toml").read_text())["project"]
    assert chat["version"] == notifications.__version__
    assert chat["dependencies"] == [f"django-notifications-live=={notifications.__version__}"]
