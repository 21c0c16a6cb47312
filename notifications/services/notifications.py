"""Every write to notifications. Views, the consumer, the admin, the queryset
and model methods, triggers and ``notify.send`` all call these, so each change
reaches the user's open tabs through one code path: ``delivery``, after commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from notifications import delivery, selectors, users
from notifications.conf import conf
from notifications.outbound.services import deliveries_create, delivery_plan
from notifications.services import insert_select
from notifications.swappable import load_notification_model

logger = logging.getLogger("notifications.services")

# Keep IN (...) lists under every backend's parameter limit.
ID_CHUNK = 5000


class NotificationNotFound(Exception):
    """The id is not one of the user's notifications (or does not exist:
    callers must not be able to tell the difference)."""


def _resolve_recipients(recipient: Any) -> list[Any]:
    if isinstance(recipient, Group):
        return list(users.members_of(recipient))
    if isinstance(recipient, models.QuerySet):
        return list(recipient)
    is_many = isinstance(recipient, list | tuple | set | frozenset)
    recipients = list(recipient) if is_many else [recipient]
    for user in recipients:
        if not isinstance(user, models.Model) or not saved(user):
            raise TypeError(
                "notify.send() recipient must be a saved user, a Group, a QuerySet or a list "
                f"of saved users; got {user!r}."
            )
    return recipients


def _storable(data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` as JSON stores it (dates, decimals and UUIDs as Django's
    encoder writes them). A value JSON cannot hold (a model instance, say)
    is left out with a warning: an extra keyword never makes a send fail."""
    stored = {}
    for key, value in data.items():
        try:
            # NaN and Infinity are not JSON: PostgreSQL's jsonb refuses them.
            stored[key] = json.loads(json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False))
        except (TypeError, ValueError):
            logger.warning(
                "notify.send(): left %r out of data: a %s is not JSON (pass its pk or str() instead).",
                key,
                type(value).__name__,
            )
    return stored or None


def saved(obj: models.Model) -> bool:
    """Whether ``obj`` stands for a stored row: it has a key, and that key is
    not one a default gave it before any save (a UUID). ``User(pk=5)``
    naming an existing row counts as saved, as it always did."""
    if obj.pk is None:
        return False
    return not (obj._state.adding and obj._meta.pk.has_default())


