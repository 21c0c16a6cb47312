"""What the handshakes of a connect storm share: the sockets that wait
together for their ``hello`` take their snapshots in one trip to the
database thread (notifications.realtime.batch), and the snapshots of many
users cost a fixed number of queries and say what each user's own says."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications import selectors, services
from notifications.models import Audience
from notifications.realtime.batch import Batched
from notifications.signals import notify
from tests import factories


@pytest.fixture
def crowd(db):
    staff = factories.user("sam", is_staff=True)
    editor, plain, quiet = factories.user("eve"), factories.user("pat"), factories.user("quinn")
    # A user model without groups has the group, and no one in it.
    editors = factories.group("editors", editor, staff) if factories.has_groups() else factories.group("editors")
    for recipient in (staff, editor, editor, plain):
        notify.send(quiet, recipient=recipient, verb="pinged")
    return [staff, editor, plain, quiet, editor], editors


def publish(**kwargs):
    announcement = services.announcement_create(**kwargs)
    services.announcement_publish(announcement=announcement)
    return announcement


@pytest.mark.parametrize("live", ["none", "some"])
def test_many_users_snapshots_are_each_users_own(crowd, live):
    users, editors = crowd
    if live == "some":
        read = publish(title="for all")
        publish(title="for staff", audience=Audience.STAFF)
        if factories.has_groups():
            read = publish(title="for editors", audience=Audience.GROUPS, groups=[editors])
        services.announcement_dismiss(user=users[1], announcement_id=read.pk)
    assert selectors.hello_snapshots(users) == [selectors.hello_snapshot(user=user) for user in users]


@pytest.mark.parametrize("count", [2, 40])
def test_many_users_snapshots_cost_five_queries_while_nothing_is_announced(db, count):
    users = [factories.user() for _ in range(count)]
    notify.send(users[0], recipient=users[1], verb="pinged")
    with CaptureQueriesContext(connection) as queries:
        snapshots = selectors.hello_snapshots(users)
    # Unread and unseen counts, newest ids, staff, groups (none on a user
    # model without groups), live announcements.
    assert len(queries) == (5 if factories.has_groups() else 4)
    assert snapshots[1]["unread_count"] == 1 and snapshots[0]["last_id"] is None


@pytest.mark.django_db(transaction=True)
async def test_calls_that_arrive_while_a_trip_runs_go_together_in_the_next():
    trips, running, release = [], threading.Event(), threading.Event()

    def double(items):
        trips.append(list(items))
        running.set()
        release.wait(10)
        return [ValueError(item) if item == 13 else item * 2 for item in items]

    batched = Batched(double)
    first = asyncio.ensure_future(batched(1))
    await asyncio.get_running_loop().run_in_executor(None, running.wait, 10)
    rest = [asyncio.ensure_future(batched(n)) for n in range(10, 20)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 2
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert trips == [[1], list(range(10, 20))]
    assert [r if not isinstance(r, Exception) else "error" for r in results] == [
        20, 22, 24, "error", 28, 30, 32, 34, 36, 38
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
async def test_a_trip_that_raises_fails_its_callers_and_the_next_trip_runs():
    calls = []

    def flaky(items):
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("database gone")
        return items

    batched = Batched(flaky)
    with pytest.raises(ConnectionError):
        await batched("a")
    assert await batched("b") == "b"


@pytest.mark.django_db(transaction=True)
async def test_sockets_that_wait_together_get_their_own_hello(monkeypatch):
    """Through the consumer: ten sockets opening at once each get their own
    user's hello, and the snapshots went in fewer trips than sockets."""
    from tests.unit.test_consumers import frame, open_socket

    trips = []
    real = selectors.hello_snapshots

    def counted(users):
        trips.append(len(users))
        return real(users)

    monkeypatch.setattr(selectors, "hello_snapshots", counted)
    users = await database_sync_to_async(lambda: [factories.user() for _ in range(10)])()
    await database_sync_to_async(notify.send)(users[0], recipient=users[3], verb="pinged")
    sockets = await asyncio.gather(*(open_socket(user) for user in users))
    hellos = [await frame(socket, "hello") for socket in sockets]
    assert [hello["user"] for hello in hellos] == [factories.wire(user.pk) for user in users]
    assert [hello["unread_count"] for hello in hellos] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert sum(trips) == 10 and len(trips) < 10
    for socket in sockets:
        await socket.disconnect()
