"""The wheel, installed into a fresh virtualenv beside a minimal site that
has nothing from project/, migrates, serves, and pushes: what
docs/quickstart.md tells a stranger to do."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.live import ROOT, free_port, wait_listening

pytestmark = [pytest.mark.packaging, pytest.mark.redis, pytest.mark.daphne]


def run(*args, cwd, env, timeout=300):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


async def test_the_wheel_installs_into_a_fresh_site_and_pushes_live(tmp_path, clean_redis):
    wheels = tmp_path / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        str(wheels),
        str(ROOT),
        cwd=tmp_path,
        env=os.environ,
    )
    [wheel] = wheels.glob("*.whl")

    venv.create(tmp_path / "venv", with_pip=True)
    bin_dir = tmp_path / "venv" / "bin"
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="mysite.settings",
        SITE_DATABASE=str(tmp_path / "site.sqlite3"),
        REDIS_URL=clean_redis,
        PYTHONPATH=str(tmp_path / "app"),
    )
    run(str(bin_dir / "pip"), "install", "-q", f"{wheel}[daphne]", cwd=tmp_path, env=env)
    shutil.copytree(ROOT / "tests" / "mysite", tmp_path / "app" / "mysite")
    app = tmp_path / "app"

    location = run(
        str(bin_dir / "python"), "-c", "import notifications; print(notifications.__file__)", cwd=app, env=env
    )
    assert str(tmp_path / "venv") in location  # the installed wheel, not this checkout

    run(str(bin_dir / "django-admin"), "migrate", "-v0", cwd=app, env=env)
    run(str(bin_dir / "django-admin"), "check", "--fail-level", "WARNING", cwd=app, env=env)
    cookie = (
        run(
            str(bin_dir / "django-admin"),
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from django.test import Client;"
            "get_user_model().objects.create_user('alice', password='pw'); c = Client();"
            "assert c.login(username='alice', password='pw'); print(c.cookies['sessionid'].value)",
            cwd=app,
            env=env,
        )
        .strip()
        .splitlines()[-1]
    )

    port = free_port()
    log = tmp_path / "daphne.log"
    with log.open("w") as handle:
        server = subprocess.Popen(
            [str(bin_dir / "daphne"), "-e", f"tcp:port={port}:interface=127.0.0.1", "mysite.asgi:application"],
            cwd=app,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, server, log)
        import websockets

        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws/notifications/",
            additional_headers={"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"},
            open_timeout=10,
        ) as socket:
            hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert hello["type"] == "hello" and hello["unread_count"] == 0
            await asyncio.to_thread(
                run,
                str(bin_dir / "django-admin"),
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; from notifications.signals import notify;"
                "u = get_user_model().objects.get(username='alice'); notify.send(u, recipient=u, verb='smoke-tested')",
                cwd=app,
                env=env,
            )
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert frame["type"] == "notification"
            assert frame["notification"]["verb"] == "smoke-tested" and frame["unread_count"] == 1
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "Traceback" not in Path(log).read_text()
