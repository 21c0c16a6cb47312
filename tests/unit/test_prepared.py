"""The queries compiled once (notifications/selectors/prepared.py) answer as
the ORM does, for other values, settings and times than they were compiled
with. Runs on SQLite and on PostgreSQL (the second pass)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import selectors
from notifications.models import Announcement, Notification
from notifications.selectors.announcements import _group_ids, _is_staff, _live_ids, any_live
from notifications.selectors.prepared import STAND_IN_ID, PreparedQuery, as_id
from notifications.selectors.sockets import _newest
from notifications.signals import notify

pytestmark = pytest.mark.django_db


def orm_unread(user):
    return Notification.objects.filter(recipient=user).unread().count()


def test_the_badge_count_matches_the_orm_for_each_user(alice, bob):
    for verb in ("a", "b", "c"):
        notify.send(bob, recipient=alice, verb=verb)
    notify.send(alice, recipient=bob, verb="d")
    Notification.objects.filter(recipient=alice, verb="a").update(unread=False)
    carol = get_user_model().objects.create(username="carol")

    for user, expected in ((alice, 2), (bob, 1), (carol, 0)):
        assert selectors.unread_counts(user_ids=[user.pk]) == {user.pk: expected} == {user.pk: orm_unread(user)}
        assert selectors.badge_count(user=user) == expected


def test_the_count_is_compiled_again_when_soft_delete_changes(alice, bob, settings):
    for verb in ("a", "b"):
        notify.send(bob, recipient=alice, verb=verb)
    Notification.objects.filter(verb="a").update(deleted=True)
    assert selectors.unread_counts(user_ids=[alice.pk]) == {alice.pk: 2}

    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SOFT_DELETE": True}
    assert selectors.unread_counts(user_ids=[alice.pk]) == {alice.pk: 1} == {alice.pk: orm_unread(alice)}


def test_a_count_after_the_first_runs_one_query_and_no_orm_compile(alice, bob, monkeypatch):
    notify.send(bob, recipient=alice, verb="a")
    selectors.unread_counts(user_ids=[bob.pk])  # compiles

    from django.db.models.sql import compiler

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(compiler.SQLCompiler, "as_sql", no_compile)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.unread_counts(user_ids=[alice.pk]) == {alice.pk: 1}
    assert len(queries) == 1


@pytest.mark.parametrize(
    ("fields", "live"),
    [
        ({"published_at": -60}, True),
        ({"published_at": -60, "expires_at": -1}, False),
        ({"published_at": -60, "expires_at": 60}, True),
        ({"publish_at": -5}, True),  # due: a server claims and pushes it within seconds
        ({"publish_at": 60}, False),
        ({}, False),  # a draft
    ],
)
def test_any_live_matches_the_orm_at_the_current_time(fields, live):
    now = timezone.now()
    Announcement.objects.create(
        title="t", body="b", **{name: now + timedelta(seconds=offset) for name, offset in fields.items()}
    )
    assert any_live() is live
    assert Announcement.objects.live().exists() is live
    assert None not in _live_ids._compiled.values()  # ran the compiled SQL


def test_a_live_announcement_is_counted_in_the_badge(alice):
    assert selectors.badge_count(user=alice) == 0
    Announcement.objects.create(title="t", body="b", published_at=timezone.now() - timedelta(seconds=1))
    assert selectors.badge_count(user=alice) == 1
    assert [a.title for a in selectors.announcements_for(user=alice)] == ["t"]


def test_a_query_without_its_stand_in_is_built_each_time(alice, bob):
    """An empty ``pk__in`` compiles to nothing (EmptyResultSet), and a query
    that ignores its value has no parameter to put it in: both still answer."""
    notify.send(bob, recipient=alice, verb="a")
    empty = PreparedQuery(
        lambda user_id: Notification.objects.filter(recipient_id=user_id, pk__in=[]).values_list("pk"),
        stand_ins=lambda: (STAND_IN_ID,),
        adapt=(as_id,),
    )
    assert empty.rows(alice.pk) == []
    ignores = PreparedQuery(
        lambda user_id: Notification.objects.values_list("recipient_id"),
        stand_ins=lambda: (STAND_IN_ID,),
        adapt=(as_id,),
    )
    assert ignores.rows(alice.pk) == [(alice.pk,)]
    assert set(empty._compiled.values()) == set(ignores._compiled.values()) == {None}


def test_the_audience_is_read_fresh_for_each_user(alice, bob):
    from tests import factories

    staff = get_user_model().objects.create(username="staff", is_staff=True)
    editors = factories.group("editors", alice)
    readers = factories.group("readers", alice, bob)
    assert selectors.audience_of(user=alice) == {"staff": False, "groups": sorted([editors.pk, readers.pk])}
    assert selectors.audience_of(user=bob) == {"staff": False, "groups": [readers.pk]}
    assert selectors.audience_of(user=staff) == {"staff": True, "groups": []}
    readers.user_set.remove(bob)
    get_user_model().objects.filter(pk=bob.pk).update(is_staff=True)
    assert selectors.audience_of(user=bob) == {"staff": True, "groups": []}
    assert None not in [*_is_staff._compiled.values(), *_group_ids._compiled.values()]


def test_the_hello_gives_the_newest_id_as_the_orm_does(alice, bob, settings):
    assert selectors.hello_snapshot(user=alice)["last_id"] is None
    [(_, [first])] = notify.send(bob, recipient=alice, verb="a")
    [(_, [second])] = notify.send(bob, recipient=alice, verb="b")
    notify.send(alice, recipient=bob, verb="c")
    assert selectors.hello_snapshot(user=alice)["last_id"] == second.pk

    Notification.objects.filter(pk=second.pk).update(deleted=True)
    assert selectors.hello_snapshot(user=alice)["last_id"] == second.pk
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SOFT_DELETE": True}
    assert selectors.hello_snapshot(user=alice)["last_id"] == first.pk
    assert None not in _newest._compiled.values()


def test_a_registered_queryset_filter_applies_to_the_newest_id(alice, bob, monkeypatch):
    from notifications import registry

    [(_, [first])] = notify.send(bob, recipient=alice, verb="keep")
    notify.send(bob, recipient=alice, verb="hide")
    monkeypatch.setattr(registry, "_queryset_filters", [lambda queryset, request: queryset.exclude(verb="hide")])
    assert selectors.hello_snapshot(user=alice)["last_id"] == first.pk


def test_the_heartbeat_and_has_notification_see_what_the_queryset_filters_leave(alice, bob, monkeypatch):
    # A heartbeat naming an id that sync never returns would make the
    # client sync on every beat.
    from notifications import registry
    from notifications.templatetags.notifications_tags import has_notification

    [(_, [first])] = notify.send(bob, recipient=alice, verb="keep")
    notify.send(bob, recipient=alice, verb="hide")
    calls = []

    def hide(queryset, request):
        calls.append(request)
        return queryset.exclude(verb="hide")

    monkeypatch.setattr(registry, "_queryset_filters", [hide])
    assert selectors.heartbeat_snapshots(user_ids=[alice.pk])[alice.pk]["last_id"] == first.pk
    calls.clear()
    assert has_notification(alice) is True
    assert calls == [None]
    first.mark_as_read()
    assert has_notification(alice) is False
