"""What django-notifications-hq's ``notify.send`` did that sites rely on: a
``post_save`` per stored row, ``pre_save`` changes stored, and extra keyword
arguments that never make a send fail."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from notifications.signals import notify
from notifications.swappable import load_notification_model
from tests import factories

Notification = load_notification_model()

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved():
    """Every post_save of the notification model: (pk, created, recipient,
    whether the row was in the database when the receiver ran)."""
    calls = []

    def receiver(sender, instance, created, **kwargs):
        stored = Notification.objects.filter(pk=instance.pk, recipient_id=instance.recipient_id).exists()
        calls.append((instance.pk, created, instance.recipient_id, stored, kwargs["using"]))

    post_save.connect(receiver, sender=Notification, dispatch_uid="test-saved")
    yield calls
    post_save.disconnect(sender=Notification, dispatch_uid="test-saved")


def recipients(kind, users):
    User = get_user_model()
    return {
        "user": lambda: users[0],
        "list": lambda: users,
        "queryset": lambda: User.objects.filter(pk__in=[u.pk for u in users]),
        "group": lambda: factories.group("team", *users),
    }[kind]()


@pytest.mark.parametrize("kind", ["user", "list", "queryset", "group"])
def test_post_save_runs_once_per_stored_row_with_created(saved, bob, kind):
    users = [factories.user() for _ in range(1 if kind == "user" else 3)]
    [(_, created)] = notify.send(bob, recipient=recipients(kind, users), verb="pinged")
    assert sorted(call[0] for call in saved) == sorted(n.pk for n in created)
    assert {(call[1], call[3], call[4]) for call in saved} == {(True, True, "default")}
    assert sorted(map(str, (call[2] for call in saved))) == sorted(str(u.pk) for u in users)


def test_a_receiver_that_emails_gets_the_saved_instance(bob):
    """The shape a real site has: email from a post_save receiver, with the
    row's own fields and its related objects."""

    def email(sender, instance, created, **kwargs):
        if created:
            mail.send_mail(f"{instance.actor} {instance.verb}", instance.description or "", None, ["x@example.com"])

    post_save.connect(email, sender=Notification, dispatch_uid="test-email")
    try:
        users = [factories.user() for _ in range(3)]
        notify.send(bob, recipient=users, verb="commented on", description="Nice")
    finally:
        post_save.disconnect(sender=Notification, dispatch_uid="test-email")
    assert [m.subject for m in mail.outbox] == [f"{bob} commented on"] * 3


def test_a_pre_save_receiver_changes_what_is_stored(bob):
    def shout(sender, instance, **kwargs):
        instance.description = (instance.description or "").upper()

    pre_save.connect(shout, sender=Notification, dispatch_uid="test-shout")
    try:
        users = [factories.user() for _ in range(2)]
        notify.send(
            bob, recipient=get_user_model().objects.filter(pk__in=[u.pk for u in users]), verb="v", description="hi"
        )
    finally:
        pre_save.disconnect(sender=Notification, dispatch_uid="test-shout")
    assert list(Notification.objects.values_list("description", flat=True)) == ["HI", "HI"]


def test_a_receiver_that_fails_stores_nothing(bob):
    def broken(sender, instance, **kwargs):
        raise RuntimeError("the site's receiver failed")

    post_save.connect(broken, sender=Notification, dispatch_uid="test-broken")
    try:
        with pytest.raises(RuntimeError, match="receiver failed"):
            notify.send(bob, recipient=[factories.user(), factories.user()], verb="v")
    finally:
        post_save.disconnect(sender=Notification, dispatch_uid="test-broken")
    assert not Notification.objects.exists()


def test_with_no_receiver_a_queryset_is_one_insert(bob):
    """The bulk path is kept when nothing listens."""
    users = [factories.user() for _ in range(5)]
    assert not post_save.has_listeners(Notification) and not pre_save.has_listeners(Notification)
    with CaptureQueriesContext(connection) as queries:
        notify.send(bob, recipient=get_user_model().objects.filter(pk__in=[u.pk for u in users]), verb="v")
    assert [q["sql"].split()[0] for q in queries.captured_queries].count("INSERT") == 1


# Extra keyword arguments -------------------------------------------------------


def test_by_default_extra_keywords_are_dropped_as_in_django_notifications(alice, bob, settings):
    """A site's ``notify.send(actor, recipient=..., actor=actor, verb=...)``
    worked with django-notifications-hq's default: the extra ``actor`` went
    nowhere. So it does here."""
    settings.DJANGO_NOTIFICATIONS_CONFIG = {}
    [(_, [n])] = notify.send(bob, recipient=alice, actor=bob, verb="joined", evidence=alice, data={"k": 1})
    n.refresh_from_db()
    assert n.data is None and n.actor == bob


def test_stored_extra_keywords_keep_what_json_holds_and_leave_out_the_rest(alice, bob, settings, caplog):
    import datetime
    import decimal
    import uuid

    settings.DJANGO_NOTIFICATIONS_CONFIG = {"USE_JSONFIELD": True}
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    key = uuid.UUID(int=7)
    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        [(_, [n])] = notify.send(
            bob, recipient=alice, actor=bob, verb="v", when=when, price=decimal.Decimal("1.50"), key=key, n=3
        )
    n.refresh_from_db()
    assert n.data == {"when": "2026-01-02T03:04:05Z", "price": "1.50", "key": str(key), "n": 3}
    assert "left 'actor' out of data" in caplog.text


# Lookups on data ----------------------------------------------------------------


def test_data_contains_a_string_matches_the_stored_text_on_every_database(alice, bob):
    """django-notifications stored ``data`` as JSON text, so sites filter
    with ``data__contains="..."`` as a substring match. It still is one."""
    notify.send(bob, recipient=alice, verb="a", data={"pr": 42, "repo": "django-live"})
    notify.send(bob, recipient=alice, verb="b", data={"pr": 7})
    notify.send(bob, recipient=alice, verb="c")
    mine = alice.notifications
    assert list(mine.filter(data__contains="django-live").values_list("verb", flat=True)) == ["a"]
    assert sorted(mine.filter(data__contains='"pr": ').values_list("verb", flat=True)) == ["a", "b"]
    assert list(mine.filter(data__icontains="DJANGO").values_list("verb", flat=True)) == ["a"]
    assert list(mine.filter(data__pr=7).values_list("verb", flat=True)) == ["b"]
    if connection.vendor == "postgresql":
        # A dict is JSON containment, as Django's JSONField has it.
        assert list(mine.filter(data__contains={"pr": 42}).values_list("verb", flat=True)) == ["a"]
