from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_USERS = [("alice", False), ("bob", False), ("carol", False), ("admin", True)]
DEMO_PASSWORD = "demo"


class Command(BaseCommand):
    help = "Create the demo users alice, bob, carol and admin (password 'demo'). Idempotent."

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
        self.stdout.write(self.style.SUCCESS(f"Demo users ready (password '{DEMO_PASSWORD}')."))
