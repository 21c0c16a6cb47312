"""Real daphne processes sharing real Redis: pushes from a third process,
recovery of a dropped push by the heartbeat, and cross-process revocation."""

import asyncio
import urllib.parse
import urllib.request

import pytest
from channels.db import database_sync_to_async as sync_to_async

from notifications import protocol
from notifications.models import Notification
from notifications.realtime.publish import live_groups
from notifications.signals import notify
from tests import factories
from tests.live import http_login

pytestmark = [pytest.mark.daphne, pytest.mark.redis]


async def two_servers(daphne, redis_url, **env):
    return await asyncio.gather(
        asyncio.to_thread(daphne, redis_url=redis_url, **env),
        asyncio.to_thread(daphne, redis_url=redis_url, **env),
    )


async def test_a_notification_from_a_third_process_reaches_both_daphnes(daphne, ws_client, redis_layer):
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    first, second = await two_servers(daphne, redis_layer)
    on_first, on_second = await ws_client(first, alice), await ws_client(second, alice)
    bobs = await ws_client(second, bob)
    for socket in (on_first, on_second, bobs):
        await socket.frame("hello")

    # This test process is the third process: it publishes through Redis.
    [(_, [created])] = await sync_to_async(notify.send)(bob, recipient=alice, verb="pinged")
    for socket in (on_first, on_second):
        pushed = await socket.frame("notification")
        assert pushed["notification"]["id"] == created.id and pushed["unread_count"] == 1
    await bobs.nothing(within=0.5)

    # Read in one process's tab; the other process's tab hears it.
    await on_first.send({"type": "mark_read", "id": created.id})
    assert await on_second.frame("read") == {"type": "read", "ids": [created.id], "unread_count": 0, "unseen_count": 0}
    for socket in (on_first, on_second, bobs):
        await socket.close()


async def test_a_dropped_push_is_recovered_within_one_heartbeat(daphne, ws_client, redis_layer):
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    first, second = await two_servers(daphne, redis_layer, NOTIFICATIONS_HEARTBEAT_SECONDS="1")
    sockets = [await ws_client(first, alice), await ws_client(second, alice)]
    for socket in sockets:
        assert (await socket.frame("hello"))["heartbeat"] == 1

    def store_without_push():
        # A plain ORM create skips the services, exactly as if the channel
        # layer had dropped the push.
        return Notification.objects.create(recipient=alice, actor=bob, verb="dropped")

    dropped = await sync_to_async(store_without_push)()
    for socket in sockets:
        beat = await socket.frame("heartbeat", timeout=3, skip=())
        while beat["last_id"] != dropped.id:
            beat = await socket.frame("heartbeat", timeout=3, skip=())
        assert beat == {"type": "heartbeat", "last_id": dropped.id, "unread_count": 1, "unseen_count": 1}
        # The client sees an id it never got, and syncs from its cursor.
        await socket.send({"type": "sync", "after": 0})
        replay = await socket.frame("sync")
        assert [n["id"] for n in replay["notifications"]] == [dropped.id]
        assert replay["complete"] is True
        await socket.close()


async def test_logout_in_one_process_closes_that_sessions_sockets_in_every_process(daphne, redis_layer):
    from tests.live import connect

    await sync_to_async(factories.user)("alice")
    first, second = await two_servers(daphne, redis_layer)
    opener, cookies = await asyncio.to_thread(http_login, first, "alice")
    _, other_cookies = await asyncio.to_thread(http_login, first, "alice")
    cookie = f"sessionid={cookies['sessionid']}"
    sockets = [await connect(first, cookie=cookie), await connect(second, cookie=cookie)]
    other_session = await connect(second, cookie=f"sessionid={other_cookies['sessionid']}")
    for socket in [*sockets, other_session]:
        await socket.frame("hello")

    def logout():
        token = cookies["csrftoken"]
        request = urllib.request.Request(
            first.url + "/accounts/logout/",
            data=urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode(),
            headers={"Referer": first.url + "/"},
        )
        opener.open(request)

    await asyncio.to_thread(logout)
    for socket in sockets:
        code, frames = await socket.closed(timeout=2)
        assert code == 4408
        assert {"type": "closing", "reason": "logged_out"} in frames
    await other_session.send({"type": "ping"})
    assert await other_session.frame("pong") == {"type": "pong"}
    await other_session.close()

    # The ended session can no longer connect.
    again = await connect(second, cookie=cookie)
    code, _ = await again.closed()
    assert code == 4401


