"""django-notifications' abstract model and queryset.

Field names, meanings and the queryset methods match django-notifications-hq
1.8 and django-notifications-community 1.12, so code written against either
keeps working. Every write goes through ``notifications.services``, which
pushes the change to the user's sockets after commit; the app's ``ready()``
hands it to the models (``bind``). ``notify_handler``, the ``notify``
signal's receiver, lives in ``notifications.receivers`` and is importable
from here, where django-notifications has it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.humanize.templatetags import humanize
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.fields.json import DataContains
from django.db.models.functions import Cast
from django.db.models.lookups import Contains
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from notifications.conf import conf
from notifications.utils import id2slug

# What the models call to write, and the ``notify`` receiver; given by
# ``Config.ready()`` (``bind``), so that the models import nothing above them.
_bound: dict[str, Any] = {}


def bind(*, services: ModuleType, notify_handler: Any) -> None:
    """Hand the models ``notifications.services`` and the ``notify`` receiver.

    The layers import downwards: services, then delivery, then selectors,
    then models. django-notifications' model and queryset methods that write
    (``mark_as_read``, ``mark_all_as_read``, ``mark_all_as_deleted`` and the
    rest) are public API, and each of their writes must reach the user's open
    tabs, which only the services do: they push through ``delivery`` after
    commit. The app's ``ready()`` calls this once."""
    _bound.update(services=services, notify_handler=notify_handler)


NOT_READY = (
    "The notifications app has not handed its models their writer yet: its ready() does. Add 'notifications' "
    "(or a subclass of notifications.apps.Config whose ready() calls super().ready()) to INSTALLED_APPS, and "
    "write notifications once the app registry is ready, not from an earlier app's ready()."
)


def services() -> ModuleType:
    """``notifications.services``, as ``bind`` gave it."""
    try:
        return _bound["services"]
    except KeyError:
        raise ImproperlyConfigured(NOT_READY) from None


