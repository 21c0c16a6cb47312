"""PostgreSQL restarted (or failed over) under two daphne processes holding
open sockets: no process needs a restart. Heartbeats, hellos and pushes
resume by themselves, and every notification created once it is back
reaches its tabs. The database is a PostgreSQL of the test's own."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import need
from tests.live import ROOT, connect, free_port, start_daphne, unexpected_tracebacks

pytestmark = [pytest.mark.daphne, pytest.mark.redis]

SETUP = """
from django.contrib.auth import get_user_model
from django.test import Client
User = get_user_model()
cookies = {}
for name in ("alice", "bob"):
    user = User._default_manager.create_user(username=name, password="pw")
    client = Client()
    client.force_login(user)
    cookies[name] = "sessionid=" + client.cookies["sessionid"].value
import json
print(json.dumps(cookies))
"""
SEND = """
from django.contrib.auth import get_user_model
from notifications.signals import notify
User = get_user_model()
alice, bob = User._default_manager.get(username="alice"), User._default_manager.get(username="bob")
print(notify.send(bob, recipient=alice, verb={verb!r})[0][1][0].id)
"""


def _bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


@dataclass
class OwnPostgres:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/site"

    def ctl(self, *args: str) -> None:
        command = [_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"), "-w", *args]
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=60)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL cluster in a temporary folder, run as the postgres user
    (outside pytest's own temporary folders, which only root may enter)."""
    need(
        "PostgreSQL's initdb and runuser, as root",
        bool(_bin("initdb") and shutil.which("runuser")) and os.geteuid() == 0,
    )
    home = Path(tempfile.mkdtemp(prefix="own-postgres-"))
    home.chmod(0o755)
    data = home / "pg"
    data.mkdir()
    shutil.chown(data, "postgres")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", _bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = OwnPostgres(data, free_port())
    options = f"-p {server.port} -k {data} -c listen_addresses=127.0.0.1"
    server.ctl("-o", options, "start")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", _bin("createdb"), "-h", "127.0.0.1", "-p", str(server.port), "site"],
        check=True,
        capture_output=True,
    )
    try:
        yield server
    finally:
        server.ctl("-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_a_postgresql_restart_under_two_servers_is_survived(own_postgres, clean_redis):
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": own_postgres.url,
    }
    await asyncio.to_thread(manage, env, "migrate", "--noinput")
    cookies = json.loads((await asyncio.to_thread(manage, env, "shell", "-c", SETUP)).splitlines()[-1])
    servers = await asyncio.gather(
        *(
            asyncio.to_thread(
                start_daphne,
                database_url=own_postgres.url,
                redis_url=clean_redis,
                extra_env={"NOTIFICATIONS_HEARTBEAT_SECONDS": "1"},
            )
            for _ in range(2)
        )
    )
    try:
        tabs = [await connect(server, cookie=cookies["alice"]) for server in servers]
        for tab in tabs:
            await tab.frame("hello")

        await asyncio.to_thread(own_postgres.ctl, "-m", "fast", "restart")

        # Heartbeats go on: each round reads the database again.
        for tab in tabs:
            await tab.frame("heartbeat", timeout=15, skip=())
        sent = int((await asyncio.to_thread(manage, env, "shell", "-c", SEND.format(verb="after"))).split()[-1])
        for tab in tabs:
            async with asyncio.timeout(15):
                while (frame := await tab.frame(skip=()))["type"] != "notification":
                    if frame["type"] == "heartbeat" and frame["last_id"] == sent:
                        break  # recovered by the heartbeat rather than the push: also fine
        # A write over a socket, and a new socket's hello, on each server.
        await tabs[0].send({"type": "mark_read", "id": sent})
        for tab in tabs:
            read = await tab.frame("read", timeout=10)
            assert read["ids"] == [sent] and read["unread_count"] == 0
        for server in servers:
            fresh = await connect(server, cookie=cookies["alice"])
            hello = await fresh.frame("hello")
            assert hello["last_id"] == sent and hello["unread_count"] == 0
            await fresh.close()
        for tab in tabs:
            await tab.close()
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        # A query in flight when the database went away may log once; no
        # process keeps failing.
        assert server.proc.returncode is not None
        assert len(unexpected_tracebacks(server.log_text())) <= 4, server.log_text()[-3000:]
