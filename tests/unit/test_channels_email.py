"""Email after the fact: the fallback rule, per-call channels, both bodies,
one-click unsubscribe and digests, through a real SMTP server."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core import checks
from django.core.management import call_command
from django.utils import timezone

from notifications.models import ChannelPreference, Delivery
from notifications.outbound.services import deliveries_send_due, presence_record
from notifications.signals import notify
from notifications.swappable import load_notification_model
from tests import factories
from tests.smtp import bodies

# The site's notification model (tests/shapes swaps one in).
Notification = load_notification_model()

pytestmark = pytest.mark.django_db

SITE = "http://testserver"


@pytest.fixture
def email_on(settings, smtp):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        "CHANNELS": ["email"],
        "SITE_URL": SITE,
        "CATEGORIES": {"mentions": {"label": "Mentions", "verbs": ["mentioned you in"]}},
        "DELIVERY_BACKOFF_SECONDS": 60,
        "DELIVERY_MAX_ATTEMPTS": 2,
    }
    return smtp


@pytest.fixture
def people():
    return (
        factories.user("alice", email="alice@example.com"),
        factories.user("bob", email="bob@example.com"),
    )


def deliver(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("notifications_deliver", *args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_a_notification_still_unread_after_the_delay_is_emailed_once_with_both_bodies(email_on, people):
    alice, bob = people
    notify.send(bob, recipient=alice, verb="commented on", description="Looks good to me")

    assert "0 sent" in deliver()  # not due for ten minutes
    assert email_on.messages == []

    output = deliver("--now")
    assert "sent email of notification" in output and "to alice" in output
    [message] = email_on.wait_for(1)
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == f"{bob} commented on"
    unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"].strip()).group(1)
    assert unsubscribe.startswith(f"{SITE}/notifications/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = bodies(message)
    assert f"{bob} commented on" in text and "Looks good to me" in text and unsubscribe in text
    assert f"<strong>{bob}</strong> commented on" in html and f'href="{unsubscribe}"' in html

    assert "0 sent" in deliver("--now")  # exactly once
    assert len(email_on.messages) == 1
    assert Delivery.objects.get().state == "sent"
    assert list(Notification.objects.sent()) == list(Notification.objects.all())  # django-notifications' flag


def test_the_delay_is_measured_from_the_notification(email_on, people):
    alice, bob = people
    notify.send(bob, recipient=alice, verb="commented on")
    assert deliveries_send_due(now=timezone.now() + timedelta(minutes=9)).claimed == 0
    assert len(deliveries_send_due(now=timezone.now() + timedelta(minutes=10, seconds=1)).sent) == 1
    email_on.wait_for(1)


def test_no_fallback_for_what_was_read_or_seen_with_a_socket_open(email_on, people):
    alice, bob = people
    carol = factories.user("carol", email="carol@example.com")
    [(_, [read])] = notify.send(bob, recipient=alice, verb="commented on")
    read.mark_as_read()
    notify.send(bob, recipient=carol, verb="commented on")
    presence_record(user_ids={carol.pk}, now=timezone.now() + timedelta(seconds=1))

    output = deliver("--now")
    assert "skipped email of notification" in output
    assert "read before it was due" in output and "a socket of the recipient was open" in output
    assert email_on.messages == []


def test_immediate_per_call_and_verb_rules(email_on, people, settings):
    alice, bob = people
    settings.DJANGO_NOTIFICATIONS_CONFIG["VERB_RULES"] = {"liked": {"email": "off"}}
    notify.send(bob, recipient=alice, verb="liked")
    assert not Delivery.objects.exists()
    notify.send(bob, recipient=alice, verb="paid you", channels={"email": "immediate"})
    report = deliveries_send_due()
    assert [d.channel for d in report.sent] == ["email"]
    assert email_on.wait_for(1)[0]["Subject"] == f"{bob} paid you"


def test_unknown_channels_and_categories_are_clear_errors(settings, people):
    alice, bob = people
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        notify.send(bob, recipient=alice, verb="pinged", channels=["fax"])
    with pytest.raises(ValueError, match="Unknown notification category 'spam'"):
        notify.send(bob, recipient=alice, verb="pinged", category="spam")
    assert not Notification.objects.exists()

    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        "CHANNELS": ["email", "pigeon"],
        "DELIVERY_RULES": {"spam": {"email": "immediate"}, "*": {"email": "sometimes"}},
    }
    errors = {(e.id, e.msg) for e in checks.run_checks() if e.id.startswith("notifications.E02")}
    assert (
        "notifications.E020",
        "DJANGO_NOTIFICATIONS_CONFIG['CHANNELS'] names an unknown channel 'pigeon'.",
    ) in errors
    assert any(i == "notifications.E021" and "'spam'" in m for i, m in errors)
    assert any(i == "notifications.E022" and "'sometimes'" in m for i, m in errors)


def test_a_failing_smtp_server_is_retried_then_marked_failed(email_on, people):
    alice, bob = people
    email_on.refuse = True
    notify.send(bob, recipient=alice, verb="commented on", channels={"email": "immediate"})
    output = deliver()
    assert "will retry email" in output and "451" in output
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    output = deliver("--now")
    assert "failed email" in output and "after 2 attempts" in output
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "451" in delivery.last_error


def test_the_recipients_language_is_used(email_on, people, settings):
    alice, bob = people
    field = "last_name" if hasattr(alice, "last_name") else "language"
    settings.DJANGO_NOTIFICATIONS_CONFIG["USER_LANGUAGE_FIELD"] = field  # a site's own field
    type(alice)._default_manager.filter(pk=alice.pk).update(**{field: "de"})
    notify.send(bob, recipient=alice, verb="commented on", channels={"email": "immediate"})
    deliver()
    _, html = bodies(email_on.wait_for(1)[0])
    assert '<html lang="de">' in html


def test_a_recipient_without_a_language_gets_the_sites_language(email_on, people, settings):
    alice, bob = people
    settings.LANGUAGE_CODE = "de"
    notify.send(bob, recipient=alice, verb="commented on", channels={"email": "immediate"})
    deliver()
    _, html = bodies(email_on.wait_for(1)[0])
    assert '<html lang="de">' in html


def test_one_click_unsubscribe_turns_that_categorys_email_off(email_on, people, client):
    alice, bob = people
    notify.send(bob, recipient=alice, verb="mentioned you in", channels={"email": "immediate"})
    deliver()
    [message] = email_on.wait_for(1)
    url = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"].strip()).group(1).removeprefix(SITE)

    page = client.get(url)
    assert page.status_code == 200 and b"Unsubscribe?" in page.content
    assert not ChannelPreference.objects.exists()  # a GET changes nothing

    done = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    assert ChannelPreference.objects.get(user=alice).frequency == "never"
    assert ChannelPreference.objects.get(user=alice).category == "mentions"

    notify.send(bob, recipient=alice, verb="mentioned you in", channels={"email": "immediate"})
    assert "turned off in the recipient's preferences" in deliver()
    notify.send(bob, recipient=alice, verb="commented on", channels={"email": "immediate"})
    deliver()
    assert len(email_on.wait_for(2)) == 2  # other categories still arrive


def test_a_tampered_or_expired_unsubscribe_link_gets_a_clear_400_page(email_on, people, client, monkeypatch):
    import django.core.signing

    from notifications.outbound.unsubscribe import unsubscribe_token

    alice, _ = people
    token = unsubscribe_token(user_id=alice.pk, category="default", channel="email")
    tampered = client.post(f"/notifications/unsubscribe/{token[:-2]}xx/")
    assert tampered.status_code == 400 and b"This unsubscribe link is not valid." in tampered.content

    real_time = django.core.signing.time.time
    monkeypatch.setattr(django.core.signing, "time", SimpleNamespace(time=lambda: real_time() - 91 * 24 * 3600))
    old = unsubscribe_token(user_id=alice.pk, category="default", channel="email")
    monkeypatch.undo()
    expired = client.get(f"/notifications/unsubscribe/{old}/")
    assert expired.status_code == 400 and b"This unsubscribe link has expired." in expired.content
    assert not ChannelPreference.objects.exists()


def test_a_digest_lists_what_is_still_unread_grouped_by_verb_and_target(email_on, people):
    alice, bob = people
    carol = factories.user("carol")
    post = factories.user("launch-plan")  # any model instance serves as a target
    ChannelPreference.objects.create(user=alice, category="default", channel="email", frequency="hourly")
    notify.send(bob, recipient=alice, verb="commented on", target=post)
    notify.send(carol, recipient=alice, verb="commented on", target=post)
    notify.send(bob, recipient=alice, verb="liked")
    [(_, [read])] = notify.send(carol, recipient=alice, verb="shared")
    read.mark_as_read()

    report = deliveries_send_due(ignore_delays=True)
    assert len(report.deferred) == 3  # the read one was skipped, not deferred
    [message] = email_on.wait_for(1)
    assert message["Subject"] == "3 unread notifications"
    text, html = bodies(message)
    assert f"commented on {post} (2)" in text
    assert f"  - {bob} commented on\n  - {carol} commented on" in text
    assert "liked (1)" in text and "shared" not in text
    assert "<h3>liked (1)</h3>" in html

    # Nothing new since: no email.
    notify.send(bob, recipient=alice, verb="pinged")
    Notification.objects.filter(verb="pinged").update(unread=False)
    deliveries_send_due(ignore_delays=True)
    assert len(email_on.messages) == 1


def test_the_digest_waits_for_the_end_of_its_period(email_on, people):
    alice, bob = people
    ChannelPreference.objects.create(user=alice, category="default", channel="email", frequency="daily")
    notify.send(bob, recipient=alice, verb="commented on", channels={"email": "immediate"})
    report = deliveries_send_due()
    assert len(report.deferred) == 1 and not report.sent
    delivery = Delivery.objects.get()
    assert delivery.digest == "daily" and delivery.due_at > timezone.now()
    assert deliveries_send_due().claimed == 0
    assert len(deliveries_send_due(now=delivery.due_at).sent) == 1


def test_a_critical_send_ignores_preferences(email_on, people):
    alice, bob = people
    ChannelPreference.objects.create(user=alice, category="default", channel="email", frequency="never")
    notify.send(bob, recipient=alice, verb="reset your password", channels={"email": "immediate"})
    notify.send(bob, recipient=alice, verb="locked your account", channels={"email": "immediate"}, critical=True)
    deliver()
    [message] = email_on.wait_for(1)
    assert message["Subject"] == f"{bob} locked your account"


def test_a_digest_goes_out_whole_when_it_spans_several_claims(email_on, people, settings):
    alice, bob = people
    settings.DJANGO_NOTIFICATIONS_CONFIG["DELIVERY_BATCH_SIZE"] = 2
    ChannelPreference.objects.create(user=alice, category="default", channel="email", frequency="daily")
    for index in range(5):
        notify.send(bob, recipient=alice, verb=f"commented {index}")
    report = deliveries_send_due(ignore_delays=True)
    assert len(report.deferred) == 5 and len(report.sent) == 5
    [message] = email_on.wait_for(1)
    assert message["Subject"] == "5 unread notifications"


def test_a_socket_open_after_an_older_notification_but_before_a_newer_one_skips_only_the_older(email_on, people):
    alice, bob = people
    [(_, [older])] = notify.send(bob, recipient=alice, verb="commented on")
    presence_record(user_ids={alice.pk}, now=timezone.now() + timedelta(seconds=1))
    [(_, [newer])] = notify.send(bob, recipient=alice, verb="replied to")
    Notification.objects.filter(pk=newer.pk).update(timestamp=timezone.now() + timedelta(seconds=2))

    deliver("--now")
    states = dict(Delivery.objects.values_list("notification_id", "last_error"))
    assert states[older.pk] == "a socket of the recipient was open"
    [message] = email_on.wait_for(1)
    assert message["Subject"] == f"{bob} replied to"


def test_while_redis_cannot_say_who_is_online_a_fallback_waits(email_on, people, monkeypatch):
    from notifications.outbound import services

    alice, bob = people
    monkeypatch.setattr(services, "live_groups", lambda groups, **kwargs: None)
    monkeypatch.setattr(services, "is_channels_redis", lambda layer: True)
    notify.send(bob, recipient=alice, verb="commented on")

    output = deliver("--now")
    assert "will retry" in output and "could not tell" in output
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    assert email_on.messages == []

    monkeypatch.undo()
    deliver("--now")
    email_on.wait_for(1)
