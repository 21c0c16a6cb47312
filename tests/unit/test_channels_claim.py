"""Each due delivery is sent once, whoever claims it: two processes at once
(on PostgreSQL and on SQLite), and a process that died mid-send."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import Delivery
from notifications.outbound.services import deliveries_claim, deliveries_send_due
from notifications.signals import notify
from tests import factories
from tests.conftest import _database_url
from tests.live import ROOT, daphne_env


@pytest.mark.django_db(transaction=True)
def test_two_processes_claiming_at_once_send_each_delivery_exactly_once(smtp):
    """On PostgreSQL through FOR UPDATE SKIP LOCKED and the conditional
    UPDATE; on SQLite through the conditional UPDATE alone."""
    User = get_user_model()
    User.objects.bulk_create([User(username=f"reader{i}", email=f"reader{i}@example.com") for i in range(300)])
    sender = factories.user("sender")
    notify.send(
        sender,
        recipient=User.objects.filter(username__startswith="reader"),
        verb="published",
        channels={"email": "immediate"},
    )
    assert Delivery.objects.filter(state="pending").count() == 300

    env = daphne_env(
        database_url=_database_url(),
        redis_url=None,
        extra_env={"EMAIL_HOST": smtp.host, "EMAIL_PORT": str(smtp.port), "NOTIFICATIONS_DELIVERY_BATCH_SIZE": "10"},
    )
    command = [sys.executable, "manage.py", "notifications_deliver"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs

    messages = smtp.wait_for(300)
    addresses = [m["To"] for m in messages]
    assert len(addresses) == 300 and len(set(addresses)) == 300
    sent = [int(out.strip().splitlines()[-1].split()[0]) for out, _ in outputs]
    assert sum(sent) == 300
    assert Delivery.objects.filter(state="sent").count() == 300


@pytest.mark.django_db
def test_a_claim_is_taken_over_only_after_its_lease(smtp, alice, bob):
    alice.email = "alice@example.com"
    alice.save()
    notify.send(bob, recipient=alice, verb="pinged", channels={"email": "immediate"})
    [claimed] = deliveries_claim(size=10)  # a process that then died
    assert deliveries_claim(size=10) == []
    later = timezone.now() + timedelta(minutes=11)
    report = deliveries_send_due(now=later)
    assert [d.pk for d in report.sent] == [claimed.pk]
    assert smtp.wait_for(1)[0]["To"] == "alice@example.com"
