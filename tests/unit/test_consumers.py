"""The /ws/notifications/ consumer through channels.testing: protocol v1."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import Q

from notifications.consumers import NotificationConsumer
from notifications.signals import notify
from notifications.swappable import load_notification_model
from tests import factories

# The site's notification model (tests/shapes swaps one in).
Notification = load_notification_model()

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("hub_shutdown")]


async def open_socket(user, session=None):
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = user
    if session is not None:
        communicator.scope["session"] = session
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def frame(communicator, kind=None, timeout=3):
    while True:
        data = await communicator.receive_json_from(timeout=timeout)
        if data["type"] == "heartbeat" and kind != "heartbeat":
            continue
        if kind is not None:
            assert data["type"] == kind, data
        return data


async def send(actor, recipient, verb="pinged", **kwargs):
    result = await database_sync_to_async(notify.send)(actor, recipient=recipient, verb=verb, **kwargs)
    return result[0][1]


@pytest.fixture
async def people():
    alice = await database_sync_to_async(factories.user)("alice")
    bob = await database_sync_to_async(factories.user)("bob")
    return alice, bob


async def test_hello_is_the_snapshot(people):
    alice, bob = people
    await send(bob, alice)
    created = await send(bob, alice)
    socket = await open_socket(alice)
    hello = await frame(socket, "hello")
    assert hello.pop("server_time").endswith("+00:00")
    assert hello == {
        "type": "hello",
        "version": 1,
        "user": factories.wire(alice.pk),
        "unread_count": 2,
        "unseen_count": 2,
        "last_id": created[0].id,
        "heartbeat": 25,
        "announcements": [],
    }
    await socket.disconnect()


async def test_a_notification_is_pushed_with_the_json_list_item_and_the_count(people):
    alice, bob = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    [created] = await send(bob, alice, verb="reviewed", description="Looks good", level="success", pr=42)
    pushed = await frame(socket, "notification")
    assert pushed["unread_count"] == 1
    item = pushed["notification"]
    assert item["id"] == created.id
    assert item["slug"] == created.id + 110909
    assert (item["verb"], item["description"], item["level"], item["actor"]) == (
        "reviewed",
        "Looks good",
        "success",
        str(bob),
    )
    assert item["unread"] is True and item["data"] == {"pr": 42}
    assert item["timestamp"].endswith("Z")
    await socket.disconnect()


async def test_every_tab_of_the_user_gets_it_and_other_users_do_not(people):
    alice, bob = people
    tab1, tab2, other = await open_socket(alice), await open_socket(alice), await open_socket(bob)
    for s in (tab1, tab2, other):
        await frame(s, "hello")
    [created] = await send(bob, alice)
    assert (await frame(tab1, "notification"))["notification"]["id"] == created.id
    assert (await frame(tab2, "notification"))["notification"]["id"] == created.id
    assert await other.receive_nothing(timeout=0.5)
    for s in (tab1, tab2, other):
        await s.disconnect()


async def test_mark_read_in_one_tab_updates_the_others(people):
    alice, bob = people
    first, second = await open_socket(alice), await open_socket(alice)
    await frame(first, "hello")
    await frame(second, "hello")
    [one] = await send(bob, alice)
    [two] = await send(bob, alice)
    for s in (first, second):
        await frame(s, "notification")
        await frame(s, "notification")
    await second.send_json_to({"type": "mark_read", "id": one.id})
    for s in (first, second):
        assert await frame(s, "read") == {"type": "read", "ids": [one.id], "unread_count": 1, "unseen_count": 1}
    await second.send_json_to({"type": "mark_unread", "id": one.id})
    for s in (first, second):
        assert await frame(s, "unread") == {"type": "unread", "ids": [one.id], "unread_count": 2, "unseen_count": 2}
    await first.send_json_to({"type": "mark_all_read"})
    for s in (first, second):
        assert await frame(s, "read") == {"type": "read", "all": True, "unread_count": 0, "unseen_count": 0}
    await first.send_json_to({"type": "delete", "id": two.id})
    for s in (first, second):
        assert await frame(s, "deleted") == {"type": "deleted", "ids": [two.id], "unread_count": 0, "unseen_count": 0}
    assert not await database_sync_to_async(Notification.objects.filter(id=two.id).exists)()
    for s in (first, second):
        await s.disconnect()


async def test_sync_replays_in_id_order_and_says_when_it_is_incomplete(people, settings):
    alice, bob = people
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SYNC_PAGE_SIZE": 3}
    ids = [(await send(bob, alice, verb=f"v{i}"))[0].id for i in range(5)]
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_json_to({"type": "sync", "after": ids[2]})
    reply = await frame(socket, "sync")
    assert [n["id"] for n in reply["notifications"]] == ids[3:]
    assert reply["recent"] == ids[:3]  # the late-commit overlap: ids the client should have
    assert reply["complete"] is True and reply["last_id"] == ids[-1]
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SYNC_PAGE_SIZE": 3, "SYNC_OVERLAP_SECONDS": 0}
    await socket.send_json_to({"type": "sync", "after": ids[2]})
    assert [n["id"] for n in (await frame(socket, "sync"))["notifications"]] == ids[3:]
    await socket.send_json_to({"type": "sync", "after": 0})
    reply = await frame(socket, "sync")
    assert [n["id"] for n in reply["notifications"]] == ids[:3]
    assert reply["complete"] is False
    await socket.disconnect()


async def test_a_cursor_ahead_of_the_database_starts_over(people):
    alice, bob = people
    [only] = await send(bob, alice)
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_json_to({"type": "sync", "after": only.id + 1000})
    assert await frame(socket, "sync") == {
        "type": "sync",
        "notifications": [],
        "complete": False,
        "last_id": only.id,
    }
    await socket.disconnect()


async def test_another_users_id_and_a_missing_id_both_get_not_found(people):
    alice, bob = people
    [bobs] = await send(alice, bob)
    socket = await open_socket(alice)
    await frame(socket, "hello")
    for kind in ("mark_read", "mark_unread", "delete"):
        for target in (bobs.id, bobs.id + 999):
            await socket.send_json_to({"type": kind, "id": target})
            error = await frame(socket, "error")
            assert error == {"type": "error", "code": "not_found", "message": "No such notification."}
    refreshed = await database_sync_to_async(Notification.objects.get)(id=bobs.id)
    assert refreshed.unread is True
    await socket.disconnect()


@pytest.mark.parametrize(
    "payload, code",
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"text"', "bad_frame"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": 5}', "unknown_type"),
        ('{"type": "websocket.close"}', "unknown_type"),
        ('{"type": "notifications.frame", "frame": {"type": "hello"}}', "unknown_type"),
        ('{"type": "realtime_revoke"}', "unknown_type"),
        ('{"type": "__init__"}', "unknown_type"),
        ('{"type": "mark_read"}', "bad_field"),
        ('{"type": "mark_read", "id": "7"}', "bad_field"),
        ('{"type": "mark_read", "id": true}', "bad_field"),
        ('{"type": "mark_read", "id": 1.5}', "bad_field"),
        ('{"type": "mark_read", "id": 99999999999999999999999999}', "bad_field"),
        ('{"type": "mark_read", "id": -1}', "bad_field"),
        ('{"type": "sync", "after": "x"}', "bad_field"),
        # 8,000 levels still fit in 16 KiB; orjson refuses the nesting.
        ("[" * 8_000 + "]" * 8_000, "bad_json"),
    ],
)
async def test_bad_input_gets_an_error_frame_and_the_socket_stays_open(people, payload, code):
    alice, _ = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_to(text_data=payload)
    error = await frame(socket, "error")
    assert error["code"] == code and error["message"]
    await socket.send_json_to({"type": "ping"})
    assert await frame(socket, "pong") == {"type": "pong"}
    await socket.disconnect()


async def test_unknown_fields_are_ignored(people):
    alice, _ = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_json_to({"type": "ping", "extra": {"nested": [1, 2]}})
    assert await frame(socket, "pong") == {"type": "pong"}
    await socket.disconnect()


async def test_binary_frames_are_refused(people):
    alice, _ = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await frame(socket, "error"))["code"] == "binary_not_supported"
    await socket.disconnect()


@pytest.mark.parametrize(
    "payload",
    [json.dumps({"type": "ping", "pad": "x" * 17_000}), "[" * 10_000 + "]" * 10_000, "é" * 9_000],
    ids=["padded", "nested-10000", "multibyte"],
)
async def test_an_oversized_frame_closes_with_1009(people, payload):
    alice, _ = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_to(text_data=payload)
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 1009}
    await socket.disconnect()


async def test_a_client_that_keeps_sending_bad_frames_is_closed(people, settings):
    alice, _ = people
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"FRAMES_PER_SECOND": 1000, "FRAME_BURST": 1000}
    socket = await open_socket(alice)
    await frame(socket, "hello")
    for _ in range(50):
        await socket.send_to(text_data="nope")
        assert (await frame(socket, "error"))["code"] == "bad_json"
    await socket.send_to(text_data="nope")
    assert await frame(socket, "closing") == {"type": "closing", "reason": "bad_json"}
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4400}
    await socket.disconnect()


async def test_a_flood_is_rate_limited_then_closed_with_4429(people, settings):
    alice, _ = people
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"FRAMES_PER_SECOND": 5, "FRAME_BURST": 5}
    socket = await open_socket(alice)
    await frame(socket, "hello")
    for _ in range(5):
        await socket.send_json_to({"type": "ping"})
        assert await frame(socket, "pong")
    await socket.send_json_to({"type": "ping"})
    assert (await frame(socket, "error"))["code"] == "rate_limited"
    for _ in range(60):
        await socket.send_json_to({"type": "ping"})
    frames = []
    while True:
        output = await socket.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            break
        frames.append(json.loads(output["text"]))
    assert output["code"] == 4429
    assert frames[-1] == {"type": "closing", "reason": "rate_limited"}
    await socket.disconnect()


async def test_anonymous_is_accepted_then_closed_with_4401():
    from django.contrib.auth.models import AnonymousUser

    socket = await open_socket(AnonymousUser())
    assert await frame(socket, "closing") == {"type": "closing", "reason": "not_logged_in"}
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}
    await socket.disconnect()


async def test_logout_closes_that_sessions_sockets_with_4408(people):
    from django.contrib.auth import user_logged_out
    from django.test import RequestFactory

    alice, _ = people
    ended, kept = SessionStore(), SessionStore()
    for session in (ended, kept):
        await database_sync_to_async(session.create)()
    closing = await open_socket(alice, session=ended)
    staying = await open_socket(alice, session=kept)
    await frame(closing, "hello")
    await frame(staying, "hello")
    request = RequestFactory().post("/accounts/logout/")
    request.session = ended
    await database_sync_to_async(user_logged_out.send)(sender=type(alice), request=request, user=alice)
    assert await frame(closing, "closing") == {"type": "closing", "reason": "logged_out"}
    assert await closing.receive_output(timeout=2) == {"type": "websocket.close", "code": 4408}
    assert await staying.receive_nothing(timeout=0.3)
    await closing.disconnect()
    await staying.disconnect()


async def test_deactivation_and_password_change_close_every_socket(people):
    alice, _ = people
    socket = await open_socket(alice)
    await frame(socket, "hello")

    def change_password():
        alice.set_password("new")
        alice.save()

    await database_sync_to_async(change_password)()
    assert await frame(socket, "closing") == {"type": "closing", "reason": "password_changed"}
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4408}
    await socket.disconnect()

    socket = await open_socket(alice)
    await frame(socket, "hello")

    def deactivate():
        alice.is_active = False
        alice.save(update_fields=["is_active"])

    await database_sync_to_async(deactivate)()
    assert await frame(socket, "closing") == {"type": "closing", "reason": "deactivated"}
    await socket.disconnect()


async def test_a_last_login_update_does_not_close_anything(people):
    from django.utils import timezone

    alice, _ = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    alice.last_login = timezone.now()
    await database_sync_to_async(alice.save)(update_fields=["last_login"])
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_heartbeat_carries_the_newest_id_and_count(people, settings):
    alice, bob = people
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"HEARTBEAT_SECONDS": 1}
    socket = await open_socket(alice)
    await frame(socket, "hello")
    # Stored without a push, as when the channel layer drops it.
    created = await database_sync_to_async(Notification.objects.create)(
        recipient=alice,
        actor_content_type_id=await database_sync_to_async(_user_type_id)(),
        actor_object_id=str(bob.pk),
        verb="dropped",
    )
    beat = await frame(socket, "heartbeat", timeout=3)
    assert beat == {"type": "heartbeat", "last_id": created.id, "unread_count": 1, "unseen_count": 1}
    await socket.disconnect()


def _user_type_id():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(factories.user.__globals__["get_user_model"]()).id


async def test_admin_edits_reach_open_tabs(people):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    from notifications.base.admin import AbstractNotificationAdmin

    alice, bob = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    [created] = await send(bob, alice)
    await frame(socket, "notification")
    # A site with its own notification model registers its own admin.
    admin = site._registry.get(Notification) or AbstractNotificationAdmin(Notification, site)
    request = RequestFactory().post("/admin/")

    def admin_actions():
        from notifications.base.admin import mark_read

        mark_read(admin, request, Notification.objects.filter(pk=created.pk))
        created.refresh_from_db()
        created.unread = True

        class Form:
            changed_data = ["unread"]

        admin.save_model(request, created, Form(), change=True)
        admin.delete_queryset(request, Notification.objects.filter(pk=created.pk))

    await database_sync_to_async(admin_actions)()
    assert await frame(socket, "read") == {"type": "read", "ids": [created.id], "unread_count": 0, "unseen_count": 0}
    assert await frame(socket, "unread") == {
        "type": "unread",
        "ids": [created.id],
        "unread_count": 1,
        "unseen_count": 1,
    }
    assert await frame(socket, "deleted") == {
        "type": "deleted",
        "ids": [created.id],
        "unread_count": 0,
        "unseen_count": 0,
    }
    await socket.disconnect()


async def test_many_frames_in_one_publish_travel_as_a_few_multicast_messages(people):
    """A publish of many ready frames costs one layer message per chunk, and
    each socket still gets exactly the frames of its own groups."""
    from channels.layers import get_channel_layer

    from notifications import protocol
    from notifications.realtime.hub import MULTICAST_GROUP
    from notifications.realtime.publish import MULTICAST_CHUNK, _layer_messages, apublish

    alice, bob = people
    tab, other = await open_socket(alice), await open_socket(bob)
    for s in (tab, other):
        await frame(s, "hello")
    events = [
        (protocol.user_group(user_id), {"type": "notifications.frame", "frame": {"type": "ping", "n": n}})
        for n, user_id in enumerate([alice.pk, *range(10_000, 10_000 + MULTICAST_CHUNK), bob.pk, alice.pk])
    ]
    assert [group for group, _ in _layer_messages(events)] == [MULTICAST_GROUP, MULTICAST_GROUP]
    await apublish(events, layer=get_channel_layer())
    assert [await frame(tab), await frame(tab)] == [{"type": "ping", "n": 0}, {"type": "ping", "n": len(events) - 1}]
    assert await frame(other) == {"type": "ping", "n": len(events) - 2}
    assert await tab.receive_nothing(timeout=0.2) and await other.receive_nothing(timeout=0.2)
    for s in (tab, other):
        await s.disconnect()


async def test_a_bulk_send_is_one_event_and_each_process_builds_its_recipients_frames(people, monkeypatch):
    """notify.send to a Group publishes one event for every process with the
    recipients and ids (no frame, no count, no layer message per recipient);
    each process sends its own recipients their item and badge count."""
    from django.contrib.auth import get_user_model

    from notifications import delivery, protocol, selectors
    from notifications.realtime.hub import MULTICAST_GROUP
    from notifications.realtime.publish import publish

    alice, bob = people
    await send(bob, alice)  # alice already has one unread

    def make_group():
        User = get_user_model()
        name = User.USERNAME_FIELD
        User.objects.bulk_create([User(**{name: factories.login_name(f"member{i}")}, password="!") for i in range(300)])
        everyone = User.objects.filter(Q(**{f"{name}__startswith": "member"}) | Q(pk__in=[alice.pk, bob.pk]))
        # A Group where the user model has groups; a QuerySet takes the same path.
        return factories.group("everyone", *everyone) if factories.has_groups() else everyone

    group = await database_sync_to_async(make_group)()
    published = []

    def spy(events, **options):
        published.append(events)
        publish(events, **options)

    monkeypatch.setattr(delivery, "publish", spy)
    monkeypatch.setattr(delivery, "RECIPIENTS_PER_EVENT", 100)

    tabs, bobs = [await open_socket(alice), await open_socket(alice)], await open_socket(bob)
    for s in [*tabs, bobs]:
        await frame(s, "hello")
    created = await send(bob, group, verb="bulk", description="to everyone")
    ids = {factories.wire(n.recipient_id): n.id for n in created}

    [events] = published
    assert len(events) == 4  # 302 recipients, 100 to an event
    assert {group_name for group_name, _ in events} == {MULTICAST_GROUP}
    assert {event["type"] for _, event in events} == {protocol.CREATED_EVENT}
    pairs = [pair for _, event in events for pair in zip(event["recipients"], event["ids"], strict=True)]
    assert sorted(pairs) == sorted(ids.items())
    assert "frame" not in str(events) and "unread_count" not in str(events)

    def stored_item(user):
        return selectors.notification_payload(Notification.objects.get(pk=ids[factories.wire(user.pk)]))

    for socket, user, unread in [(tabs[0], alice, 2), (tabs[1], alice, 2), (bobs, bob, 1)]:
        pushed = await frame(socket, "notification")
        assert pushed == {
            "type": "notification",
            "notification": await database_sync_to_async(stored_item)(user),
            "unread_count": unread,
            "unseen_count": unread,
            "group": {
                "key": created[0].group_key,
                "count": 1,
                "actors": [str(bob)],
                "latest_id": ids[factories.wire(user.pk)],
            },
        }
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()


async def test_a_malformed_event_for_every_process_is_logged_and_the_hub_goes_on(people, caplog):
    """Bad input on the layer (a bulk event without its ids, lists of two
    lengths) never stops a hub: the handler's error is logged, and the next
    push arrives."""
    from channels.layers import get_channel_layer

    from notifications import protocol
    from notifications.realtime.hub import MULTICAST_GROUP
    from notifications.realtime.publish import apublish

    alice, bob = people
    socket = await open_socket(alice)
    await frame(socket, "hello")
    malformed = [
        {"type": protocol.CREATED_EVENT, "recipients": [factories.wire(alice.pk)]},
        {"type": protocol.CREATED_EVENT, "shared": {}, "recipients": [factories.wire(alice.pk)], "ids": []},
    ]
    await apublish([(MULTICAST_GROUP, event) for event in malformed], layer=get_channel_layer())
    [created] = await send(bob, alice)
    assert (await frame(socket, "notification"))["notification"]["id"] == created.id
    failures = [r for r in caplog.records if r.getMessage() == f"hub handler of {protocol.CREATED_EVENT} failed"]
    assert len(failures) == 2
    await socket.disconnect()


async def test_an_open_socket_costs_one_task(people):
    """The consumer awaits the server's ``receive`` itself: no Task and
    ``asyncio.wait`` per frame, as Channels' loop for a channel layer has,
    which a server with thousands of sockets holds for each of them."""
    import asyncio

    alice, bob = people
    first = await open_socket(alice)
    await frame(first, "hello")
    before = len(asyncio.all_tasks())
    sockets = [await open_socket(bob) for _ in range(10)]
    for s in sockets:
        await frame(s, "hello")
    await sockets[0].send_json_to({"type": "sync", "after": 0})
    await frame(sockets[0], "sync")
    assert len(asyncio.all_tasks()) - before == 10  # each communicator's application
    for s in [first, *sockets]:
        await s.disconnect()


async def test_a_subclass_with_a_channel_layer_gets_channels_loop(people):
    """A consumer that names a configured channel layer gets its own channel
    and Channels' receive loop, and its handlers get what is sent there."""
    from channels.layers import get_channel_layer

    received, channel_names = [], []

    class WithLayer(NotificationConsumer):
        channel_layer_alias = "default"

        async def joined(self):
            channel_names.append(self.channel_name)
            await super().joined()

        async def custom_event(self, message):
            received.append(message["n"])
            await self.send_frame({"type": "custom", "n": message["n"]})

    alice, _ = people
    communicator = WebsocketCommunicator(WithLayer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = alice
    assert (await communicator.connect())[0]
    await frame(communicator, "hello")
    await get_channel_layer().send(channel_names[0], {"type": "custom.event", "n": 7})
    assert await frame(communicator, "custom") == {"type": "custom", "n": 7}
    assert received == [7]
    await communicator.disconnect()


async def test_a_heartbeat_round_asks_the_database_in_chunks(people, monkeypatch):
    """Each chunk of users is its own trip to the database thread, so a push
    waits behind one chunk's query at most; every socket still gets its
    own heartbeat."""
    from notifications import jobs, selectors
    from notifications.realtime.hub import get_hub

    monkeypatch.setattr(jobs, "HEARTBEAT_CHUNK", 2)
    asked = []
    real = selectors.heartbeat_snapshots

    def spy(*, user_ids):
        asked.append(len(user_ids))
        return real(user_ids=user_ids)

    monkeypatch.setattr(selectors, "heartbeat_snapshots", spy)
    alice, bob = people
    others = await database_sync_to_async(lambda: [factories.user() for _ in range(3)])()
    users = [alice, bob, *others]
    sockets = [await open_socket(user) for user in users]
    for socket in sockets:
        await frame(socket, "hello")
    [created] = await send(bob, alice)
    await frame(sockets[0], "notification")
    await jobs.send_heartbeats(await get_hub())
    beats = [await frame(socket, "heartbeat", timeout=3) for socket in sockets]
    assert beats[0] == {"type": "heartbeat", "last_id": created.id, "unread_count": 1, "unseen_count": 1}
    assert [beat["unread_count"] for beat in beats[1:]] == [0, 0, 0, 0]
    assert asked == [2, 2, 1]
    for socket in sockets:
        await socket.disconnect()


async def test_sync_tells_nothing_of_other_users_ids(people):
    """A cursor past the user's own newest id gets the same answer wherever
    it is, so no user can find the table's newest id by probing."""
    alice, bob = people
    [mine] = await send(bob, alice)
    theirs = [(await send(alice, bob, verb=f"v{i}"))[0].id for i in range(5)]
    socket = await open_socket(alice)
    await frame(socket, "hello")
    answers = []
    for after in range(mine.id + 1, theirs[-1] + 5):
        await socket.send_json_to({"type": "sync", "after": after})
        answers.append(await frame(socket, "sync"))
    assert all(answer == answers[0] for answer in answers)
    assert answers[0] == {"type": "sync", "notifications": [], "complete": False, "last_id": mine.id}
    await socket.disconnect()


async def test_a_sync_from_no_cursor_is_cut_to_a_frame_too(people):
    """``after: null`` (a client that had nothing yet) with more than one
    frame holds: a page that fits, ``more``, and no server error."""
    alice, bob = people
    for index in range(40):
        await send(bob, alice, verb=f"v{index}", description="d" * 600)
    socket = await open_socket(alice)
    await frame(socket, "hello")
    await socket.send_json_to({"type": "sync", "after": None})
    page = await frame(socket, "sync")
    assert page["more"] is True and 0 < len(page["notifications"]) < 40 and "recent" not in page
    await socket.disconnect()
