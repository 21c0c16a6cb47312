"""Seen and groups over /ws/notifications/ (channels.testing): the frames a
client sees, and the errors for bad input."""

import pytest
from channels.db import database_sync_to_async

from notifications.models import Notification
from notifications.signals import notify
from tests import factories
from tests.unit.test_consumers import frame, open_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("hub_shutdown")]


@pytest.fixture
async def people():
    alice = await database_sync_to_async(factories.user)("alice")
    bob = await database_sync_to_async(factories.user)("bob")
    carol = await database_sync_to_async(factories.user)("carol")
    doc = await database_sync_to_async(factories.group)("Design doc")
    return alice, bob, carol, doc


async def comment(actor, recipient, target):
    result = await database_sync_to_async(notify.send)(actor, recipient=recipient, verb="commented on", target=target)
    return result[0][1][0]


async def test_mark_seen_in_one_tab_clears_the_unseen_count_in_every_tab(people):
    alice, bob, _, doc = people
    first = await comment(bob, alice, doc)
    await comment(bob, alice, doc)
    tabs = [await open_socket(alice), await open_socket(alice)]
    for tab in tabs:
        hello = await frame(tab, "hello")
        assert (hello["unread_count"], hello["unseen_count"]) == (2, 2)

    await tabs[0].send_json_to({"type": "mark_seen", "up_to": first.pk})
    for tab in tabs:
        assert await frame(tab, "seen") == {"type": "seen", "up_to": first.pk, "unseen_count": 1}

    # A tab opened later gets the same count from hello: replay agrees.
    late = await open_socket(alice)
    hello = await frame(late, "hello")
    assert (hello["unread_count"], hello["unseen_count"]) == (2, 1)
    # Seen is not read.
    assert await database_sync_to_async(alice.notifications.unread().count)() == 2
    for tab in [*tabs, late]:
        await tab.disconnect()


async def test_mark_seen_with_nothing_new_sends_no_frame(people):
    alice, bob, _, doc = people
    n = await comment(bob, alice, doc)
    tab = await open_socket(alice)
    await frame(tab, "hello")
    await tab.send_json_to({"type": "mark_seen", "up_to": n.pk})
    await frame(tab, "seen")
    await tab.send_json_to({"type": "mark_seen", "up_to": n.pk})
    assert await tab.receive_nothing(timeout=0.3)
    await tab.disconnect()


@pytest.mark.parametrize(
    "bad", [{"type": "mark_seen"}, {"type": "mark_seen", "up_to": "7"}, {"type": "mark_seen", "up_to": -1}]
)
async def test_a_bad_mark_seen_gets_an_error_and_changes_nothing(people, bad):
    alice, bob, _, doc = people
    await comment(bob, alice, doc)
    tab = await open_socket(alice)
    await frame(tab, "hello")
    await tab.send_json_to(bad)
    error = await frame(tab, "error")
    assert error["code"] == "bad_field"
    assert await database_sync_to_async(alice.notifications.unseen().count)() == 1
    await tab.disconnect()


async def test_a_row_joining_a_group_carries_the_group(people):
    alice, bob, carol, doc = people
    tab = await open_socket(alice)
    await frame(tab, "hello")
    one = await comment(bob, alice, doc)
    pushed = await frame(tab, "notification")
    assert pushed["group"] == {"key": one.group_key, "count": 1, "actors": ["bob"], "latest_id": one.pk}
    two = await comment(carol, alice, doc)
    pushed = await frame(tab, "notification")
    assert pushed["group"] == {"key": one.group_key, "count": 2, "actors": ["carol", "bob"], "latest_id": two.pk}
    assert pushed["unseen_count"] == 2
    await tab.disconnect()


async def test_mark_read_of_a_group_marks_every_row_with_one_read_frame(people):
    alice, bob, carol, doc = people
    rows = [await comment(actor, alice, doc) for actor in (bob, carol, bob)]
    other = await comment(bob, alice, await database_sync_to_async(factories.group)("Other"))
    tabs = [await open_socket(alice), await open_socket(alice)]
    for tab in tabs:
        await frame(tab, "hello")
    await tabs[0].send_json_to({"type": "mark_read", "id": rows[-1].pk, "group": True})
    for tab in tabs:
        read = await frame(tab, "read")
        assert read["ids"] == sorted(r.pk for r in rows) and read["unread_count"] == 1
        assert await tab.receive_nothing(timeout=0.2)
    unread = await database_sync_to_async(lambda: list(alice.notifications.unread()))()
    assert unread == [other]
    for tab in tabs:
        await tab.disconnect()


async def test_mark_read_of_someone_elses_group_is_not_found(people):
    alice, bob, _, doc = people
    theirs = await comment(alice, bob, doc)
    tab = await open_socket(alice)
    await frame(tab, "hello")
    await tab.send_json_to({"type": "mark_read", "id": theirs.pk, "group": True})
    assert (await frame(tab, "error"))["code"] == "not_found"
    await tab.send_json_to({"type": "mark_read", "id": theirs.pk, "group": "yes"})
    assert (await frame(tab, "error"))["code"] == "bad_field"
    assert await database_sync_to_async(Notification.objects.filter(unread=True).count)() == 1
    await tab.disconnect()


async def test_sync_items_carry_the_group_a_live_client_would_have_built(people):
    alice, bob, carol, doc = people
    rows = [await comment(actor, alice, doc) for actor in (bob, carol)]
    tab = await open_socket(alice)
    await frame(tab, "hello")
    await tab.send_json_to({"type": "sync", "after": 0})
    replay = await frame(tab, "sync")
    group = {"key": rows[0].group_key, "count": 2, "actors": ["carol", "bob"], "latest_id": rows[1].pk}
    assert [item["group"] for item in replay["notifications"]] == [group, group]
    await tab.disconnect()
