"""The demo's email backend while it runs on its public fallback key."""

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend


class RefusingEmailBackend(BaseEmailBackend):
    """Sends nothing: every notification email carries an unsubscribe link
    signed with SECRET_KEY, and the fallback key is in this repository for
    anyone to sign with."""

    def send_messages(self, email_messages: Any) -> int:
        raise ImproperlyConfigured(
            "The demo runs on its public fallback SECRET_KEY, so it sends no email (its unsubscribe links "
            "would be signed with a key anyone can read): set DJANGO_SECRET_KEY (`make run` makes one)."
        )
