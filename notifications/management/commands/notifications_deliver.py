"""python manage.py notifications_deliver [--now]: claim and send the due
email, Web Push and other deliveries, for sites that run cron or no daphne."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications.outbound.services import deliveries_send_due


class Command(BaseCommand):
    help = "Send the email, Web Push and other deliveries that are due, and print what was sent and what failed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now",
            action="store_true",
            help="Treat every pending delay (fallback, digest period, retry backoff) as already over.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = deliveries_send_due(ignore_delays=options["now"])

        def name(d: Any) -> str:
            return f"{d.channel} of notification {d.notification_id} to {d.recipient}"

        for d in report.sent:
            self.stdout.write(f"sent {name(d)}")
        for d, reason in report.skipped:
            self.stdout.write(f"skipped {name(d)}: {reason}")
        for d in report.deferred:
            self.stdout.write(f"deferred {name(d)} to the {d.digest} digest")
        for d, error in report.retrying:
            self.stderr.write(f"will retry {name(d)} (attempt {d.attempts}): {error}")
        for d, error in report.failed:
            self.stderr.write(f"failed {name(d)} after {d.attempts} attempts: {error}")
        self.stdout.write(
            f"{len(report.sent)} sent, {len(report.skipped)} skipped, {len(report.deferred)} deferred, "
            f"{len(report.retrying)} to retry, {len(report.failed)} failed."
        )
