"""Revocation and isolation, against real daphne on real Redis."""

import asyncio
import time
import urllib.parse
import urllib.request

import pytest
from channels.db import database_sync_to_async as sync_to_async

from notifications.models import Notification
from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import connect, http_login

pytestmark = [pytest.mark.daphne, pytest.mark.redis]


async def open_all(server, cookie):
    """A user's notification socket in two tabs, and a chat room socket."""
    sockets = [await connect(server, cookie=cookie), await connect(server, cookie=cookie)]
    for socket in sockets:
        await socket.frame("hello")
    room = await connect(server, cookie=cookie, path="/ws/chat/general/")
    await room.frame("history")
    return [*sockets, room]


async def closed_within(sockets, seconds, reason):
    started = time.monotonic()
    for socket in sockets:
        code, frames = await socket.closed(timeout=seconds)
        assert code == 4408
        assert {"type": "closing", "reason": reason} in frames
        assert not [f for f in frames if f["type"] == "notification"]
    return time.monotonic() - started


@pytest.mark.parametrize("change", ["password_changed", "deactivated"])
async def test_a_password_change_or_deactivation_closes_every_socket_within_2s(daphne, redis_layer, change):
    alice = await sync_to_async(factories.user)("alice")
    await sync_to_async(factories.room)("general")
    cookie = await sync_to_async(session_cookie)(alice)
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    sockets = await open_all(server, cookie)

    def change_user():
        if change == "password_changed":
            alice.set_password("new secret")
        else:
            alice.is_active = False
        alice.save()

    await sync_to_async(change_user)()
    took = await closed_within(sockets, 2, change)
    assert took < 2
    # The old session no longer opens a socket.
    again = await connect(server, cookie=cookie)
    assert (await again.closed())[0] == 4401


async def test_logout_in_another_tab_closes_that_sessions_sockets_only(daphne, redis_layer):
    await sync_to_async(factories.user)("alice")
    await sync_to_async(factories.room)("general")
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    opener, cookies = await asyncio.to_thread(http_login, server, "alice")
    _, other = await asyncio.to_thread(http_login, server, "alice")
    ended = await open_all(server, f"sessionid={cookies['sessionid']}")
    kept = await open_all(server, f"sessionid={other['sessionid']}")

    def logout():
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": cookies["csrftoken"]}).encode()
        opener.open(urllib.request.Request(server.url + "/accounts/logout/", data=body))

    await asyncio.to_thread(logout)
    assert await closed_within(ended, 2, "logged_out") < 2
    for socket in kept[:2]:
        await socket.send({"type": "ping"})
        assert await socket.frame("pong") == {"type": "pong"}


async def test_no_frame_reaches_or_changes_another_users_notifications(daphne, redis_layer):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    alices = await connect(server, cookie=await sync_to_async(session_cookie)(alice))
    await alices.frame("hello")
    [(_, [bobs_notification])] = await sync_to_async(notify.send)(alice, recipient=bob, verb="private")
    await alices.nothing(within=0.5)
    missing = bobs_notification.id + 1000
    for kind in ("mark_read", "mark_unread", "delete"):
        answers = []
        for target in (bobs_notification.id, missing):
            await alices.send({"type": kind, "id": target})
            answers.append(await alices.frame("error"))
        # The same answer whether or not the id exists.
        assert answers[0] == answers[1] == {"type": "error", "code": "not_found", "message": "No such notification."}
    await alices.send({"type": "sync", "after": 0})
    assert (await alices.frame("sync"))["notifications"] == []
    stored = await sync_to_async(Notification.objects.get)(pk=bobs_notification.id)
    assert stored.unread and not stored.deleted
    await alices.close()


async def test_a_private_room_refuses_non_members_with_4403_and_tells_nothing(daphne, redis_layer):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    carol = await sync_to_async(factories.user)("carol")
    await sync_to_async(factories.room)("team", private=True, members=(alice, bob))
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    cookie = await sync_to_async(session_cookie)(carol)
    answers = []
    for slug in ("team", "no-such-room"):
        socket = await connect(server, cookie=cookie, path=f"/ws/chat/{slug}/")
        answers.append(await socket.closed())
    assert answers[0] == answers[1] == (4403, [{"type": "closing", "reason": "forbidden"}])
