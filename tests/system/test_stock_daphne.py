"""Stock daphne, started as the quickstart starts it (the 16 KiB message
limit, which autobahn applies to what the server sends too) with the
quickstart's asgi.py (no daphne_compat part on): every frame fits, and a
client that follows the protocol gets everything."""

import asyncio
import contextlib
import json

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.contrib.auth import get_user_model

from chat.models import Message
from notifications import services
from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import connect

pytestmark = pytest.mark.daphne

LIMIT = 16384
STOCK = "tests.stock_asgi:application"


class Counted:
    """A socket that records the size of every frame it reads."""

    def __init__(self, socket):
        self.socket = socket
        self.sizes: list[int] = []
        self.errors: list[dict] = []

    async def frame(self, kind=None, timeout=10, skip=("heartbeat",)):
        async with asyncio.timeout(timeout):
            while True:
                text = await self.socket.connection.recv()
                self.sizes.append(len(text.encode()))
                data = json.loads(text)
                if data["type"] == "error":
                    self.errors.append(data)
                if data["type"] in skip and data["type"] != kind:
                    continue
                if kind is None or data["type"] == kind:
                    return data


def make_many(count: int, big_at: int):
    User = get_user_model()
    alice = factories.user("alice")
    bob = factories.user("bob")
    sent = []
    for index in range(count):
        description = "x" * 50_000 if index == big_at else f"comment number {index} " * 20
        sent.extend(notify.send(bob, recipient=alice, verb="commented on", description=description)[0][1])
    return User.objects.get(pk=alice.pk), [n.id for n in sent], sent[big_at].id


async def test_a_sync_of_90_notifications_one_of_50_kib_comes_in_pages_that_fit(daphne):
    """90 missed (under SYNC_PAGE_SIZE, 100): more than one frame holds."""
    server = await asyncio.to_thread(daphne, application=STOCK)
    alice, ids, big = await sync_to_async(make_many)(90, big_at=60)
    socket = Counted(await connect(server, cookie=await sync_to_async(session_cookie)(alice)))
    hello = await socket.frame("hello")
    assert hello["unread_count"] == 90 and hello["last_id"] == ids[-1]

    got: dict[int, dict] = {}
    after = 0
    pages = 0
    while True:
        await socket.socket.send({"type": "sync", "after": after})
        page = await socket.frame("sync")
        pages += 1
        assert page["complete"] is True, page
        got.update({n["id"]: n for n in page["notifications"]})
        after = max(got)
        if not page.get("more"):
            break
    assert sorted(got) == ids and pages > 1
    assert got[big]["truncated"] is True and "description" not in got[big]
    assert all("truncated" not in n for i, n in got.items() if i != big)
    assert max(socket.sizes) <= LIMIT and socket.errors == []
    await socket.socket.close()


async def test_announcements_past_what_hello_holds_follow_it_counted(daphne):
    server = await asyncio.to_thread(daphne, application=STOCK)

    def announce():
        user = factories.user("alice")
        for index in range(8):
            announcement = services.announcement_create(title=f"Notice {index}", body="é" * 3000)
            services.announcement_publish(announcement=announcement)
        return user

    alice = await sync_to_async(announce)()
    socket = Counted(await connect(server, cookie=await sync_to_async(session_cookie)(alice)))
    hello = await socket.frame("hello")
    following = [await socket.frame("announcement") for _ in range(8 - len(hello["announcements"]))]
    assert hello["unread_count"] == 8 and 0 < len(hello["announcements"]) < 8
    assert all(frame["counted"] is True for frame in following)
    titles = {a["title"] for a in hello["announcements"]} | {f["announcement"]["title"] for f in following}
    assert titles == {f"Notice {index}" for index in range(8)}
    assert max(socket.sizes) <= LIMIT and socket.errors == []
    await socket.socket.close()


