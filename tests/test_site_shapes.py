"""The product on the site shape the suite runs on (tests/shapes,
``SITE_SHAPE``): a real daphne, a logged-in user's socket, and what other
processes send it; the pages and the admin; what the checks say."""

import asyncio
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from notifications.swappable import load_notification_model
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


def session_cookie(user) -> str:
    from django.conf import settings

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.daphne
async def test_an_inactive_user_is_refused_like_an_anonymous_one(daphne, ws_client):
    server = await asyncio.to_thread(daphne)
    gone = await sync_to_async(factories.user)("gone")
    cookie = await sync_to_async(session_cookie)(gone)  # a session made while active
    await sync_to_async(type(gone)._default_manager.filter(pk=gone.pk).update)(is_active=False)
    code, frames = await (await connect(server, cookie=cookie)).closed()
    assert code == 4401 and frames == [{"type": "closing", "reason": "not_logged_in"}]


@pytest.mark.django_db
def test_the_pages_the_json_and_the_admin_work(alice, bob):
    from notifications.signals import notify

    notify.send(bob, recipient=alice, verb="commented on", description="nice")
    client = Client()
    client.force_login(alice)
    for url in ("/notifications/", "/notifications/unread/", "/notifications/groups/", "/notifications/preferences/"):
        assert client.get(url).status_code == 200, url
    [item] = client.get("/notifications/api/unread_list/").json()["unread_list"]
    assert item["actor"] == str(bob) and item["recipient"] == factories.wire(alice.pk)
    assert client.get("/notifications/api/preferences/").status_code == 200

    admin = factories.user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    Notification = load_notification_model()
    pages = [
        "/admin/notifications/announcement/",
        "/admin/notifications/announcement/add/",
        "/admin/notifications/channelpreference/",
        "/admin/notifications/delivery/",
        "/admin/notifications/pushsubscription/",
        "/admin/chat/room/",
        "/admin/chat/message/",
    ]
    if Notification._meta.label == "notifications.Notification":
        pages += ["/admin/notifications/notification/", f"/admin/notifications/notification/{item['id']}/change/"]
    for url in pages:
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_a_group_audience_on_a_user_model_without_groups_is_a_clear_error(capsys):
    from django.core.exceptions import ValidationError

    from notifications import services

    if factories.has_groups():
        call_command("check", deploy=True)
        assert "notifications.I015" not in capsys.readouterr().out
        return
    call_command("check")  # not on every command: under --deploy
    assert "notifications.I015" not in capsys.readouterr().err
    call_command("check", deploy=True)
    assert "notifications.I015" in capsys.readouterr().err
    # The command says so before it looks a group up by name.
    with pytest.raises(CommandError, match="has no groups"):
        call_command("announce", "Editors", "--group", "editors")
    group = factories.group("editors")
    with pytest.raises(ValidationError, match="has no groups"):
        services.announcement_create(title="x", audience="groups", groups=[group])
