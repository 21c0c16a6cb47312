"""The chat sockets through channels.testing: join, history, order, typing,
the rate limit, and the private-room refusal."""

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chat import routing
from chat.models import Message
from tests import factories
from tests.live import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("hub_shutdown")]

app = URLRouter(routing.websocket_urlpatterns)


async def open_room(user, slug="general"):
    communicator = WebsocketCommunicator(app, f"/ws/chat/{slug}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def joined(user, slug="general"):
    """A room socket past its history and presence frames."""
    socket = await open_room(user, slug)
    history = await socket.receive_json_from()
    assert history["type"] == "history"
    assert (await socket.receive_json_from())["type"] == "presence"
    return socket, history


async def frame(socket, kind, timeout=3, skip=("join", "leave", "presence", "typing")):
    while True:
        data = await socket.receive_json_from(timeout=timeout)
        if data["type"] == kind:
            return data
        assert data["type"] in skip, data


async def presence_event(socket, kind, username):
    """The next join or leave of ``username`` (a joiner also hears its own join)."""
    while True:
        data = await frame(socket, kind)
        if data["user"]["username"] == username:
            return data


def ref(user):
    """A user as chat frames name them."""
    return {"id": factories.wire(user.pk), "username": user.get_username()}


@pytest.fixture
async def people():
    alice = await database_sync_to_async(factories.user)("alice")
    bob = await database_sync_to_async(factories.user)("bob")
    return alice, bob


@pytest.fixture
async def general(people):
    return await database_sync_to_async(factories.room)("general")


async def test_join_sends_history_then_who_is_online(people, general):
    alice, bob = people
    for i in range(3):
        await database_sync_to_async(Message.objects.create)(room=general, author=bob, body=f"m{i}", client_id=f"c{i}")
    socket = await open_room(alice)
    history = await socket.receive_json_from()
    assert history["type"] == "history"
    assert [m["body"] for m in history["messages"]] == ["m0", "m1", "m2"]
    assert history["has_more"] is False and history["before"] is None
    first = history["messages"][0]
    assert first["user"] == ref(bob)
    assert set(first) == {"id", "room", "user", "body", "client_id", "created_at"}
    assert await socket.receive_json_from() == {
        "type": "presence",
        "online": [ref(alice)],
    }
    await socket.disconnect()


async def test_each_member_receives_every_message_in_id_order(people, general):
    alice, bob = people
    a, _ = await joined(alice)
    b, _ = await joined(bob)
    await presence_event(a, "join", bob.get_username())
    for i in range(10):
        await b.send_json_to({"type": "message", "body": f"n{i}", "client_id": f"x{i}"})
    for socket in (a, b):
        got = [(await frame(socket, "message"))["message"] for _ in range(10)]
        assert [m["body"] for m in got] == [f"n{i}" for i in range(10)]
        ids = [m["id"] for m in got]
        assert ids == sorted(ids)
    await a.disconnect()
    await b.disconnect()


async def test_the_sender_sees_its_message_confirmed_with_its_client_id(people, general):
    alice, _ = people
    socket, _ = await joined(alice)
    await socket.send_json_to({"type": "message", "body": "hi", "client_id": "c-1"})
    confirmed = (await frame(socket, "message"))["message"]
    assert confirmed["client_id"] == "c-1" and confirmed["body"] == "hi"
    # A retry (say, after a reconnect) returns the original and stores nothing.
    await socket.send_json_to({"type": "message", "body": "hi", "client_id": "c-1"})
    again = (await frame(socket, "message"))["message"]
    assert again["id"] == confirmed["id"]
    assert await database_sync_to_async(Message.objects.count)() == 1
    await socket.disconnect()


async def test_history_pages_back(people, general):
    alice, _ = people
    for i in range(60):
        await database_sync_to_async(Message.objects.create)(room=general, author=alice, body=f"m{i}", client_id=str(i))
    socket, first = await joined(alice)
    assert len(first["messages"]) == 50 and first["has_more"] is True
    oldest = first["messages"][0]["id"]
    await socket.send_json_to({"type": "history", "before": oldest})
    older = await frame(socket, "history")
    assert [m["body"] for m in older["messages"]] == [f"m{i}" for i in range(10)]
    assert older["has_more"] is False and older["before"] == oldest
    await socket.disconnect()


async def test_typing_reaches_others_throttled_and_is_not_stored(people, general):
    alice, bob = people
    a, _ = await joined(alice)
    b, _ = await joined(bob)
    await presence_event(a, "join", bob.get_username())
    for _ in range(5):
        await b.send_json_to({"type": "typing"})
    typing = await frame(a, "typing")
    assert typing == {"type": "typing", "user": ref(bob)}
    # The other four came within the throttle interval and were dropped.
    assert await a.receive_nothing(timeout=0.5)
    assert await database_sync_to_async(Message.objects.count)() == 0
    await a.disconnect()
    await b.disconnect()


async def test_leaving_is_announced_when_the_last_tab_closes(people, general):
    alice, bob = people
    a, _ = await joined(alice)
    b1, _ = await joined(bob)
    b2, _ = await joined(bob)
    await presence_event(a, "join", bob.get_username())
    await b1.disconnect()
    assert await a.receive_nothing(timeout=0.3)
    await b2.disconnect()
    assert (await presence_event(a, "leave", bob.get_username()))["user"] == ref(bob)
    await a.disconnect()


async def test_a_user_reconnecting_in_a_loop_makes_no_presence_churn(people, general, monkeypatch):
    """300 connect/close cycles: the room's members hear bob join once, and
    leave once when he stays away past the grace."""
    from chat import consumers

    monkeypatch.setattr(consumers, "LEAVE_GRACE_SECONDS", 1.0)  # a cycle on a busy machine stays well inside it
    alice, bob = people
    a, _ = await joined(alice)
    for _ in range(300):
        b, _ = await joined(bob)
        await b.disconnect()
    heard = []
    while not await a.receive_nothing(timeout=2.5):
        data = await a.receive_json_from()
        if data["type"] in ("join", "leave") and data["user"] == ref(bob):
            heard.append(data["type"])
    assert heard == ["join", "leave"]
    await a.disconnect()


async def test_read_moves_the_position(people, general):
    alice, bob = people
    a, _ = await joined(alice)
    b, _ = await joined(bob)
    await b.send_json_to({"type": "message", "body": "one", "client_id": "1"})
    message = (await frame(a, "message"))["message"]
    await a.send_json_to({"type": "read", "last_id": message["id"]})
    from chat.selectors import room_list

    async def read_all() -> bool:
        [listed] = await database_sync_to_async(room_list)(user=alice)
        return listed["unread_count"] == 0

    await eventually(read_all, timeout=5, what="alice's room read")
    await a.disconnect()
    await b.disconnect()


async def test_the_message_rate_limit_answers_rate_limited_then_closes(people, general, settings):
    settings.CHAT_CONFIG = {"MESSAGES_PER_SECOND": 1, "MESSAGE_BURST": 3, "MAX_STRIKES": 5}
    alice, _ = people
    socket, _ = await joined(alice)
    for i in range(3):
        await socket.send_json_to({"type": "message", "body": "x", "client_id": f"ok{i}"})
        await frame(socket, "message")
    await socket.send_json_to({"type": "message", "body": "x", "client_id": "over"})
    error = await frame(socket, "error")
    assert error["code"] == "rate_limited"
    for i in range(10):
        await socket.send_json_to({"type": "message", "body": "x", "client_id": f"flood{i}"})
    closing = await frame(socket, "closing", skip=("error", "message", "join", "presence"))
    assert closing["reason"] == "rate_limited"
    assert (await socket.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4429}
    assert await database_sync_to_async(Message.objects.count)() == 3


async def test_the_rate_limit_is_per_user_across_tabs(people, general, settings):
    settings.CHAT_CONFIG = {"MESSAGES_PER_SECOND": 0.1, "MESSAGE_BURST": 2}
    alice, _ = people
    one, _ = await joined(alice)
    two, _ = await joined(alice)
    await one.send_json_to({"type": "message", "body": "x", "client_id": "a"})
    await two.send_json_to({"type": "message", "body": "x", "client_id": "b"})
    await two.send_json_to({"type": "message", "body": "x", "client_id": "c"})
    assert (await frame(two, "error", skip=("message", "join", "presence")))["code"] == "rate_limited"
    await one.disconnect()
    await two.disconnect()


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ({"type": "message", "client_id": "x"}, "bad_field"),
        ({"type": "message", "body": "   ", "client_id": "x"}, "bad_field"),
        ({"type": "message", "body": "x" * 2001, "client_id": "x"}, "bad_field"),
        ({"type": "message", "body": "hi"}, "bad_field"),
        ({"type": "message", "body": "hi", "client_id": "x" * 65}, "bad_field"),
        ({"type": "message", "body": ["hi"], "client_id": "x"}, "bad_field"),
        ({"type": "history", "before": "10"}, "bad_field"),
        ({"type": "history", "before": 2**64}, "bad_field"),
        ({"type": "read", "last_id": True}, "bad_field"),
        ({"type": "chat.access_removed", "user_ids": None}, "unknown_type"),
        ({"type": "websocket.close"}, "unknown_type"),
        ({"type": "shout"}, "unknown_type"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_lives(people, general, sent, code):
    alice, _ = people
    socket, _ = await joined(alice)
    await socket.send_json_to(sent)
    assert (await frame(socket, "error"))["code"] == code
    await socket.send_json_to({"type": "ping"})
    assert await frame(socket, "pong") == {"type": "pong"}
    assert await database_sync_to_async(Message.objects.count)() == 0
    await socket.disconnect()


async def test_malformed_json_and_binary_frames_get_errors(people, general):
    alice, _ = people
    socket, _ = await joined(alice)
    await socket.send_to(text_data="{not json")
    assert (await frame(socket, "error"))["code"] == "bad_json"
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await frame(socket, "error"))["code"] == "binary_not_supported"
    await socket.send_to(text_data="[" * 8_000 + "]" * 8_000)
    assert (await frame(socket, "error"))["code"] in {"bad_json", "bad_frame"}
    await socket.disconnect()


@pytest.mark.parametrize("slug", ["team", "missing"])
async def test_a_private_or_missing_room_is_refused_with_4403_and_nothing_else(people, slug):
    alice, bob = people
    carol = await database_sync_to_async(factories.user)("carol")
    await database_sync_to_async(factories.room)("team", private=True, members=(alice, bob))
    socket = await open_room(carol, slug)
    assert await socket.receive_json_from() == {"type": "closing", "reason": "forbidden"}
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_anonymous_is_refused_with_4401(general):
    from django.contrib.auth.models import AnonymousUser

    socket = await open_room(AnonymousUser())
    assert (await socket.receive_json_from())["reason"] == "not_logged_in"
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_a_member_removed_from_a_private_room_is_closed(people):
    alice, bob = people
    room = await database_sync_to_async(factories.room)("team", private=True, members=(alice, bob))
    socket, _ = await joined(bob, "team")
    await database_sync_to_async(room.members.remove)(bob)
    closing = await frame(socket, "closing")
    assert closing["reason"] == "forbidden"
    assert await socket.receive_output() == {"type": "websocket.close", "code": 4403}


async def test_the_room_list_updates_live(people, general):
    alice, bob = people
    lobby = WebsocketCommunicator(app, "/ws/chat/")
    lobby.scope["user"] = alice
    assert (await lobby.connect())[0]
    rooms = await lobby.receive_json_from()
    assert rooms["type"] == "rooms" and [r["slug"] for r in rooms["rooms"]] == ["general"]
    b, _ = await joined(bob)
    await b.send_json_to({"type": "message", "body": "news", "client_id": "1"})
    pushed = await frame(lobby, "message")
    assert pushed["message"]["room"] == "general"
    # A private room with alice in it appears; one without her does not.
    carol = await database_sync_to_async(factories.user)("carol")
    await database_sync_to_async(factories.room)("secret", private=True, members=(bob, carol))
    await database_sync_to_async(factories.room)("team", private=True, members=(alice, bob))
    added = await frame(lobby, "room")
    assert added["room"]["slug"] == "team"
    # Reading in a room tab updates the count in every list.
    a, _ = await joined(alice)
    await a.send_json_to({"type": "read", "last_id": pushed["message"]["id"]})
    read = await frame(lobby, "read")
    assert read == {"type": "read", "room": "general", "last_read_id": pushed["message"]["id"], "unread_count": 0}
    for socket in (lobby, a, b):
        await socket.disconnect()