async def test_chat_history_and_room_lists_fit_with_long_messages(daphne):
    server = await asyncio.to_thread(daphne, application=STOCK)

    def chat():
        alice = factories.user("alice")
        rooms = [factories.room(f"room{index}") for index in range(60)]
        for index, room in enumerate(rooms):
            count = 6 if index == 0 else 1
            for number in range(count):
                # The admin stores what it is given; a socket takes at most 2,000 characters.
                body = "ü" * (40_000 if index == 0 and number == count - 1 else 1_900)
                message = Message.objects.create(room=room, author=alice, body=body, client_id=f"{index}-{number}")
                room.last_message = message
                room.save(update_fields=["last_message"])
        return alice

    alice = await sync_to_async(chat)()
    cookie = await sync_to_async(session_cookie)(alice)
    room = Counted(await connect(server, cookie=cookie, path="/ws/chat/room0/"))
    history = await room.frame("history")
    # Six messages of 3.8 KB and more: fewer than six fit in one frame.
    assert history["has_more"] is True and history["messages"][-1]["truncated"] is True
    assert len(history["messages"]) < 6
    await room.socket.send({"type": "history", "before": history["messages"][0]["id"]})
    older = await room.frame("history")
    assert older["messages"] and all(m["id"] < history["messages"][0]["id"] for m in older["messages"])
    lists = Counted(await connect(server, cookie=cookie, path="/ws/chat/"))
    first = await lists.frame("rooms")
    rest = [await lists.frame("room") for _ in range(60 - len(first["rooms"]))]
    assert {r["slug"] for r in first["rooms"]} | {f["room"]["slug"] for f in rest} == {f"room{i}" for i in range(60)}
    assert max(room.sizes + lists.sizes) <= LIMIT and room.errors == lists.errors == []
    await room.socket.close()
    await lists.socket.close()


SEND_FORTY = """
from django.contrib.auth import get_user_model
from notifications.signals import notify
User = get_user_model()
alice = User._default_manager.get_by_natural_key({alice!r})
bob = User._default_manager.get_by_natural_key({bob!r})
for index in range(40):
    notify.send(bob, recipient=alice, verb="wrote", description=f"{{index}}")
"""


async def test_five_writing_processes_and_a_socket_marking_each_read_meet_no_locked_database(daphne):
    """SQLite with the quickstart's settings (tests.settings has the same),
    and PostgreSQL: five shells send 40 each while the socket, following the
    protocol's catch-up rules, marks every one read."""
    import subprocess
    import sys

    from tests.live import ROOT

    server = await asyncio.to_thread(daphne, application=STOCK, NOTIFICATIONS_HEARTBEAT_SECONDS="1")
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    socket = Counted(await connect(server, cookie=await sync_to_async(session_cookie)(alice)))
    last_id = (await socket.frame("hello"))["last_id"] or 0
    code = SEND_FORTY.format(alice=alice.get_username(), bob=bob.get_username())
    writers = [
        subprocess.Popen([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=server.env) for _ in range(5)
    ]
    read: set[int] = set()
    async with asyncio.timeout(120):
        while len(read) < 200:
            frame = await socket.frame(skip=())
            if frame["type"] == "heartbeat":
                # Every second: the rows past the cursor and, in `recent`, the
                # ones that committed late below it (concurrent writers on
                # PostgreSQL commit out of id order; docs/protocol.md).
                await socket.socket.send({"type": "sync", "after": last_id})
            if frame["type"] != "sync":
                continue
            for item in frame["notifications"]:
                last_id = max(last_id, item["id"])
                if item["id"] not in read:
                    read.add(item["id"])
                    await socket.socket.send({"type": "mark_read", "id": item["id"]})
                    await asyncio.sleep(1 / 15)  # under the socket's frame rate limit
            late = [i for i in frame.get("recent", []) if i not in read]
            if frame.get("more"):
                await socket.socket.send({"type": "sync", "after": last_id})
            elif late:
                await socket.socket.send({"type": "sync", "after": min(late) - 1})
    assert [writer.wait(timeout=60) for writer in writers] == [0] * 5
    from notifications.swappable import load_notification_model

    Notification = load_notification_model()

    def unread() -> list[int]:
        # A new query each time: a QuerySet keeps what it read first.
        return list(Notification.objects.filter(unread=True).values_list("id", flat=True))

    async def settle():
        """The last marks are in flight. A server stalled by the writers reads
        the queued frames in a burst, and the frame limit refuses some
        (``rate_limited``), as it would any client's: send those again."""
        while left := await sync_to_async(unread)():
            with contextlib.suppress(TimeoutError):
                await socket.frame("error", timeout=1)
            if any(error["code"] == "rate_limited" for error in socket.errors):
                socket.errors = [error for error in socket.errors if error["code"] != "rate_limited"]
                for notification_id in left:
                    await socket.socket.send({"type": "mark_read", "id": notification_id})
                    await asyncio.sleep(1 / 10)

    try:
        await asyncio.wait_for(settle(), 30)
    except TimeoutError as exc:
        left = await sync_to_async(unread)()
        total = await sync_to_async(Notification.objects.count)()
        raise AssertionError(
            f"{len(left)} of {total} unread, {len(set(left) - read)} never synced; errors {socket.errors}; "
            f"log {server.log_text()[-3000:]}"
        ) from exc
    socket.errors = [error for error in socket.errors if error["code"] != "rate_limited"]
    assert socket.errors == []
    assert "database is locked" not in server.log_text()
    await socket.socket.close()
