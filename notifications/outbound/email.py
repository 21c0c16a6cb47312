"""The email channel: Django's configured email backend, one connection per
batch, plain-text and HTML bodies from templates chosen by verb, in the
recipient's language, with RFC 8058 one-click unsubscribe headers."""

from __future__ import annotations

import contextlib
from itertools import groupby
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import get_template, select_template
from django.urls import reverse
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from notifications.conf import conf
from notifications.outbound.base import Channel, Outgoing, Skip
from notifications.outbound.unsubscribe import unsubscribe_url

TEMPLATES = "notifications/email"
SMTP_TIMEOUT = 30


def language_of(user: Any) -> str | None:
    """The user's own language, when the site stores one per user."""
    field = conf.user_language_field
    value = getattr(user, field, None) if field else None
    return str(value) if value else None


def _template(outgoing: Outgoing, suffix: str) -> Any:
    """A verb's own template (``notifications/email/verbs/<verb-slug>.<suffix>``),
    else the digest's or the notification's."""
    if outgoing.digest:
        return get_template(f"{TEMPLATES}/digest.{suffix}")
    names = [f"{TEMPLATES}/verbs/{slugify(outgoing.notification.verb)}.{suffix}", f"{TEMPLATES}/notification.{suffix}"]
    return select_template(names)


class _Batch:
    """What every message of one batch shares: links and chosen templates."""

    def __init__(self) -> None:
        self.inbox_url = conf.site_url + reverse("notifications:all")
        self.preferences_url = conf.site_url + reverse("notifications:preferences")
        self.templates: dict[tuple[str, str, str], Any] = {}

    def template(self, outgoing: Outgoing, suffix: str) -> Any:
        key = (outgoing.digest, "" if outgoing.digest else outgoing.notification.verb, suffix)
        if key not in self.templates:
            self.templates[key] = _template(outgoing, suffix)
        return self.templates[key]


def _digest_groups(notifications: list[Any]) -> list[dict[str, Any]]:
    """A digest's notifications grouped by verb and target, oldest first."""

    def key(n: Any) -> tuple[str, str, str]:
        return (n.verb, str(n.target_content_type_id or ""), str(n.target_object_id or ""))

    ordered = sorted(notifications, key=lambda n: (key(n), n.timestamp))
    groups = []
    for (verb, _ct, _id), items in groupby(ordered, key=key):
        items = list(items)
        groups.append({"verb": verb, "target": items[0].target, "notifications": items, "count": len(items)})
    return groups


class EmailChannel(Channel):
    label = _("Email")
    supports_digest = True
    coalesces = True

    def message(
        self, outgoing: Outgoing, connection: Any = None, batch: _Batch | None = None
    ) -> EmailMultiAlternatives:
        batch = batch or _Batch()
        recipient = outgoing.recipient
        address = getattr(recipient, recipient.get_email_field_name(), "")
        if not address:
            raise Skip("the recipient has no email address")
        unsubscribe = unsubscribe_url(user_id=recipient.pk, category=outgoing.category, channel=self.name)
        context = {
            "recipient": recipient,
            "notification": outgoing.notification,
            "notifications": outgoing.notifications,
            "groups": _digest_groups(outgoing.notifications) if outgoing.digest else [],
            "digest": outgoing.digest,
            "count": len(outgoing.notifications),
            "site_url": conf.site_url,
            "inbox_url": batch.inbox_url,
            "preferences_url": batch.preferences_url,
            "unsubscribe_url": unsubscribe,
        }
        with translation.override(language_of(recipient) or settings.LANGUAGE_CODE):
            subject = " ".join(batch.template(outgoing, "subject.txt").render(context).split())
            text = batch.template(outgoing, "txt").render(context)
            html = batch.template(outgoing, "html").render(context)
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=conf.email_from,
            to=[address],
            connection=connection,
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Auto-Submitted": "auto-generated",
            },
        )
        message.attach_alternative(html, "text/html")
        return message

    def send(self, outgoing: Outgoing) -> None:
        self.message(outgoing).send()

    def send_many(self, batch: list[Outgoing]) -> list[BaseException | None]:
        """Every message of the batch over one connection to the backend."""
        results: list[BaseException | None] = []
        shared = _Batch()
        # A server that accepts and then hangs must not hold the delivery
        # thread for ever: Django's EMAIL_TIMEOUT, else SMTP_TIMEOUT.
        connection = get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or SMTP_TIMEOUT)
        try:
            connection.open()
        except Exception as exc:
            return [exc] * len(batch)
        try:
            for outgoing in batch:
                try:
                    sent = self.message(outgoing, connection, shared).send()
                except Exception as exc:
                    results.append(exc)
                else:
                    results.append(None if sent else RuntimeError("the email backend accepted no message"))
        finally:
            with contextlib.suppress(Exception):  # a server that hung up before QUIT
                connection.close()
        return results
