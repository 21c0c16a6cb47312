"""python manage.py notifications_vapid_keys [--subject mailto:you@example.com]"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications.outbound.webpush import generate_vapid_keys


class Command(BaseCommand):
    help = "Print a new VAPID key pair for the WEBPUSH setting (keep the private key secret)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subject", default="mailto:admin@example.com", help="A mailto: or https: contact URL.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(generate_vapid_keys(options["subject"]), indent=4))
