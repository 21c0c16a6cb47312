"""The django-notifications Python API: the model, notify.send, the queryset
and instance methods, and the services they go through."""

import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import selectors
from notifications.base.models import notify_handler
from notifications.signals import notify
from notifications.swappable import load_notification_model
from notifications.utils import id2slug, slug2id
from project.models import Task
from tests import factories

# The site's notification model (tests/shapes swaps one in).
Notification = load_notification_model()

pytestmark = pytest.mark.django_db


def test_notify_send_returns_the_handler_and_the_notifications(alice, bob):
    result = notify.send(bob, recipient=alice, verb="followed")
    [(handler, notifications)] = result
    assert handler is notify_handler
    [n] = notifications
    assert n.pk and n.recipient == alice and n.actor == bob and n.verb == "followed"
    assert (n.level, n.unread, n.public, n.deleted, n.emailed) == ("info", True, True, False, False)
    assert list(alice.notifications.unread()) == [n]


def test_target_action_object_description_level_timestamp_and_extra_data(alice, bob):
    task = Task.objects.create(title="Ship it", created_by=bob, assignee=bob)
    when = timezone.now() - timedelta(days=1)
    [(_, [n])] = notify.send(
        bob,
        recipient=alice,
        verb="mentioned you",
        target=task,
        action_object=bob,
        description="in a comment",
        level="warning",
        public=False,
        timestamp=when,
        url="/x",
        count=3,
    )
    n.refresh_from_db()
    assert n.target == task and n.action_object == bob
    assert (n.description, n.level, n.public, n.timestamp) == ("in a comment", "warning", False, when)
    assert n.data == {"url": "/x", "count": 3}
    assert n.target_object_id == str(task.pk)


@pytest.mark.parametrize("kind", ["group", "queryset", "list"])
def test_many_recipients_are_stored_with_bulk_inserts(bob, kind, settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"BULK_CREATE_BATCH_SIZE": 10}
    users = [factories.user() for _ in range(25)]
    recipient = {
        "group": lambda: factories.group("editors", *users),
        "queryset": lambda: get_user_model().objects.filter(pk__in=[u.pk for u in users]),
        "list": lambda: users,
    }[kind]()
    with CaptureQueriesContext(connection) as queries:
        [(_, created)] = notify.send(bob, recipient=recipient, verb="announced")
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    # A Group or a QuerySet is one INSERT ... SELECT; a list, 25 rows in
    # batches of 10.
    assert len(inserts) == (3 if kind == "list" else 1)
    assert sorted(n.recipient_id for n in created) == sorted(u.pk for u in users)
    assert Notification.objects.count() == 25


def _stored(notification):
    fields = Notification._meta.concrete_fields
    return {f.attname: getattr(notification, f.attname) for f in fields if f.attname not in {"id", "recipient_id"}}


@pytest.mark.parametrize("kind", ["group", "queryset"])
def test_a_group_or_queryset_stores_the_same_rows_as_a_list(bob, kind):
    """The one-statement insert of a Group or a QuerySet stores and returns
    what sending to each user in a list does."""
    users = [factories.user() for _ in range(3)]
    task = Task.objects.create(title="Ship it", created_by=bob, assignee=bob)
    many = {
        "group": lambda: factories.group("editors", *users),
        "queryset": lambda: get_user_model().objects.filter(pk__in=[u.pk for u in users]).order_by("-pk"),
    }[kind]()
    when = timezone.now() - timedelta(hours=1)
    options = dict(target=task, action_object=bob, description="d", level="warning", public=False, timestamp=when)
    [(_, by_list)] = notify.send(bob, recipient=users, verb="v", url="/x", count=3, **options)
    with CaptureQueriesContext(connection) as queries:
        [(_, created)] = notify.send(bob, recipient=many, verb="v", url="/x", count=3, **options)
        # What the push after commit reads (actor, target, action object) is cached.
        assert [(n.actor, n.target, n.action_object) for n in created] == [(bob, task, bob)] * 3
    assert [q["sql"].split()[0] for q in queries.captured_queries].count("SELECT") == 0

    # In the order the query gives its users, as a list would be.
    order = many.values_list("pk", flat=True) if kind == "queryset" else sorted(u.pk for u in users)
    assert [n.recipient_id for n in created] == list(order)
    assert all(n.pk and not n._state.adding and n._state.db == "default" for n in created)
    stored = [Notification.objects.get(pk=n.pk) for n in created]
    assert [_stored(n) for n in stored] == [_stored(n) for n in created] == [_stored(by_list[0])] * 3
    created[0].data["count"] = 4
    assert created[1].data == {"url": "/x", "count": 3}  # each has its own