def __getattr__(name: str) -> Any:
    # django-notifications' path of the ``notify`` receiver, which lives in
    # notifications.receivers, above the models.
    if name == "notify_handler":
        if name not in _bound:
            raise ImproperlyConfigured(NOT_READY)
        return _bound[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TextOrJSONContains(DataContains):
    """``data__contains``: with a string, a substring of the stored JSON text,
    as django-notifications' text column matched it (``data__contains="pr"``),
    on every database; with a dict or a list, JSON containment, as Django's
    ``JSONField`` has it (PostgreSQL)."""

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        if isinstance(self.rhs, str):
            return compiler.compile(Contains(Cast(self.lhs, models.TextField()), self.rhs))
        return super().as_sql(compiler, connection)

    def as_postgresql(self, compiler: Any, connection: Any) -> Any:
        if isinstance(self.rhs, str):
            return self.as_sql(compiler, connection)
        return super().as_postgresql(compiler, connection)


def is_soft_delete() -> bool:
    return conf.soft_delete


def assert_soft_delete() -> None:
    if not is_soft_delete():
        raise ImproperlyConfigured(
            "To use the 'deleted' field, set SOFT_DELETE=True in DJANGO_NOTIFICATIONS_CONFIG. "
            "Without it, NotificationQuerySet.unread() and .read() do not filter by 'deleted'."
        )


class NotificationQuerySet(models.QuerySet):
    """django-notifications' queryset. The mark methods go through the
    services, so every open tab of the affected users hears about it."""

    def unsent(self) -> NotificationQuerySet:
        return self.filter(emailed=False)

    def sent(self) -> NotificationQuerySet:
        return self.filter(emailed=True)

    def unread(self, include_deleted: bool = False) -> NotificationQuerySet:
        if is_soft_delete() and not include_deleted:
            return self.filter(unread=True, deleted=False)
        return self.filter(unread=True)

    def unseen(self, include_deleted: bool = False) -> NotificationQuerySet:
        """Unread and not yet seen: not in view when the user last opened the
        bell or the inbox. A read notification counts as seen."""
        return self.unread(include_deleted).filter(seen_at__isnull=True)

    def read(self, include_deleted: bool = False) -> NotificationQuerySet:
        if is_soft_delete() and not include_deleted:
            return self.filter(unread=False, deleted=False)
        return self.filter(unread=False)

    def _for(self, recipient: Any) -> NotificationQuerySet:
        return self.filter(recipient=recipient) if recipient else self

    def mark_all_as_read(self, recipient: Any = None) -> int:
        return services().notifications_set_unread(queryset=self.unread(True)._for(recipient), unread=False)

    def mark_all_as_seen(self, recipient: Any = None) -> int:
        return services().notifications_set_seen(queryset=self.unseen(True)._for(recipient))

    def mark_all_as_unread(self, recipient: Any = None) -> int:
        return services().notifications_set_unread(queryset=self.read(True)._for(recipient), unread=True)

    def deleted(self) -> NotificationQuerySet:
        assert_soft_delete()
        return self.filter(deleted=True)

    def active(self) -> NotificationQuerySet:
        assert_soft_delete()
        return self.filter(deleted=False)

    def mark_all_as_deleted(self, recipient: Any = None) -> int:
        assert_soft_delete()
        return services().notifications_set_deleted(queryset=self.active()._for(recipient), deleted=True)

    def mark_all_as_active(self, recipient: Any = None) -> int:
        assert_soft_delete()
        return services().notifications_set_deleted(queryset=self.deleted()._for(recipient), deleted=False)

    def mark_as_unsent(self, recipient: Any = None) -> int:
        return self.sent()._for(recipient).update(emailed=False)

    def mark_as_sent(self, recipient: Any = None) -> int:
        return self.unsent()._for(recipient).update(emailed=True)


class AbstractNotification(models.Model):
    """<actor> <verb> [<action_object>] [on <target>] <time>, for one recipient."""

    class LEVELS(models.TextChoices):
        success = "success", _("Success")
        info = "info", _("Info")
        warning = "warning", _("Warning")
        error = "error", _("Error")

    level = models.CharField(_("level"), choices=LEVELS, default=LEVELS.info, max_length=20)

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    unread = models.BooleanField(_("unread"), default=True, db_index=True)

    actor_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="notify_actor",
        verbose_name=_("actor content type"),
    )
    actor_object_id = models.CharField(_("actor object id"), max_length=255)
    actor = GenericForeignKey("actor_content_type", "actor_object_id")

    verb = models.CharField(_("verb"), max_length=255)
    description = models.TextField(_("description"), blank=True, null=True)

    target_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="notify_target",
        verbose_name=_("target content type"),
        blank=True,
        null=True,
    )
    target_object_id = models.CharField(_("target object id"), max_length=255, blank=True, null=True)
    target = GenericForeignKey("target_content_type", "target_object_id")

    action_object_content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="notify_action_object",
        verbose_name=_("action object content type"),
        blank=True,
        null=True,
    )
    action_object_object_id = models.CharField(_("action object object id"), max_length=255, blank=True, null=True)
    action_object = GenericForeignKey("action_object_content_type", "action_object_object_id")

    timestamp = models.DateTimeField(_("timestamp"), default=timezone.now, db_index=True)

    public = models.BooleanField(_("public"), default=True, db_index=True)
    deleted = models.BooleanField(_("deleted"), default=False, db_index=True)
    emailed = models.BooleanField(_("emailed"), default=False, db_index=True)

    data = models.JSONField(_("data"), blank=True, null=True)
    data.register_lookup(TextOrJSONContains)

    # When the user had it in view (the bell or the inbox opened); null: unseen.
    seen_at = models.DateTimeField(_("seen at"), blank=True, null=True)
    # Rows of one recipient with the same key, unread and within
    # GROUP_WINDOW_SECONDS of the newest, show as one entry (selectors.groups).
    # Empty: the row is an entry of its own.
    group_key = models.CharField(_("group key"), max_length=255, blank=True, default="")

    objects = NotificationQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ("-timestamp",)
        indexes = [
            models.Index(fields=["recipient", "unread"]),
            models.Index(fields=["actor_content_type", "actor_object_id"]),
            models.Index(fields=["target_content_type", "target_object_id"]),
            models.Index(fields=["action_object_content_type", "action_object_object_id"]),
            # The unseen count: a range of one recipient's unread rows.
            models.Index(fields=["recipient", "unread", "seen_at"]),
            # A group's rows: one recipient's unread rows of one key, by time.
            models.Index(fields=["recipient", "group_key", "unread", "timestamp"]),
        ]
        verbose_name = _("Notification")
        verbose_name_plural = _("Notifications")

    def __str__(self) -> str:
        ctx = {
            "actor": self.actor,
            "verb": self.verb,
            "action_object": self.action_object,
            "target": self.target,
            "timesince": self.timesince(),
        }
        if self.target:
            if self.action_object:
                return _("%(actor)s %(verb)s %(action_object)s on %(target)s %(timesince)s ago") % ctx
            return _("%(actor)s %(verb)s %(target)s %(timesince)s ago") % ctx
        if self.action_object:
            return _("%(actor)s %(verb)s %(action_object)s %(timesince)s ago") % ctx
        return _("%(actor)s %(verb)s %(timesince)s ago") % ctx

    def timesince(self, now: Any = None) -> str:
        return timesince(self.timestamp, now)

    def naturalday(self) -> str:
        return humanize.naturalday(self.timestamp)

    def naturaltime(self) -> str:
        return humanize.naturaltime(self.timestamp)

    @property
    def slug(self) -> int:
        return id2slug(self.id)

    def mark_as_read(self) -> None:
        if self.unread:
            self.unread = False
            services().notifications_set_unread(queryset=type(self).objects.filter(pk=self.pk), unread=False)

    def mark_as_unread(self) -> None:
        if not self.unread:
            self.unread = True
            services().notifications_set_unread(queryset=type(self).objects.filter(pk=self.pk), unread=True)

    def _admin_link(self, prefix: str) -> Any:
        content_type = getattr(self, f"{prefix}_content_type")
        object_id = getattr(self, f"{prefix}_object_id")
        if content_type is None:
            return object_id
        try:
            url = reverse(f"admin:{content_type.app_label}_{content_type.model}_change", args=(object_id,))
        except NoReverseMatch:
            return object_id
        return format_html("<a href='{}'>{}</a>", url, object_id)

    def actor_object_url(self) -> Any:
        return self._admin_link("actor")

    def action_object_url(self) -> Any:
        return self._admin_link("action_object")

    def target_object_url(self) -> Any:
        return self._admin_link("target")
