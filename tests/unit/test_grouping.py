"""Seen versus read, and grouping: the Python API, the selectors and the
JSON endpoints, on SQLite and on PostgreSQL."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications import selectors, services
from notifications.models import Notification
from notifications.signals import notify
from tests import factories

pytestmark = pytest.mark.django_db


def comment(actor, recipient, target, **kwargs):
    return notify.send(actor, recipient=recipient, verb="commented on", target=target, **kwargs)[0][1][0]


@pytest.fixture
def doc(db):
    return factories.group("Design doc")


def test_unseen_is_unread_and_not_yet_in_view(alice, bob, doc):
    first = comment(bob, alice, doc)
    second = comment(bob, alice, doc)
    assert alice.notifications.unseen().count() == 2

    assert services.notifications_mark_seen(user=alice, up_to=first.pk) == 1
    assert list(alice.notifications.unseen()) == [second]
    # Seen is not read: the unread count and queryset keep their meaning.
    assert alice.notifications.unread().count() == 2

    assert alice.notifications.mark_all_as_seen() == 1
    assert alice.notifications.unseen().count() == 0
    assert alice.notifications.unread().count() == 2


def test_a_read_notification_is_not_unseen(alice, bob, doc):
    n = comment(bob, alice, doc)
    n.mark_as_read()
    assert alice.notifications.unseen().count() == 0


def test_marking_seen_touches_only_the_users_own_rows(alice, bob, doc):
    mine = comment(bob, alice, doc)
    theirs = comment(alice, bob, doc)
    services.notifications_mark_seen(user=alice, up_to=max(mine.pk, theirs.pk))
    assert bob.notifications.unseen().count() == 1


def test_the_unseen_count_endpoint(client, alice, bob, doc):
    comment(bob, alice, doc)
    comment(bob, alice, doc)
    client.force_login(alice)
    url = reverse("notifications:live_unseen_notification_count")
    assert client.get(url).json() == {"unseen_count": 2}
    alice.notifications.mark_all_as_seen()
    assert client.get(url).json() == {"unseen_count": 0}
    client.logout()
    assert client.get(url).json() == {"unseen_count": 0}


def test_comments_on_one_target_are_one_entry(alice, bob, doc):
    carol, dave = factories.user("carol"), factories.user("dave")
    for actor in (bob, carol, bob, dave, carol):
        comment(actor, alice, doc)
    other = factories.group("Other doc")
    comment(bob, alice, other)

    entries = selectors.group_entries(user=alice, unread_only=False, offset=0, limit=10)

    assert [e.count for e in entries] == [1, 5]
    grouped = entries[1]
    assert grouped.actors == ["carol", "dave", "bob"]
    assert grouped.actors_text == "carol, dave, bob and 2 others"
    assert grouped.latest_id == alice.notifications.filter(target_object_id=str(doc.pk)).order_by("-id")[0].pk
    # Every row stays a row.
    assert alice.notifications.unread().count() == 6


def test_a_group_key_given_to_send_groups_across_verbs(alice, bob, doc):
    notify.send(bob, recipient=alice, verb="liked", target=doc, group_key="reactions")
    notify.send(bob, recipient=alice, verb="starred", group_key="reactions")
    [entry] = selectors.group_entries(user=alice, unread_only=False, offset=0, limit=10)
    assert (entry.key, entry.count, entry.actors_text) == ("reactions", 2, "bob and 1 other")


def test_a_bad_group_key_is_refused(alice, bob):
    with pytest.raises(ValueError, match="group_key"):
        notify.send(bob, recipient=alice, verb="x", group_key="k" * 256)
    with pytest.raises(ValueError, match="group_key"):
        notify.send(bob, recipient=alice, verb="x", group_key=5)
    assert Notification.objects.count() == 0


def test_read_rows_and_rows_outside_the_window_are_entries_of_their_own(alice, bob, doc):
    now = timezone.now()
    old = comment(bob, alice, doc, timestamp=now - timedelta(days=3))
    comment(bob, alice, doc, timestamp=now - timedelta(hours=2))
    comment(bob, alice, doc, timestamp=now - timedelta(hours=1))
    read = comment(bob, alice, doc, timestamp=now - timedelta(hours=3))
    read.mark_as_read()

    entries = selectors.group_entries(user=alice, unread_only=False, offset=0, limit=10)

    assert [(e.count, e.notification.pk == old.pk, e.notification.pk == read.pk) for e in entries] == [
        (2, False, False),
        (1, False, True),
        (1, True, False),
    ]
    assert entries[1].key == f"#{read.pk}"
    unread = selectors.group_entries(user=alice, unread_only=True, offset=0, limit=10)
    assert [e.count for e in unread] == [2, 1]


def test_marking_a_group_read_marks_all_its_rows(alice, bob, doc):
    rows = [comment(bob, alice, doc) for _ in range(5)]
    other = comment(bob, alice, factories.group("Other"))
    assert services.notification_group_mark_read(user=alice, notification_id=rows[0].pk) == 5
    assert list(alice.notifications.unread()) == [other]


def test_a_group_of_someone_else_is_not_found(alice, bob, doc):
    row = comment(alice, bob, doc)
    with pytest.raises(services.NotificationNotFound):
        services.notification_group_mark_read(user=alice, notification_id=row.pk)
    assert bob.notifications.unread().count() == 1


def test_the_grouped_page_costs_the_same_queries_for_any_number_of_groups(client, alice, bob):
    client.force_login(alice)
    url = reverse("notifications:groups")

    def queries(groups):
        for i in range(groups):
            target = factories.group(f"doc {groups}-{i}")
            for actor in (bob, factories.user()):
                comment(actor, alice, target)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured), response

    few, _ = queries(2)
    many, response = queries(12)
    assert few == many
    assert len(response.context["entries"]) == 14
    text = " ".join(response.content.decode().split())
    assert re.search(r"user\d+ and bob commented on doc 12-11", text), text


def test_the_groups_endpoint_lists_entries_with_their_group(client, alice, bob, doc):
    for _ in range(3):
        comment(bob, alice, doc)
    client.force_login(alice)
    data = client.get(reverse("notifications:live_notification_groups"), {"max": 5}).json()
    [item] = data["groups"]
    assert item["group"]["count"] == 3
    assert item["group"]["actors"] == ["bob"]
    assert item["group"]["latest_id"] == item["id"]
    assert item["verb"] == "commented on"


def test_django_notifications_items_keep_their_keys(client, alice, bob, doc):
    comment(bob, alice, doc)
    client.force_login(alice)
    [item] = client.get(reverse("notifications:live_all_notification_list")).json()["all_list"]
    assert "seen_at" not in item and "group_key" not in item and "group" not in item


def test_a_bulk_send_stores_one_key_for_every_recipient(alice, bob, doc):
    team = factories.group("team", alice, bob, factories.user())
    notify.send(bob, recipient=team, verb="commented on", target=doc)
    notify.send(alice, recipient=team, verb="commented on", target=doc)
    assert Notification.objects.values("group_key").distinct().count() == 1
    groups = selectors.groups_of([selectors.row_of(n) for n in alice.notifications.all()])
    assert {g["count"] for g in groups.values()} == {2}
    assert sorted(next(iter(groups.values()))["actors"]) == ["alice", "bob"]


def test_an_older_rows_group_is_measured_from_the_newest_row_of_its_key(alice, bob, doc):
    now = timezone.now()
    oldest = comment(bob, alice, doc, timestamp=now - timedelta(hours=30))
    older = comment(bob, alice, doc, timestamp=now - timedelta(hours=20))
    newest = comment(factories.user("carol"), alice, doc, timestamp=now)
    groups = selectors.groups_of([selectors.row_of(oldest), selectors.row_of(older)])
    assert groups[older.pk] == {"key": older.group_key, "count": 2, "actors": ["carol", "bob"], "latest_id": newest.pk}
    assert groups[oldest.pk] == {"key": f"#{oldest.pk}", "count": 1, "actors": ["bob"], "latest_id": oldest.pk}


def entries_of(user, unread_only=False):
    return [
        (e.count, e.actors, e.notification.pk, e.key != f"#{e.notification.pk}")
        for e in selectors.group_entries(user=user, unread_only=unread_only, offset=0, limit=20)
    ]


@pytest.mark.parametrize("groups", [1, 50])
def test_a_page_of_entries_is_one_query_and_one_per_related_type(django_assert_num_queries, alice, bob, groups):
    carol = factories.user("carol")
    for i in range(groups):
        target = factories.group(f"doc {i}")
        for actor in (bob, carol, bob):
            comment(actor, alice, target)
    # The entries, their actors (users) and their targets (groups).
    with django_assert_num_queries(3):
        entries = selectors.group_entries(user=alice, unread_only=False, offset=0, limit=21)
        texts = [f"{e.actors_text} {e.notification.verb} {e.notification.target}" for e in entries]
    assert len(entries) == min(groups, 21)
    assert texts[0] == f"bob, carol and 1 other commented on doc {groups - 1}"


def test_entries_follow_rows_marked_read_unread_and_deleted(settings, alice, bob, doc):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SOFT_DELETE": True}
    carol, dave = factories.user("carol"), factories.user("dave")
    now = timezone.now()
    first, second, third, newest = (
        comment(actor, alice, doc, timestamp=now - timedelta(minutes=minutes))
        for actor, minutes in ((bob, 4), (carol, 3), (dave, 2), (bob, 1))
    )
    assert entries_of(alice) == [(4, ["bob", "dave", "carol"], newest.pk, True)]

    newest.mark_as_read()
    assert entries_of(alice) == [(1, ["bob"], newest.pk, False), (3, ["dave", "carol", "bob"], third.pk, True)]
    assert entries_of(alice, unread_only=True) == [(3, ["dave", "carol", "bob"], third.pk, True)]

    newest.mark_as_unread()
    Notification.objects.filter(pk=third.pk).mark_all_as_deleted()
    assert entries_of(alice) == [(3, ["bob", "carol"], newest.pk, True)]

    alice.notifications.mark_all_as_read()
    assert [count for count, *_ in entries_of(alice)] == [1, 1, 1]
    alice.notifications.mark_all_as_unread()
    assert entries_of(alice) == [(3, ["bob", "carol"], newest.pk, True)]

    newest.delete()
    assert entries_of(alice) == [(2, ["carol", "bob"], second.pk, True)]
    services.notification_group_mark_read(user=alice, notification_id=first.pk)
    assert entries_of(alice, unread_only=True) == []


def test_a_group_reaches_back_exactly_the_window(settings, alice, bob, doc):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"GROUP_WINDOW_SECONDS": 3600}
    newest_time = timezone.now().replace(microsecond=999_999)
    edge = comment(bob, alice, doc, timestamp=newest_time - timedelta(hours=1))
    outside = comment(bob, alice, doc, timestamp=newest_time - timedelta(hours=1, microseconds=1))
    newest = comment(factories.user("carol"), alice, doc, timestamp=newest_time)
    assert entries_of(alice) == [(2, ["carol", "bob"], newest.pk, True), (1, ["bob"], outside.pk, False)]
    assert edge.pk not in [pk for *_, pk, _ in entries_of(alice)]


def test_a_registered_queryset_filter_applies_to_the_grouped_page(client, alice, bob, monkeypatch):
    from notifications import registry

    carol = factories.user("carol")
    for actor, verb in ((bob, "keep"), (carol, "hide"), (bob, "keep"), (carol, "hide")):
        notify.send(actor, recipient=alice, verb=verb, group_key="reactions")
    client.force_login(alice)
    url = reverse("notifications:live_notification_groups")
    assert [(g["group"]["count"], g["group"]["actors"]) for g in client.get(url).json()["groups"]] == [
        (4, ["carol", "bob"])
    ]
    monkeypatch.setattr(registry, "_queryset_filters", [lambda queryset, request: queryset.exclude(verb="hide")])
    [item] = client.get(url).json()["groups"]
    assert (item["verb"], item["group"]["count"], item["group"]["actors"]) == ("keep", 2, ["bob"])


def test_an_entry_whose_actor_is_gone_costs_no_query_more(django_assert_num_queries, alice, bob, doc):
    carol = factories.user("carol")
    comment(bob, alice, doc)
    comment(carol, alice, factories.group("Other doc"))
    comment(carol, alice, doc)
    carol.delete()
    with django_assert_num_queries(3):
        entries = selectors.group_entries(user=alice, unread_only=False, offset=0, limit=20)
        texts = [e.actors_text for e in entries]
    assert texts == ["bob and 1 other", "None"]
    assert [e.count for e in entries] == [2, 1]


def test_marking_seen_after_everything_was_read_changes_nothing_and_tells_no_one(alice, bob, doc, monkeypatch):
    from notifications import delivery

    newest = comment(bob, alice, doc)
    alice.notifications.mark_all_as_read()
    told = []
    monkeypatch.setattr(delivery, "notifications_seen", lambda up_to, using: told.append(up_to))
    assert services.notifications_mark_seen(user=alice, up_to=newest.pk) == 0
    assert told == []


def test_a_group_read_elsewhere_between_the_lookups_is_that_row_alone(alice, bob, doc, monkeypatch):
    from notifications.selectors import groups

    rows = [comment(bob, alice, doc) for _ in range(3)]
    keyed_unread = groups._keyed_unread

    def read_meanwhile(queryset):
        Notification.objects.filter(recipient=alice).update(unread=False)
        return keyed_unread(queryset)

    monkeypatch.setattr(groups, "_keyed_unread", read_meanwhile)
    assert list(selectors.group_rows(user=alice, notification_id=rows[0].pk)) == [rows[0]]


def test_a_grouped_page_beyond_any_row_is_not_found(client, alice):
    client.force_login(alice)
    assert client.get(reverse("notifications:groups"), {"page": str(10**20)}).status_code == 404
    assert client.get(reverse("notifications:groups"), {"page": "2"}).status_code == 200


def test_a_bulk_sends_copies_join_their_open_groups_in_two_queries(django_assert_num_queries, alice, bob, doc):
    """Each server process rebuilds a bulk send's rows from the layer event
    and groups them: one query for the groups' rows and one for the actors'
    names, however many groups were open."""
    from notifications.delivery import _created_events

    carol = factories.user("carol")
    members = factories.group("members", alice, bob)
    notify.send(carol, recipient=members, verb="commented on", target=doc)
    created = notify.send(bob, recipient=members, verb="commented on", target=doc)[0][1]
    [(_, event)] = _created_events(selectors.shared_payload(created), created)
    rows = selectors.copy_rows(event, list(zip(event["recipients"], event["ids"], strict=True)))
    with django_assert_num_queries(2):
        groups = selectors.groups_of(rows)
    assert {groups[n.pk]["count"] for n in created} == {2}
    assert {tuple(groups[n.pk]["actors"]) for n in created} == {("bob", "carol")}


def test_a_pushed_rows_group_is_one_compiled_query_and_other_actors_one_more(
    django_assert_num_queries, alice, bob, doc
):
    """Every personal push asks for its row's group: a group of that row
    alone, or of rows by its actor only, costs one query, compiled once, and
    a group with other actors one more for their names."""
    first = comment(bob, alice, doc)
    with django_assert_num_queries(1):
        groups = selectors.groups_of([selectors.row_of(first)])
    assert groups[first.pk] == {"key": first.group_key, "count": 1, "actors": ["bob"], "latest_id": first.pk}
    again = comment(bob, alice, doc)
    with django_assert_num_queries(1):
        groups = selectors.groups_of([selectors.row_of(again)])
    assert groups[again.pk] == {"key": again.group_key, "count": 2, "actors": ["bob"], "latest_id": again.pk}
    second = comment(factories.user("carol"), alice, doc)
    row = selectors.row_of(second)
    with django_assert_num_queries(2):
        groups = selectors.groups_of([row])
    assert groups[second.pk] == {
        "key": second.group_key,
        "count": 3,
        "actors": ["carol", "bob"],
        "latest_id": second.pk,
    }