def test_the_push_of_a_group_send_builds_each_rows_own_item(bob, monkeypatch):
    """A Group's rows differ only in id and recipient, so its push builds one
    item and gives each row its id and slug: each equals the JSON list's item
    for that row. A related object that renders per notification still does."""
    users = [factories.user() for _ in range(3)]
    task = Task.objects.create(title="Ship it", created_by=bob, assignee=bob)
    group = factories.group("editors", *users)
    [(_, created)] = notify.send(bob, recipient=group, verb="v", target=task, description="d", url="/x")
    stored = [Notification.objects.get(pk=n.pk) for n in created]
    items = selectors.notification_payloads(created, alike=True)
    assert items == [selectors.notification_payload(n) for n in stored]
    assert [(item["id"], item["slug"]) for item in items] == [(n.id, id2slug(n.id)) for n in created]

    monkeypatch.setattr(Task, "get_url_for_notifications", lambda self, n, request: f"/t/{n.pk}", raising=False)
    items = selectors.notification_payloads(created, alike=True)
    assert [item["target_url"] for item in items] == [f"/t/{n.pk}" for n in created]


def test_a_distinct_queryset_ordered_by_another_field_is_stored_row_by_row(bob):
    """Its SELECT needs the ordering column beside the pk, which the
    one-statement insert cannot read (it would fail with a column-count
    error), so it takes the per-row path."""
    users = [factories.user(name) for name in ("cy", "al", "bo")]
    one, two = factories.group("one", *users), factories.group("two", *users[:2])
    User = get_user_model()
    recipients = User.objects.filter(groups__in=[one, two]).distinct().order_by(User.USERNAME_FIELD)
    [(_, created)] = notify.send(bob, recipient=recipients, verb="v")
    assert [n.recipient.get_username() for n in created] == [factories.login_name(n) for n in ("al", "bo", "cy")]
    assert Notification.objects.count() == 3


def test_an_empty_group_stores_nothing(bob):
    if not factories.has_groups():
        # A user model without groups: a Group is a clear error, not an empty send.
        with pytest.raises(TypeError, match="has no 'groups' relation"):
            notify.send(bob, recipient=factories.group("nobody"), verb="v")
        return
    [(_, created)] = notify.send(bob, recipient=factories.group("nobody"), verb="v")
    assert created == [] and not Notification.objects.exists()


def test_a_queryset_of_something_else_than_users_is_a_clear_error(alice, bob):
    with pytest.raises(TypeError, match="QuerySet must be of users; got one of Task"):
        notify.send(bob, recipient=Task.objects.all(), verb="v")
    assert not Notification.objects.exists()


