from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_USERS = [("alice", False), ("bob", False), ("carol", False), ("admin", True)]
DEMO_PASSWORD = "demo"
DEMO_ROOMS = [("general", "General", False), ("team", "Team", True)]


class Command(BaseCommand):
    help = (
        "Create the demo users alice, bob, carol and admin (password 'demo'), and the chat rooms "
        "general (public) and team (private: alice and bob). Idempotent."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Create them even with DEBUG off (never on a real site)."
        )

    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError("Refusing to create demo users with DEBUG off; pass --force if you mean it.")
        User = get_user_model()
        for username, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = user.is_superuser = superuser
                user.save()
            self.stdout.write(f"{'created' if created else 'exists '} {username}")
        self.seed_rooms(User)
        self.stdout.write(self.style.SUCCESS(f"Demo users ready (password '{DEMO_PASSWORD}')."))

    def seed_rooms(self, User: Any) -> None:
        from chat.models import Room
        from chat.services import room_create

        for slug, name, private in DEMO_ROOMS:
            if Room.objects.filter(slug=slug).exists():
                self.stdout.write(f"exists  room {slug}")
                continue
            members = User.objects.filter(username__in=["alice", "bob"]) if private else ()
            room_create(name=name, slug=slug, is_private=private, members=members)
            self.stdout.write(f"created room {slug}{' (private: alice, bob)' if private else ''}")
