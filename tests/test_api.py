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

from notifications.base.models import notify_handler
from notifications.models import Notification
from notifications.signals import notify
from notifications.utils import id2slug, slug2id
from project.models import Task
from tests import factories

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
    assert len(inserts) == 3  # 25 rows in batches of 10
    assert sorted(n.recipient_id for n in created) == sorted(u.pk for u in users)
    assert Notification.objects.count() == 25


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
    # Django's Signal.send hashes the sender, which an unsaved instance refuses.
    with pytest.raises(TypeError, match="unhashable"):
        notify.send(get_user_model()(username="ghost"), recipient=alice, verb="x")
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
    assert str(n).startswith("bob liked")


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
