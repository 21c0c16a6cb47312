"""Email delivery: claiming and sending N due email deliveries, a batch at a
time over one SMTP connection per batch, against Django's `send_mass_mail`
of the same messages over one connection.

    python bench/deliver.py --deliveries 10000 --batch 100 --rounds 3

Both send to the same local SMTP server (aiosmtpd's Sink, in its own
process). Ours is `deliveries_send_due()`: claim a batch (with its
notifications, recipients and preferences), render each message's subject,
plain-text and HTML bodies with the unsubscribe headers, send the batch over
one connection and record each outcome. The baseline is `send_mass_mail` of
the same subjects and plain-text bodies, rendered beforehand and not timed:
the least Django itself does to put these messages on the wire. Reports
deliveries per second, queries per batch and the ratio of the two times.
Writes bench/results/deliver.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from fanout import RESULTS, free_port, prepare_database, wait_port


def start_smtp_sink(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="DELIVERY_BATCH_SIZE")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    port = free_port()
    sink = start_smtp_sink(port)
    os.environ.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port))
    try:
        prepare_database(args.deliveries)
        row = run(args)
    finally:
        sink.terminate()
        sink.wait()
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deliver.json").write_text(json.dumps(report_of(row), indent=2))


def report_of(row: dict) -> dict:
    """The results in the shape bench/report.py renders."""
    return {
        "title": "Email delivery",
        "about": (
            f"{row['deliveries']:,} due email deliveries on {row['database']}, claimed and sent by "
            f"`deliveries_send_due()` in batches of {row['batch']} over one SMTP connection per batch (claim with "
            "their notifications, recipients and preferences, render subject, plain-text and HTML bodies with "
            "the unsubscribe headers, record each outcome), against Django's `send_mass_mail` of the same "
            "subjects and plain-text bodies, rendered beforehand and not timed. Both send to aiosmtpd's Sink in "
            f"its own process; medians of {row['rounds']} rounds. Queries per batch stay fixed whatever its size; "
            "what remains above the baseline is per message: three templates, a multipart message with an HTML "
            "part, and a signed unsubscribe token."
        ),
        "command": f"python bench/deliver.py --deliveries {row['deliveries']} --batch {row['batch']} "
        f"--rounds {row['rounds']}",
        "table": {
            "columns": ["way", "messages/s", "queries per batch", "time vs send_mass_mail"],
            "rows": [
                [
                    "ours: claim, render, send, record",
                    row["ours_per_second"],
                    row["queries_per_batch"],
                    f"{row['ratio']:.2f}x",
                ],
                ["`send_mass_mail`, pre-rendered", row["send_mass_mail_per_second"], "-", "1.00x"],
            ],
        },
        "targets": [
            {
                "target": "queries per batch fixed (at most 12, whatever the batch size)",
                "result": str(row["queries_per_batch"]),
                "met": row["queries_per_batch"] <= 12,
            }
        ],
        "raw": row,
    }


def run(args: argparse.Namespace) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mass_mail
    from django.db import connection
    from django.db.models import Value
    from django.db.models.functions import Concat
    from django.test.utils import CaptureQueriesContext

    from notifications.models import Delivery, Notification
    from notifications.outbound.base import Outgoing
    from notifications.outbound.registry import get_channel
    from notifications.outbound.services import deliveries_send_due
    from notifications.signals import notify

    settings.DJANGO_NOTIFICATIONS_CONFIG = {**settings.DJANGO_NOTIFICATIONS_CONFIG, "DELIVERY_BATCH_SIZE": args.batch}
    User = get_user_model()
    User.objects.update(email=Concat("username", Value("@example.com")))
    actor = User.objects.create(username="actor", password="!")
    users = User.objects.filter(username__startswith="bench")
    notify.send(
        actor, recipient=users, verb="commented on", description="A bench comment", channels={"email": "immediate"}
    )
    assert Delivery.objects.filter(state="pending").count() == args.deliveries

    # The baseline's messages: the same subject and plain-text body per recipient.
    channel = get_channel("email")
    claimed = Delivery.objects.select_related("recipient").order_by("id")
    notifications = {n.pk: n for n in Notification.objects.prefetch_related("actor")}
    messages = []
    for d in claimed:
        message = channel.message(
            Outgoing(recipient=d.recipient, category=d.category, notifications=[notifications[d.notification_id]])
        )
        messages.append((message.subject, message.body, message.from_email, message.to))

    ours, baseline, queries = [], [], []
    for _ in range(args.rounds):
        Delivery.objects.update(state="pending", attempts=0, sent_at=None, claim="", claimed_until=None)
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            report = deliveries_send_due()
            ours.append(time.perf_counter() - started)
        assert len(report.sent) == args.deliveries, (len(report.sent), report.failed[:1], report.retrying[:1])
        queries.append(len(captured.captured_queries) / math.ceil(args.deliveries / args.batch))

        started = time.perf_counter()
        sent = send_mass_mail(messages)
        baseline.append(time.perf_counter() - started)
        assert sent == args.deliveries

    ours_s, base_s = statistics.median(ours), statistics.median(baseline)
    return {
        "deliveries": args.deliveries,
        "batch": args.batch,
        "rounds": args.rounds,
        "database": connection.vendor,
        "ours_s": [round(t, 3) for t in ours],
        "send_mass_mail_s": [round(t, 3) for t in baseline],
        "ours_per_second": round(args.deliveries / ours_s),
        "send_mass_mail_per_second": round(args.deliveries / base_s),
        "queries_per_batch": round(statistics.median(queries), 1),
        "ratio": round(ours_s / base_s, 2),
    }


if __name__ == "__main__":
    main()
