from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from notifications.base import models as base_models
from notifications.base.models import AbstractNotification, NotificationQuerySet
from notifications.outbound.models import ChannelPreference, Delivery, PushSubscription, SocketPresence
from notifications.swappable import NOTIFICATION_MODEL_SETTING

__all__ = [
    "AbstractNotification",
    "Announcement",
    "AnnouncementRead",
    "Audience",
    "ChannelPreference",
    "Delivery",
    "Notification",
    "NotificationQuerySet",
    "PushSubscription",
    "SocketPresence",
    "notify_handler",  # noqa: F822  (resolved by __getattr__ below)
]


def __getattr__(name: str) -> Any:
    # The ``notify`` receiver, where django-notifications' code may import it
    # from; it lives in notifications.receivers, above the models.
    if name == "notify_handler":
        return base_models.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def announcements_enabled() -> bool:
    """Announcements need the `notifications` app itself in INSTALLED_APPS.
    A site that replaces it with its own subclass of its Config (the
    django-notifications SAMPLE_APP pattern) has notifications without them."""
    return apps.is_installed("notifications")


class Notification(AbstractNotification):
    class Meta(AbstractNotification.Meta):
        abstract = False
        swappable = NOTIFICATION_MODEL_SETTING
        # Explicit, so this module imports even when `notifications` is not an
        # installed app (the model is then swapped out, and unused).
        app_label = "notifications"
        # sync {after}: a recipient's notifications after an id, in id order.
        # Only here, not on AbstractNotification, so a site's own swapped-in
        # model has no pending migration after switching packages; such a
        # model should add this index for fast syncs.
        indexes = [
            *AbstractNotification.Meta.indexes,
            models.Index(fields=["recipient", "id"], name="notificatio_recipie_e1f72e_idx"),
        ]


class Audience(models.TextChoices):
    EVERYONE = "everyone", _("Everyone")
    STAFF = "staff", _("Staff only")
    GROUPS = "groups", _("Chosen groups")


class AnnouncementQuerySet(models.QuerySet):
    def live(self, now: Any = None) -> "AnnouncementQuerySet":
        """Published, or due (a server claims and pushes it within seconds),
        and not expired. Readers see a due one before its push goes out."""
        now = now or timezone.now()
        published = models.Q(published_at__isnull=False, published_at__lte=now)
        due = models.Q(published_at__isnull=True, publish_at__isnull=False, publish_at__lte=now)
        return self.filter(published | due).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))

    def due(self, now: Any = None) -> "AnnouncementQuerySet":
        """Scheduled for now or earlier, and not yet published."""
        now = now or timezone.now()
        return self.filter(published_at__isnull=True, publish_at__isnull=False, publish_at__lte=now)

    def for_audience(self, *, is_staff: bool, group_ids: Any) -> "AnnouncementQuerySet":
        audience = models.Q(audience=Audience.EVERYONE) | models.Q(audience=Audience.GROUPS, groups__in=list(group_ids))
        if is_staff:
            audience |= models.Q(audience=Audience.STAFF)
        return self.filter(audience).distinct()


class Announcement(models.Model):
    """One message from the admins to everyone, to staff or to groups. It is
    stored once; a user's read state is a row made only when they act."""

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True, help_text=_("Plain text. Links become clickable."))
    level = models.CharField(
        _("level"),
        max_length=20,
        choices=AbstractNotification.LEVELS,
        default=AbstractNotification.LEVELS.info,
    )
    audience = models.CharField(_("audience"), max_length=20, choices=Audience, default=Audience.EVERYONE)
    groups = models.ManyToManyField(Group, blank=True, related_name="announcements", verbose_name=_("groups"))
    publish_at = models.DateTimeField(
        _("publish at"), null=True, blank=True, help_text=_("Empty: a draft. In the future: scheduled.")
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = AnnouncementQuerySet.as_manager()

    class Meta:
        app_label = "notifications"
        ordering = ("-published_at", "-id")
        indexes = [models.Index(fields=["published_at", "publish_at"])]
        permissions = [("publish_announcement", _("Can publish announcements"))]
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")

    def __str__(self) -> str:
        return self.title

    @property
    def status(self) -> str:
        now = timezone.now()
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.published_at is not None or (self.publish_at is not None and self.publish_at <= now):
            return "live"
        if self.publish_at is not None:
            return "scheduled"
        return "draft"


class AnnouncementRead(models.Model):
    """A user read or dismissed an announcement (fan-out on read)."""

    announcement = models.ForeignKey(Announcement, on_delete=models.CASCADE, related_name="reads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "notifications"
        constraints = [models.UniqueConstraint(fields=["announcement", "user"], name="announcement_read_once")]

    def __str__(self) -> str:
        return f"{self.user} read {self.announcement}"
