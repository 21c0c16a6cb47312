"""python manage.py announce "Maintenance at 22:00" --level warning --audience staff --expires-in 2h"""

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from notifications import users
from notifications.models import AbstractNotification, Audience
from notifications.services import announcement_create, announcement_publish
from notifications.services.announcements import parse_duration


class Command(BaseCommand):
    help = "Publish an announcement to everyone, to staff or to groups, now or at a given time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("title")
        parser.add_argument("--body", default="", help="Plain text; links become clickable.")
        parser.add_argument("--level", default="info", choices=AbstractNotification.LEVELS.values)
        parser.add_argument(
            "--audience",
            choices=Audience.values,
            help="everyone (default), staff, or groups (implied by --group).",
        )
        parser.add_argument("--group", action="append", default=[], help="A group name; repeat for several.")
        parser.add_argument("--expires-in", help="How long it stays up: 90s, 30m, 2h, 1d.")
        parser.add_argument("--publish-at", help="Schedule it (ISO 8601, e.g. 2026-12-01T09:00+01:00).")
        parser.add_argument("--draft", action="store_true", help="Store it without publishing.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        audience = options["audience"] or (Audience.GROUPS if options["group"] else Audience.EVERYONE)
        if audience == Audience.GROUPS and users.groups_field() is None:
            # Before looking the names up: no group of theirs could help.
            raise CommandError(
                f"{get_user_model()._meta.label} has no groups (no PermissionsMixin), so a group audience reaches "
                "no one: use --audience everyone or staff."
            )
        groups = []
        for name in options["group"]:
            group = Group.objects.filter(name=name).first()
            if group is None:
                raise CommandError(f"No group named '{name}'.")
            groups.append(group)
        publish_at = None
        if options["publish_at"]:
            publish_at = parse_datetime(options["publish_at"])
            if publish_at is None:
                raise CommandError(f"--publish-at: '{options['publish_at']}' is not an ISO 8601 date and time.")
            if timezone.is_naive(publish_at):
                publish_at = timezone.make_aware(publish_at)
        expires_at = None
        if options["expires_in"]:
            try:
                expires_at = (publish_at or now) + parse_duration(options["expires_in"])
            except ValueError as exc:
                raise CommandError(f"--expires-in: {exc}") from None
        try:
            announcement = announcement_create(
                title=options["title"],
                body=options["body"],
                level=options["level"],
                audience=audience,
                groups=groups,
                expires_at=expires_at,
            )
        except ValidationError as exc:
            details = " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(details) from None

        who = {
            Audience.EVERYONE: "everyone",
            Audience.STAFF: "staff",
            Audience.GROUPS: "groups " + ", ".join(g.name for g in groups),
        }[audience]
        until = f", until {announcement.expires_at:%Y-%m-%d %H:%M %Z}" if announcement.expires_at else ""
        if options["draft"]:
            self.stdout.write(f"Saved draft announcement #{announcement.pk} “{announcement.title}” for {who}.")
            return
        pushed = announcement_publish(announcement=announcement, at=publish_at)
        if pushed:
            self.stdout.write(
                self.style.SUCCESS(f"Published announcement #{announcement.pk} “{announcement.title}” to {who}{until}.")
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Scheduled announcement #{announcement.pk} “{announcement.title}” for {who} "
                    f"at {announcement.publish_at:%Y-%m-%d %H:%M %Z}{until}."
                )
            )
