"""One user cannot mail-bomb another: what a recipient gets by email and Web
Push is bounded per window (DELIVERY_LIMITS), the rest goes out held
together as one message, the inbox stays complete; critical sends pass; and
a site limits what its users trigger (notifications.ratelimit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from notifications.models import Delivery
from notifications.outbound.base import Channel
from notifications.outbound.services import deliveries_send_due, push_subscription_save
from notifications.outbound.webpush import generate_vapid_keys
from notifications.ratelimit import allow
from notifications.signals import notify
from notifications.swappable import load_notification_model
from project.models import Task
from tests.pushservice import start_push_service

pytestmark = pytest.mark.django_db

Notification = load_notification_model()


@pytest.fixture
def push(settings):
    vapid = generate_vapid_keys("mailto:admin@example.com")
    service, server = start_push_service(vapid)
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        "CHANNELS": ["email", "webpush"],
        "DELIVERY_RULES": {"*": {"email": "immediate", "webpush": "immediate"}},
        "DELIVERY_LIMITS": {"*": {"count": 10, "seconds": 3600}},
        "WEBPUSH": {**vapid, "PUSH_SERVICES": [service.origin]},
        "SITE_URL": "http://testserver",
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield service
    server.shutdown()
    server.server_close()


def test_300_assignments_become_ten_messages_and_one_with_the_rest_per_channel(push, alice, bob):
    browser = push.subscribe("alices-phone")
    alice.email = "alice@example.com"
    alice.save()
    push_subscription_save(user=alice, endpoint=browser.endpoint, **browser.keys)
    for index in range(300):
        Task.objects.create(title=f"Task {index}", created_by=bob, assignee=alice)  # each notifies alice

    now = timezone.now()
    deliveries_send_due(now=now)
    assert len(mail.outbox) == 10 and len(push.received) == 10
    held = Delivery.objects.filter(digest="coalesced", state="pending")
    assert held.filter(channel="email").count() == 290 and held.filter(channel="webpush").count() == 290

    # The window ends: what was held goes out as one message per channel.
    deliveries_send_due(now=now + timedelta(hours=1, seconds=1))
    assert len(mail.outbox) == 11 and len(push.received) == 11
    assert mail.outbox[-1].subject == "290 unread notifications"
    _, summary = push.received[-1]
    assert summary["title"].endswith("and 289 more")
    # The inbox has every one of them.
    assert Notification.objects.filter(recipient=alice).count() == 300
    assert not Delivery.objects.filter(state="pending").exists()


class RecordingChannel(Channel):
    """A site's own channel that sends one notification per message, as the
    webhook of docs/channels.md does: it does not coalesce."""

    label = "recording"
    sent: list[int] = []

    def send(self, outgoing):
        RecordingChannel.sent.append(outgoing.notification.pk)


def test_a_channel_that_does_not_coalesce_is_never_held(settings, alice, bob):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        "CHANNELS": ["recording"],
        "CHANNEL_CLASSES": {"recording": "tests.unit.security.test_bursts.RecordingChannel"},
        "DELIVERY_RULES": {"*": {"recording": "immediate"}},
        "DELIVERY_LIMITS": {"*": {"count": 2, "seconds": 3600}},
    }
    RecordingChannel.sent = []
    for index in range(5):
        notify.send(bob, recipient=alice, verb=f"pinged {index}")
    deliveries_send_due()
    assert len(RecordingChannel.sent) == 5
    assert not Delivery.objects.filter(digest="coalesced").exists()


def test_a_critical_send_is_never_held(push, alice, bob):
    alice.email = "alice@example.com"
    alice.save()
    for index in range(12):
        notify.send(bob, recipient=alice, verb=f"locked {index}", critical=True)
    deliveries_send_due()
    assert len(mail.outbox) == 12
    assert not Delivery.objects.filter(digest="coalesced").exists()


def test_read_before_the_window_ends_is_not_sent(push, alice, bob):
    alice.email = "alice@example.com"
    alice.save()
    for index in range(15):
        notify.send(bob, recipient=alice, verb=f"pinged {index}")
    now = timezone.now()
    deliveries_send_due(now=now)
    Notification.objects.filter(recipient=alice).update(unread=False)
    deliveries_send_due(now=now + timedelta(hours=1, seconds=1))
    assert len(mail.outbox) == 10  # the held five were read meanwhile


def test_the_demo_refuses_a_burst_of_task_assignments(alice, bob):
    cache.clear()  # the count of an earlier test's user of the same id
    client = Client()
    client.force_login(bob)
    statuses = [client.post("/", {"title": f"Task {index}", "assignee": alice.pk}).status_code for index in range(40)]
    assert statuses.count(302) == 30 and statuses[-1] == 429
    assert Notification.objects.filter(recipient=alice).count() == 30


def test_allow_counts_per_key_and_window():
    cache.clear()
    assert [allow("a-key", count=3, seconds=60) for _ in range(5)] == [True, True, True, False, False]
    assert allow("another-key", count=3, seconds=60)
    with pytest.raises(ValueError):
        allow("a-key", count=0, seconds=60)
