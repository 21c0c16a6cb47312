"""Model changes become notifications through <app>/live.py declarations."""

import logging

import pytest
from django.db import transaction

from notifications import triggers
from notifications.models import Notification
from notifications.triggers import Notice, on_create, on_delete, on_update
from project.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def forget_test_triggers():
    """Receivers declared in a test are disconnected after it."""
    before = set(triggers._connections)
    yield
    for receiver in set(triggers._connections) - before:
        triggers.disconnect(receiver)


def test_the_demo_task_notifies_the_assignee_then_the_creator(alice, bob):
    task = Task.objects.create(title="Write docs", created_by=alice, assignee=bob)
    [assigned] = bob.notifications.all()
    assert (assigned.actor, assigned.verb, assigned.action_object) == (alice, "assigned you", task)
    task.title = "Write better docs"
    task.save()
    assert not alice.notifications.exists()  # the watched field did not change
    task.done = True
    task.save()
    [completed] = alice.notifications.all()
    assert (completed.actor, completed.verb, completed.level) == (bob, "completed", "success")
    task.save()
    assert alice.notifications.count() == 1  # saved again, unchanged


def test_self_assignment_notifies_nobody(alice):
    Task.objects.create(title="Mine", created_by=alice, assignee=alice)
    assert not Notification.objects.exists()


def test_update_receivers_get_old_and_new_values(alice, bob):
    seen = []

    @on_update(Task, fields=["title", "done"])
    def watch(task, changes):
        seen.append(changes)

    task = Task.objects.create(title="a", created_by=alice, assignee=alice)
    task.title = "b"
    task.save()
    task.save(update_fields=["assignee"])  # no watched field: no query, no call
    assert seen == [{"title": ("a", "b")}]


def test_a_receiver_may_return_many_notices_and_delete_is_supported(alice, bob):
    @on_create(Task)
    def everyone(task):
        return [Notice(recipient=u, actor=task.created_by, verb="saw a task") for u in (alice, bob)]

    @on_delete(Task)
    def gone(task):
        return Notice(recipient=task.created_by, actor=task.assignee, verb=f"deleted {task.title}")

    task = Task.objects.create(title="t", created_by=alice, assignee=alice)
    assert Notification.objects.filter(verb="saw a task").count() == 2
    task.delete()
    assert alice.notifications.filter(verb="deleted t").count() == 1


def test_a_failing_receiver_is_logged_and_never_breaks_the_save(alice, bob, caplog):
    @on_create(Task)
    def broken(task):
        raise RuntimeError("receiver bug")

    @on_create(Task)
    def wrong_type(task):
        return "not a notice"

    with caplog.at_level(logging.ERROR, logger="notifications.triggers"), transaction.atomic():
        task = Task.objects.create(title="still saved", created_by=alice, assignee=bob)
    assert Task.objects.filter(pk=task.pk).exists()
    assert "broken" in caplog.text and "wrong_type" in caplog.text
    assert bob.notifications.filter(verb="assigned you").count() == 1  # other receivers still ran


def test_a_typo_in_fields_fails_at_declaration():
    from django.core.exceptions import FieldDoesNotExist

    with pytest.raises(FieldDoesNotExist):
        on_update(Task, fields=["stauts"])


def test_trigger_notifications_are_pushed_only_after_commit(alice, bob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                Task.objects.create(title="t", created_by=alice, assignee=bob)
                raise RuntimeError
        except RuntimeError:
            pass
    assert callbacks == [] and not Notification.objects.exists()


def test_a_notice_can_choose_its_delivery_channels(alice, bob):
    from notifications.models import Delivery

    @on_create(Task)
    def urgent(task):
        return Notice(recipient=task.assignee, verb="needs you now", channels={"email": "immediate"}, critical=True)

    Task.objects.create(title="Fix the outage", created_by=alice, assignee=bob)
    [delivery] = Delivery.objects.filter(recipient=bob)
    assert (delivery.channel, delivery.fallback, delivery.critical) == ("email", False, True)


def test_a_notice_with_an_unknown_channel_is_logged_and_the_save_stands(alice, bob, caplog):
    @on_create(Task)
    def broken(task):
        return Notice(recipient=task.assignee, verb="pinged", channels=["fax"])

    with caplog.at_level(logging.ERROR, logger="notifications.triggers"):
        task = Task.objects.create(title="Still saved", created_by=alice, assignee=bob)
    assert Task.objects.filter(pk=task.pk).exists()
    assert "unknown channel 'fax'" in caplog.text


def test_a_notices_category_follows_the_same_rule_as_notify_send(alice, bob, monkeypatch):
    # A site whose own notification model has a `category` field gets it set
    # by category=, from notify.send and from a trigger alike.
    from notifications import receivers, services

    calls = []
    monkeypatch.setattr(receivers, "delivery_category", lambda kwargs: calls.append(dict(kwargs)) or None)
    created = []
    monkeypatch.setattr(services, "notification_create", lambda **kwargs: created.append(kwargs) or [])

    @on_create(Task)
    def billed(task):
        return Notice(recipient=task.assignee, verb="billed", category="billing", data={"amount": 3})

    Task.objects.create(title="Invoice", created_by=alice, assignee=bob)
    assert {"category": "billing"} in calls
    [kwargs] = [k for k in created if k["verb"] == "billed"]
    assert kwargs["category"] is None
    assert kwargs["extra"] == {"category": "billing", "data": {"amount": 3}}