async def test_announcements_reach_exactly_their_audience_across_processes(daphne, ws_client, redis_layer):
    from datetime import timedelta

    from django.utils import timezone

    from notifications import services
    from notifications.models import Audience

    staff = await sync_to_async(factories.user)("sam", is_staff=True)
    editor = await sync_to_async(factories.user)("eve")
    plain = await sync_to_async(factories.user)("pat")
    await sync_to_async(factories.group)("editors", editor)
    first, second = await two_servers(daphne, redis_layer, NOTIFICATIONS_SCHEDULE_SECONDS="1")
    sockets = {
        (user.username, server.port): await ws_client(server, user)
        for user in (staff, editor, plain)
        for server in (first, second)
    }
    for socket in sockets.values():
        await socket.frame("hello")

    def publish_staff_only():
        announcement = services.announcement_create(title="Staff only", audience=Audience.STAFF)
        services.announcement_publish(announcement=announcement)
        return announcement

    staff_only = await sync_to_async(publish_staff_only)()
    for (username, _), socket in sockets.items():
        if username == "sam":
            assert (await socket.frame("announcement"))["announcement"]["id"] == staff_only.pk
    # Nothing more for staff, and nothing at all for the others.
    await asyncio.gather(*(socket.nothing(within=0.5) for socket in sockets.values()))

    # Scheduled: both processes poll; exactly one claims it; every socket gets it once.
    scheduled = await sync_to_async(services.announcement_create)(
        title="Soon", publish_at=timezone.now() + timedelta(seconds=1.5)
    )
    for socket in sockets.values():
        frame = await socket.frame("announcement", timeout=6)
        assert frame["announcement"]["id"] == scheduled.pk
    await asyncio.gather(*(socket.nothing(within=2.5) for socket in sockets.values()))
    for socket in sockets.values():
        await socket.close()


async def test_a_notification_to_a_large_group_reaches_each_connected_member_once(daphne, ws_client, redis_layer):
    """notify.send to a Group travels as one event for every process, which
    builds its own members' frames; to a list of users, as frames for the
    members some process holds a socket of, in a few hub.multicast chunks.
    Either way each member's socket gets only its own notification, once, on
    both processes."""
    from django.contrib.auth import get_user_model

    def make_group():
        User = get_user_model()
        User.objects.bulk_create([User(username=f"member{i}", password="!") for i in range(600)])
        members = list(User.objects.filter(username__startswith="member").order_by("pk"))
        return members, factories.group("everyone", *members)

    members, group = await sync_to_async(make_group)()
    actor = await sync_to_async(factories.user)("actor")
    first, second = await two_servers(daphne, redis_layer)
    connected = members[::15]  # 40 members, spread over both processes, the first on both
    sockets = [(user, await ws_client((first, second)[i % 2], user)) for i, user in enumerate(connected)]
    sockets.append((connected[0], await ws_client(second, connected[0])))
    for _, socket in sockets:
        await socket.frame("hello")

    for unread, recipient in enumerate([group, members], start=1):
        [(_, created)] = await sync_to_async(notify.send)(actor, recipient=recipient, verb="bulk")
        assert len(created) == 600
        ids = {n.recipient_id: n.id for n in created}
        for user, socket in sockets:
            pushed = await socket.frame("notification")
            assert pushed["notification"]["id"] == ids[user.pk] and pushed["unread_count"] == unread
        await asyncio.gather(*(socket.nothing(within=0.5) for _, socket in sockets))
    # For the list, frames were built only for the members some process
    # holds a socket of.
    everyone = [protocol.user_group(user.pk) for user in members]
    live = await sync_to_async(live_groups)(everyone)
    assert live == {protocol.user_group(user.pk) for user in connected}
    for _, socket in sockets:
        await socket.close()
