"""Without Redis, server processes find what other processes stored through
the database: every WATCH_SECONDS, and on PostgreSQL at once through
LISTEN/NOTIFY, both against real daphne."""

import asyncio
import io
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async as sync_to_async

from tests import factories
from tests.live import ROOT, rung

pytestmark = pytest.mark.daphne

SEND = (
    "from django.contrib.auth import get_user_model; from notifications.signals import notify;"
    "alice = get_user_model().objects.get(username='alice'); notify.send(alice, recipient=alice, verb='{verb}')"
)


def send_from_another_process(server, verb: str) -> None:
    """`manage.py shell` with the server's environment: the same database and
    the in-memory layer, so the write reaches no socket by push."""
    env = {k: v for k, v in server.env.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEND.format(verb=verb)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


async def test_a_send_from_another_process_reaches_the_socket_within_the_watch_interval(daphne, ws_client):
    server = await asyncio.to_thread(daphne)  # the in-memory layer
    alice = await sync_to_async(factories.user)("alice")
    socket = await ws_client(server, alice)
    await asyncio.to_thread(send_from_another_process, server, "from the shell")
    item = await rung(socket.connection, "from the shell", timeout=5)
    assert item["actor"] == "alice"
    await socket.close()


@pytest.mark.postgres
async def test_on_postgresql_the_commit_wakes_the_watch_at_once(daphne, ws_client):
    """The watch ticks every 60 s here: only LISTEN/NOTIFY brings it sooner."""
    server = await asyncio.to_thread(daphne, NOTIFICATIONS_WATCH_SECONDS="60")
    alice = await sync_to_async(factories.user)("alice")
    socket = await ws_client(server, alice)
    await asyncio.to_thread(send_from_another_process, server, "woken")
    item = await rung(socket.connection, "woken", timeout=10)
    assert item["actor"] == "alice"
    await socket.close()


async def test_a_listen_connection_that_cannot_connect_is_a_database_error_for_the_hub_to_retry(monkeypatch):
    from django.db import DatabaseError

    from notifications.realtime import dbwatch

    async def look() -> None:
        raise AssertionError("nothing committed")

    monkeypatch.setattr(dbwatch, "_conninfo", lambda using: "host=127.0.0.1 port=1 dbname=none connect_timeout=2")
    with pytest.raises(DatabaseError):
        await dbwatch.listen(look)


async def test_an_announcement_published_while_the_server_was_down_comes_once_in_hello(daphne, ws_client):
    """``manage.py announce`` while no server runs: the first socket after
    the start gets it in its hello, and the watch does not push it again."""
    from django.core.management import call_command

    alice = await sync_to_async(factories.user)("alice")
    await sync_to_async(call_command)("announce", "While down", stdout=io.StringIO())
    server = await asyncio.to_thread(daphne)  # the in-memory layer; the watch looks every second
    socket = await ws_client(server, alice)
    hello = await socket.frame("hello")
    assert [a["title"] for a in hello["announcements"]] == ["While down"] and hello["unread_count"] == 1
    await socket.nothing(within=3)
    await socket.close()
