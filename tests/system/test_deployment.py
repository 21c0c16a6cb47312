"""docs/deployment.md's own samples, run: two daphne processes started with
the systemd unit's ExecStart line, behind nginx with the page's config, and a
notification pushed through it. Only ports and paths are substituted."""

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async

from notifications.signals import notify
from tests import factories
from tests.conftest import _database_url, need, session_cookie
from tests.live import ROOT, Daphne, connect, daphne_env, free_port, wait_listening

pytestmark = [pytest.mark.daphne, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

DOC = (ROOT / "docs" / "deployment.md").read_text()


def code_block(language: str) -> str:
    return re.search(rf"```{language}\n(.*?)```", DOC, re.S).group(1)


def exec_start(port: int) -> list[str]:
    unit = code_block("ini").replace("\\\n", " ")
    command = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    command = [part.replace("%i", str(port)) for part in command]
    assert command[0].endswith("/daphne") and command[-1] == "mysite.asgi:application"
    return [sys.executable, "-m", "daphne", *command[1:-1], "project.asgi:application"]


def nginx_config(tmp: Path, port: int, upstreams: list[int]) -> str:
    block = code_block("nginx")
    block = block.replace("server 127.0.0.1:8001;", f"server 127.0.0.1:{upstreams[0]};")
    block = block.replace("server 127.0.0.1:8002;", f"server 127.0.0.1:{upstreams[1]};")
    block = block.replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
    block = block.replace("/srv/mysite/static/", f"{tmp}/static/")
    temp = " ".join(f"{name}_temp_path {tmp}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        f"daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; {temp}\n{block}\n}}\n"
    )


@pytest.fixture
def deployment(tmp_path, redis_layer):
    need("nginx", bool(shutil.which("nginx")))
    processes = []
    ports = [free_port(), free_port()]
    env = daphne_env(database_url=_database_url(), redis_url=redis_layer)
    for port in ports:
        log = tmp_path / f"daphne-{port}.log"
        process = subprocess.Popen(exec_start(port), cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        wait_listening(port, process, log)
        processes.append(Daphne(port=port, proc=process, log=log, env=env))
    (tmp_path / "static").mkdir()
    front = free_port()
    (tmp_path / "nginx.conf").write_text(nginx_config(tmp_path, front, ports))
    nginx = subprocess.Popen(
        ["nginx", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_listening(front, nginx, tmp_path / "error.log")
    yield Daphne(port=front, proc=nginx, log=tmp_path / "error.log", env=env)
    nginx.terminate()
    nginx.wait(timeout=10)
    for process in processes:
        process.stop()


async def test_the_documented_nginx_and_daphne_setup_serves_and_pushes(deployment):
    import urllib.request

    alice = await database_sync_to_async(factories.user)("alice")
    page = await asyncio.to_thread(urllib.request.urlopen, deployment.url + "/accounts/login/")
    assert page.status == 200
    cookie = await database_sync_to_async(session_cookie)(alice)
    sockets = [await connect(deployment, cookie=cookie) for _ in range(4)]  # least_conn spreads them
    for socket in sockets:
        assert (await socket.frame("hello"))["user"] == alice.pk
    await database_sync_to_async(notify.send)(alice, recipient=alice, verb="through nginx")
    for socket in sockets:
        assert (await socket.frame("notification"))["notification"]["verb"] == "through nginx"
        await socket.close()


def test_the_documented_systemd_unit_verifies(tmp_path):
    """systemd's own checker reports nothing for the unit, with only its
    paths pointed at this checkout (it says so for any unknown key or value)."""
    need("systemd-analyze", bool(shutil.which("systemd-analyze")))
    daphne = Path(sys.executable).with_name("daphne")
    unit = (
        code_block("ini")
        .replace("/srv/mysite/.venv/bin/daphne", str(daphne))
        .replace("/srv/mysite", str(ROOT))
        .replace("/etc/mysite.env", str(tmp_path / "mysite.env"))
    )
    (tmp_path / "mysite.env").write_text("")
    (tmp_path / "daphne@.service").write_text(unit)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "daphne@8001.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout + result.stderr == ""
