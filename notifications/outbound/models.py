"""Rows of the delivery channels. Imported by ``notifications.models``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notifications.outbound.constants import DEFAULT_CATEGORY, DIGEST_CHOICES, Frequency, State


class Delivery(models.Model):
    """One notification on one channel (email, Web Push, a site's own): when
    it is due, and what became of it. A server process or a cron run claims
    a due row before sending it, so each is sent once."""

    # Not a foreign key: the notification model is swappable, and a row whose
    # notification was deleted is skipped when it comes due.
    notification_id = models.BigIntegerField(_("notification"))
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("recipient")
    )
    channel = models.CharField(_("channel"), max_length=50)
    category = models.CharField(_("category"), max_length=100, default=DEFAULT_CATEGORY)
    # A fallback waits for the delay and is skipped when the notification was
    # read or a socket of the recipient was open meanwhile.
    fallback = models.BooleanField(_("fallback"), default=True)
    critical = models.BooleanField(_("critical"), default=False, help_text=_("Sent whatever the preferences."))
    state = models.CharField(_("state"), max_length=20, choices=State, default=State.PENDING)
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    # Set when the recipient wants this category as a digest: the row then
    # waits for the end of the period and goes out with the others.
    digest = models.CharField(_("digest"), max_length=20, choices=DIGEST_CHOICES, blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    claim = models.CharField(max_length=32, blank=True, default="", editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        app_label = "notifications"
        ordering = ("-id",)
        constraints = [models.UniqueConstraint(fields=["notification_id", "channel"], name="delivery_once_per_channel")]
        indexes = [
            models.Index(fields=["state", "due_at"], name="delivery_due_idx"),
            # Only claimed rows are looked up by claim; most rows are not.
            models.Index(fields=["claim"], name="delivery_claim_idx", condition=~models.Q(claim="")),
        ]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return f"{self.channel} #{self.notification_id} to {self.recipient_id}: {self.state}"

    @property
    def notification(self) -> Any:
        """Set by the claim, which reads the notifications in one query."""
        return self.__dict__.get("_notification")

    @notification.setter
    def notification(self, value: Any) -> None:
        self.__dict__["_notification"] = value


class ChannelPreference(models.Model):
    """A user's choice for one category on one channel. No row: immediate."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    category = models.CharField(_("category"), max_length=100)
    channel = models.CharField(_("channel"), max_length=50)
    frequency = models.CharField(_("frequency"), max_length=20, choices=Frequency, default=Frequency.IMMEDIATE)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        app_label = "notifications"
        constraints = [models.UniqueConstraint(fields=["user", "category", "channel"], name="channel_preference_once")]
        verbose_name = _("channel preference")
        verbose_name_plural = _("channel preferences")

    def __str__(self) -> str:
        return f"{self.user}: {self.category} by {self.channel} {self.frequency}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (PushSubscription.toJSON())."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    endpoint = models.URLField(_("endpoint"), max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        app_label = "notifications"
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")

    def __str__(self) -> str:
        return f"{self.user}: {self.endpoint[:60]}"

    def info(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class SocketPresence(models.Model):
    """When a user last had a notifications socket open: each server process
    records its users once a heartbeat round, so a fallback can tell."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        app_label = "notifications"
        verbose_name = _("socket presence")
        verbose_name_plural = _("socket presences")

    def __str__(self) -> str:
        return f"{self.user} at {self.seen_at}"