def _split_extra(model: Any, extra: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Extra kwargs that name a concrete field of a (swapped) model set it;
    the rest go into ``data``, as in django-notifications."""
    field_names = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
    data = dict(extra.pop("data", None) or {})
    fields: dict[str, Any] = {}
    for key, value in extra.items():
        if key.endswith("_for_concrete_model"):
            continue
        if key in field_names:
            fields[key] = value
        else:
            data[key] = value
    return fields, data


def default_group_key(
    *, verb: str, target_type: ContentType | None, target: models.Model | None, action_object_type: ContentType | None
) -> str:
    """Verb, target and action object type: ten comments on one document
    share it. The recipient is left out because grouping never crosses
    recipients, so a bulk send stores the same key in every row."""
    target_part = f"{target_type.pk}:{target.pk}" if target_type is not None and target is not None else ""
    action_part = str(action_object_type.pk) if action_object_type is not None else ""
    return hashlib.sha1(f"{verb}\x00{target_part}\x00{action_part}".encode()).hexdigest()


def notification_create(
    *,
    recipient: Any,
    actor: models.Model,
    verb: Any,
    target: models.Model | None = None,
    action_object: models.Model | None = None,
    level: str | None = None,
    description: str | None = None,
    public: bool = True,
    timestamp: Any = None,
    group_key: str | None = None,
    channels: Any = None,
    category: str | None = None,
    critical: bool = False,
    extra: dict[str, Any] | None = None,
) -> list[Any]:
    """Store one notification per recipient and push each one to its
    recipient's sockets after commit. A Group or a QuerySet of users is stored
    by one INSERT from a SELECT where the database allows it; a user or a
    list, in batches by ``bulk_create``. ``channels``, ``category`` and
    ``critical`` choose the email, Web Push or other deliveries that may
    follow (docs/channels.md)."""
    plan = delivery_plan(verb=verb, channels=channels, category=category, critical=critical)
    Notification = load_notification_model()
    extra = dict(extra or {})
    level = level or Notification.LEVELS.info
    if level not in Notification.LEVELS.values:
        raise ValueError(f"level must be one of {Notification.LEVELS.values}, not {level!r}.")
    timestamp = timestamp or timezone.now()

    def content_type(obj: Any, name: str) -> ContentType:
        concrete = extra.get(f"{name}_for_concrete_model", True)
        return ContentType.objects.get_for_model(obj, for_concrete_model=concrete)

    related = {"actor": actor, "target": target, "action_object": action_object}
    types = {name: content_type(obj, name) for name, obj in related.items() if obj is not None}
    if group_key is None:
        group_key = default_group_key(
            verb=str(verb),
            target_type=types.get("target"),
            target=target,
            action_object_type=types.get("action_object"),
        )
    elif not isinstance(group_key, str) or len(group_key) > 255:
        raise ValueError(f"group_key must be a string of at most 255 characters, not {group_key!r}.")
    fields, data = _split_extra(Notification, extra)
    gfks = {name: Notification._meta.get_field(name) for name in related}
    values = {
        "verb": str(verb),
        "level": level,
        "description": description,
        "public": public,
        "timestamp": timestamp,
        "group_key": group_key,
    }
    values.update(fields)
    for name, obj in related.items():
        if obj is not None:
            values[f"{name}_content_type"] = types[name]
            values[f"{name}_object_id"] = str(obj.pk)
    data = _storable(data) if data and conf.use_jsonfield else None

    def own_data() -> dict[str, Any]:
        # Each row gets its own dict; without data the model's default stands.
        return {"data": dict(data)} if data else {}

    def cache_related(notification: Any) -> Any:
        # The push after commit renders these; caching them avoids a query each.
        for name, obj in related.items():
            if obj is not None:
                gfks[name].set_cached_value(notification, obj)
        return notification

    db = router.db_for_write(Notification)
    # django-notifications saves each row, and sites hang their email, push
    # and metadata on its signals: a pre_save receiver may change the row
    # before it is stored, so each row is saved on its own; a post_save
    # receiver gets each stored row after the bulk insert. Nothing listening,
    # the bulk insert alone.
    per_row = pre_save.has_listeners(Notification)
    announce_saved = post_save.has_listeners(Notification)
    users_select = None if per_row else insert_select.recipient_select(recipient, db)
    if users_select is not None and insert_select.can_insert_from_select(
        Notification, connections[db], {**values, **own_data()}
    ):
        with transaction.atomic(using=db):
            template = Notification(**values, **own_data())
            notifications = [cache_related(n) for n in insert_select.insert_from_select(template, users_select, db)]
            if notifications:
                if announce_saved:
                    _send_post_save(Notification, notifications, db)
                delivery.notifications_created(notifications, using=db, alike=True)
                deliveries_create(notifications=notifications, plan=plan, using=db)
    else:
        notifications = [
            cache_related(Notification(recipient=user, **values, **own_data()))
            for user in _resolve_recipients(recipient)
        ]
        if not notifications:
            return []
        with transaction.atomic(using=db):
            if per_row or not connections[db].features.can_return_rows_from_bulk_insert:
                # Without RETURNING (MySQL) bulk_create leaves pks unset, and a
                # push needs the id the client will sync from.
                for notification in notifications:
                    notification.save(using=db)
            else:
                Notification.objects.using(db).bulk_create(notifications, batch_size=conf.bulk_create_batch_size)
                if announce_saved:
                    _send_post_save(Notification, notifications, db)
            delivery.notifications_created(notifications, using=db)
            deliveries_create(notifications=notifications, plan=plan, using=db)
    _forget_unread_counts({n.recipient_id for n in notifications})
    return notifications


def _send_post_save(model: Any, notifications: list[Any], db: str) -> None:
    """``post_save`` for each row stored by a bulk insert, as ``save()`` sends it."""
    for notification in notifications:
        post_save.send(sender=model, instance=notification, created=True, update_fields=None, raw=False, using=db)


def _forget_unread_counts(user_ids: Iterable[int]) -> None:
    cache.delete_many([selectors.unread_count_cache_key(uid) for uid in user_ids])


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def _update_matching(
    queryset: models.QuerySet, *, where: dict[str, Any], values: dict[str, Any]
) -> tuple[list[tuple[int, int]], int]:
    """Set ``values`` on the rows of ``queryset`` that match ``where``, by
    id in chunks (each UPDATE checks ``where`` again); returns those rows'
    ``(id, recipient_id)`` and how many changed. Call it in a transaction."""
    rows = list(queryset.filter(**where).values_list("id", "recipient_id"))
    ids = [row[0] for row in rows]
    count = sum(queryset.model.objects.filter(id__in=chunk, **where).update(**values) for chunk in _chunks(ids))
    return rows, count


def _set_flag(queryset: models.QuerySet, field: str, value: bool, push: str | None, everything: bool = False) -> int:
    """Set a boolean ``field`` on the rows of ``queryset`` that differ, and
    push ``push`` (a frame type) for exactly those rows."""
    db = queryset.db
    with transaction.atomic(using=db):
        rows, count = _update_matching(queryset, where={field: not value}, values={field: value})
        if not rows:
            return 0
        if push is not None:
            delivery.notifications_changed(push, rows, everything=everything, using=db)
    _forget_unread_counts({row[1] for row in rows})
    return count


def notifications_set_unread(*, queryset: models.QuerySet, unread: bool, everything: bool = False) -> int:
    """Mark the notifications in ``queryset`` read or unread; returns how many
    changed. ``everything`` says the queryset is all of its users' unread
    notifications, so clients are told ``all: true`` instead of a list."""
    return _set_flag(queryset, "unread", unread, "unread" if unread else "read", everything)


def notifications_set_deleted(*, queryset: models.QuerySet, deleted: bool) -> int:
    """Soft-delete (or restore) the notifications in ``queryset``. A restored
    notification comes back to clients through sync."""
    return _set_flag(queryset, "deleted", deleted, "deleted" if deleted else None)


def notifications_set_seen(*, queryset: models.QuerySet) -> int:
    """Mark the unseen notifications in ``queryset`` seen now; returns how
    many changed. Each affected user's sockets, in every process, get one
    ``seen`` frame with the newest id seen and the new unseen count."""
    db = queryset.db
    with transaction.atomic(using=db):
        rows, count = _update_matching(
            queryset, where={"seen_at__isnull": True, "unread": True}, values={"seen_at": timezone.now()}
        )
        if not rows:
            return 0
        up_to: dict[int, int] = {}
        for notification_id, user_id in rows:
            up_to[user_id] = max(up_to.get(user_id, 0), notification_id)
        delivery.notifications_seen(up_to, using=db)
    return count


def notifications_mark_seen(*, user: Any, up_to: int) -> int:
    """The user had their notifications up to id ``up_to`` in view (they
    opened the bell or the inbox): those become seen."""
    return notifications_set_seen(queryset=selectors.notifications_of(user=user).filter(id__lte=up_to))


def notification_save(*, notification: Any, changed_fields: Iterable[str] = ()) -> None:
    """Save a notification edited as a whole (the admin's form) and push what
    changed: a new one as ``notification``, a toggled ``unread`` as read/unread."""
    created = notification.pk is None
    db = router.db_for_write(type(notification), instance=notification)
    with transaction.atomic(using=db):
        notification.save(using=db)
        if created:
            delivery.notifications_created([notification], using=db)
        elif "unread" in changed_fields:
            kind = "unread" if notification.unread else "read"
            delivery.notifications_changed(kind, [(notification.pk, notification.recipient_id)], using=db)
    _forget_unread_counts([notification.recipient_id])


def notifications_delete(*, queryset: models.QuerySet, soft: bool | None = None) -> int:
    """Delete the notifications in ``queryset``: soft with SOFT_DELETE (or
    ``soft=True``), else for real."""
    if conf.soft_delete if soft is None else soft:
        return notifications_set_deleted(queryset=queryset, deleted=True)
    db = queryset.db
    with transaction.atomic(using=db):
        rows = list(queryset.values_list("id", "recipient_id"))
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        count = sum(queryset.model.objects.filter(id__in=chunk).delete()[0] for chunk in _chunks(ids))
        delivery.notifications_changed("deleted", rows, using=db)
    _forget_unread_counts({row[1] for row in rows})
    return count


# The user's own actions, from views and the consumer ----------------------------


def _own(*, user: Any, notification_id: int) -> models.QuerySet:
    queryset = selectors.notifications_of(user=user).filter(id=notification_id)
    if not queryset.exists():
        raise NotificationNotFound(notification_id)
    return queryset


def notification_mark_read(*, user: Any, notification_id: int) -> int:
    return notifications_set_unread(queryset=_own(user=user, notification_id=notification_id), unread=False)


def notification_group_mark_read(*, user: Any, notification_id: int) -> int:
    """Mark every row of the group the row ``notification_id`` belongs to
    read (selectors.group_rows): one ``read`` frame lists their ids."""
    _own(user=user, notification_id=notification_id)
    return notifications_set_unread(
        queryset=selectors.group_rows(user=user, notification_id=notification_id), unread=False
    )


def notification_mark_unread(*, user: Any, notification_id: int) -> int:
    return notifications_set_unread(queryset=_own(user=user, notification_id=notification_id), unread=True)


def notification_delete(*, user: Any, notification_id: int) -> int:
    return notifications_delete(queryset=_own(user=user, notification_id=notification_id))


def notifications_mark_all_read(*, user: Any) -> int:
    return notifications_set_unread(queryset=selectors.notifications_of(user=user), unread=False, everything=True)
