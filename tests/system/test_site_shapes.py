"""The product on the site shape the suite runs on (tests/shapes,
``SITE_SHAPE``), on a real daphne: a logged-in user's socket and what other
processes send it; an inactive user refused."""

import asyncio
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from tests import factories
from tests.live import ROOT, connect, rung

SHELL_SEND = (
    "from django.contrib.auth import get_user_model; from notifications.signals import notify;"
    "User = get_user_model(); ann = User._default_manager.get_by_natural_key({name!r});"
    "notify.send(ann, recipient=ann, verb={verb!r})"
)


def manage(server, *args: str) -> str:
    """A management command in another process, with the server's environment."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def frames_until(socket, kind: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = await socket.frame(skip=())
            if frame["type"] == kind:
                return frame


def session_cookie(user) -> str:
    from django.conf import settings

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.daphne
async def test_a_socket_gets_hello_and_what_other_processes_send(daphne, ws_client):
    """Without Redis: the server process finds the shell's notification and
    the command's announcement in the database. The chat room and its
    mention, over the same server."""
    server = await asyncio.to_thread(daphne)
    ann = await sync_to_async(factories.user)("ann")
    ben = await sync_to_async(factories.user)("ben")
    await sync_to_async(factories.room)("general")

    bell = await ws_client(server, ann)
    hello = await bell.frame("hello")
    assert hello["user"] == factories.wire(ann.pk) and hello["unread_count"] == 0

    await asyncio.to_thread(manage, server, "shell", "-c", SHELL_SEND.format(name=ann.get_username(), verb="pinged"))
    item = await rung(bell.connection, "pinged", timeout=10)
    assert item["actor"] == str(ann)

    await asyncio.to_thread(manage, server, "announce", "Maintenance at ten")
    announced = await frames_until(bell, "announcement")
    assert announced["announcement"]["title"] == "Maintenance at ten"

    cookie = await sync_to_async(session_cookie)(ben)
    room = await connect(server, cookie=cookie, path="/ws/chat/general/")
    assert (await room.frame("history"))["messages"] == []
    online = (await room.frame("presence"))["online"]
    assert online == [{"id": factories.wire(ben.pk), "username": ben.get_username()}]
    await room.send({"type": "message", "body": f"hi @{ann.get_username()}", "client_id": "m1"})
    mention = await frames_until(bell, "notification")
    assert mention["notification"]["verb"] == "mentioned you in" and mention["notification"]["actor"] == str(ben)
    await room.close()
    await bell.close()


@pytest.mark.daphne
@pytest.mark.redis
async def test_over_redis_a_push_from_another_process_reaches_both_servers(daphne, ws_client, redis_layer):
    first, second = await asyncio.gather(
        asyncio.to_thread(daphne, redis_url=redis_layer), asyncio.to_thread(daphne, redis_url=redis_layer)
    )
    ann = await sync_to_async(factories.user)("ann")
    ben = await sync_to_async(factories.user)("ben")
    tabs = [await ws_client(first, ann), await ws_client(second, ann)]
    for tab in tabs:
        await tab.frame("hello")
    from notifications.signals import notify

    # A bulk send (one event for every process) and a personal one.
    User = get_user_model()
    await sync_to_async(notify.send)(ben, recipient=User._default_manager.filter(pk=ann.pk), verb="bulk")
    await sync_to_async(notify.send)(ben, recipient=ann, verb="personal")
    for tab in tabs:
        assert (await tab.frame("notification"))["notification"]["verb"] == "bulk"
        pushed = await tab.frame("notification")
        assert pushed["notification"]["verb"] == "personal" and pushed["unread_count"] == 2
    await tabs[0].send({"type": "mark_all_read"})
    assert (await tabs[1].frame("read"))["unread_count"] == 0
    for tab in tabs:
        await tab.close()


@pytest.mark.daphne
async def test_an_inactive_user_is_refused_like_an_anonymous_one(daphne, ws_client):
    server = await asyncio.to_thread(daphne)
    gone = await sync_to_async(factories.user)("gone")
    cookie = await sync_to_async(session_cookie)(gone)  # a session made while active
    await sync_to_async(type(gone)._default_manager.filter(pk=gone.pk).update)(is_active=False)
    code, frames = await (await connect(server, cookie=cookie)).closed()
    assert code == 4401 and frames == [{"type": "closing", "reason": "not_logged_in"}]