def test_without_insert_returning_a_group_is_stored_row_by_row(bob, monkeypatch):
    """Databases that cannot return the ids of inserted rows (MySQL) store a
    Group per row, as they store a list."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    users = [factories.user() for _ in range(3)]
    [(_, created)] = notify.send(bob, recipient=factories.group("editors", *users), verb="v")
    assert sorted(n.recipient_id for n in created) == sorted(u.pk for u in users)
    assert all(n.pk for n in created) and Notification.objects.count() == 3


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"recipient": "alice"}, TypeError),
        ({"recipient": [None]}, TypeError),
        ({"target": get_user_model}, TypeError),
        ({"level": "shouting"}, ValueError),
    ],
)
def test_bad_arguments_are_clear_errors_and_store_nothing(alice, bob, kwargs, error):
    arguments = {"recipient": alice, "verb": "x", **kwargs}
    with pytest.raises(error):
        notify.send(bob, **arguments)
    assert not Notification.objects.exists()


def test_an_unsaved_or_class_actor_is_refused(alice):
    # Django's Signal.send hashes the sender, which an unsaved instance
    # refuses; one whose key has a default (a UUID) is hashable and refused
    # as unsaved.
    ghost = get_user_model()(**{get_user_model().USERNAME_FIELD: "ghost"})
    with pytest.raises(TypeError if ghost.pk is None else ValueError, match=r"unhashable|unsaved"):
        notify.send(ghost, recipient=alice, verb="x")
    with pytest.raises(TypeError, match="saved user"):
        notify.send(alice, recipient=[ghost], verb="x")
    with pytest.raises(TypeError, match="instance"):
        notify.send(get_user_model(), recipient=alice, verb="x")
    with pytest.raises(ValueError, match="unsaved"):
        notify.send(alice, recipient=alice, verb="x", target=Task(title="unsaved"))
    assert not Notification.objects.exists()


def test_queryset_methods(alice, bob):
    for _ in range(3):
        notify.send(bob, recipient=alice, verb="x")
    notify.send(alice, recipient=bob, verb="y")
    assert alice.notifications.unread().count() == 3
    assert Notification.objects.mark_all_as_read(recipient=alice) == 3
    assert alice.notifications.read().count() == 3 and bob.notifications.unread().count() == 1
    assert Notification.objects.mark_all_as_unread(recipient=alice) == 3
    assert Notification.objects.mark_all_as_read() == 4
    assert Notification.objects.unsent().count() == 4
    assert Notification.objects.mark_as_sent(recipient=alice) == 3
    assert Notification.objects.sent().count() == 3
    assert Notification.objects.mark_as_unsent() == 3


def test_deleted_and_active_need_soft_delete(alice, bob, settings):
    notify.send(bob, recipient=alice, verb="x")
    with pytest.raises(ImproperlyConfigured, match="SOFT_DELETE"):
        Notification.objects.deleted()
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SOFT_DELETE": True}
    assert Notification.objects.mark_all_as_deleted(recipient=alice) == 1
    assert Notification.objects.deleted().count() == 1 and Notification.objects.active().count() == 0
    assert alice.notifications.unread().count() == 0
    assert alice.notifications.unread(include_deleted=True).count() == 1
    assert Notification.objects.mark_all_as_active() == 1
    assert alice.notifications.unread().count() == 1


def test_instance_methods_and_slugs(alice, bob):
    [(_, [n])] = notify.send(bob, recipient=alice, verb="liked")
    n.mark_as_read()
    n.refresh_from_db()
    assert n.unread is False
    n.mark_as_unread()
    n.refresh_from_db()
    assert n.unread is True
    assert n.slug == id2slug(n.id) and slug2id(n.slug) == n.id
    assert n.timesince() in {"0\xa0minutes", "0 minutes"}
    assert n.naturalday() == "today"
    assert "ago" in n.naturaltime() or n.naturaltime() == "now"
    assert str(n).startswith(f"{bob} liked")


def test_a_rolled_back_write_schedules_no_push(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                notify.send(bob, recipient=alice, verb="x")
                raise RuntimeError("rollback")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Notification.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        notify.send(bob, recipient=alice, verb="x")
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_a_channel_layer_failure_is_logged_and_the_write_stands(alice, bob, settings, caplog):
    from notifications.realtime import publish as publish_module
    from notifications.realtime import redis_channel_layer

    # Nothing listens on port 1: every layer call fails.
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)}
    publish_module._publishers.clear()
    with caplog.at_level(logging.WARNING, logger="notifications.realtime"):
        [(_, [n])] = notify.send(bob, recipient=alice, verb="x")
    assert Notification.objects.filter(pk=n.pk).exists()
    assert "could not publish" in caplog.text
    publish_module._publishers.clear()


def test_before_the_app_is_ready_a_write_says_what_binds_the_models_writer(alice, monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from notifications.base import models as base_models

    monkeypatch.setattr(base_models, "_bound", {})
    with pytest.raises(ImproperlyConfigured, match=r"super\(\)\.ready\(\)"):
        alice.notifications.mark_all_as_read()
    with pytest.raises(ImproperlyConfigured, match="INSTALLED_APPS"):
        base_models.notify_handler  # noqa: B018
