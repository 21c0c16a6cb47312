"""Signal receivers, connected in AppConfig.ready(); each calls one service.

``notify_handler`` is the ``notify`` signal's receiver; django-notifications'
path for it, ``notifications.base.models.notify_handler``, still imports it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models.signals import m2m_changed, post_save, pre_save

from notifications import services, users
from notifications.realtime.stored import stored_values
from notifications.services.notifications import saved
from notifications.swappable import load_notification_model


def _require_model_instance(arg_name: str, obj: Any) -> None:
    """A class or an unsaved instance would store a useless object id that
    later breaks every view resolving the generic foreign key."""
    if not isinstance(obj, models.Model):
        raise TypeError(
            f"notify.send() expected a model instance for '{arg_name}', got {obj!r}. Pass an instance, not a class."
        )
    if not saved(obj):
        raise ValueError(
            f"notify.send() received an unsaved instance for '{arg_name}' (pk is None). Save it before sending."
        )


def delivery_category(kwargs: dict[str, Any]) -> str | None:
    """``category=`` of a send or a trigger's Notice names the delivery
    category (docs/channels.md), unless the site's own notification model has
    a ``category`` field: then it stays in ``kwargs`` and sets that field."""
    fields = {f.name for f in load_notification_model()._meta.concrete_fields}
    return None if "category" in fields else kwargs.pop("category", None)


def notify_handler(verb: Any, **kwargs: Any) -> list[Any]:
    """The ``notify`` signal's receiver: create one notification per recipient."""
    kwargs.pop("signal", None)
    recipient = kwargs.pop("recipient")
    actor = kwargs.pop("sender")
    _require_model_instance("sender", actor)
    target = kwargs.pop("target", None)
    action_object = kwargs.pop("action_object", None)
    for name, obj in (("target", target), ("action_object", action_object)):
        if obj is not None:
            _require_model_instance(name, obj)
    return services.notification_create(
        recipient=recipient,
        actor=actor,
        verb=verb,
        target=target,
        action_object=action_object,
        level=kwargs.pop("level", None),
        description=kwargs.pop("description", None),
        public=bool(kwargs.pop("public", True)),
        group_key=kwargs.pop("group_key", None),
        timestamp=kwargs.pop("timestamp", None),
        channels=kwargs.pop("channels", None),
        category=delivery_category(kwargs),
        critical=bool(kwargs.pop("critical", False)),
        extra=kwargs,
    )


def _groups_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if reverse and action == "pre_clear":
        # group.user_set.clear(): post_clear no longer knows who was in it.
        instance._notifications_cleared = list(users.members_of(instance).values_list("pk", flat=True))
        return
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        user_ids = [instance.pk]
    elif action == "post_clear":
        user_ids = instance.__dict__.pop("_notifications_cleared", [])
    else:  # group.user_set.add/remove: the users are in pk_set
        user_ids = list(pk_set or [])
    if user_ids:
        services.audience_changed(user_ids=user_ids)


def _remember_staff(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None or (update_fields is not None and "is_staff" not in update_fields):
        return
    old = stored_values(instance, "is_staff")
    instance._notifications_was_staff = old["is_staff"] if old is not None else None


def _staff_changed(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = instance.__dict__.pop("_notifications_was_staff", None)
    if not created and before is not None and before != instance.is_staff:
        services.audience_changed(user_ids=[instance.pk])


def connect() -> None:
    user_model = get_user_model()
    groups = users.groups_field()
    if groups is not None:
        m2m_changed.connect(
            _groups_changed, sender=groups.remote_field.through, dispatch_uid="notifications.audience.groups"
        )
    if users.staff_column():
        pre_save.connect(_remember_staff, sender=user_model, dispatch_uid="notifications.audience.staff.pre")
        post_save.connect(_staff_changed, sender=user_model, dispatch_uid="notifications.audience.staff")
