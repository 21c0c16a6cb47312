"""Every read that serves a page, an endpoint or a socket.

Lists prefetch the generic foreign keys, so rendering N notifications costs a
fixed number of queries, not N.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.db.models.fields.files import FieldFile
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from notifications.conf import conf
from notifications.registry import apply_queryset_filters, derive_cache_key
from notifications.selectors.prepared import PreparedQuery
from notifications.swappable import load_notification_model
from notifications.utils import id2slug

# Rendered as strings or left out of the JSON item, as in django-notifications.
API_EXCLUDED_FIELDS = (
    "recipient",
    "actor_content_type",
    "actor_object_id",
    "target_content_type",
    "target_object_id",
    "action_object_content_type",
    "action_object_object_id",
    "data",
    # This package's own fields: django-notifications' items keep their
    # keys; frames carry the group as ``group``.
    "seen_at",
    "group_key",
)
RELATED = ("actor", "target", "action_object")
# What django-notifications-hq 1.8's list items carry beside the rest
# (model_to_dict): the recipient's key, and each generic relation's content
# type and object id. The JSON endpoints add them; frames leave them out.
PLUMBING_FIELDS = API_EXCLUDED_FIELDS[:7]

_json = DjangoJSONEncoder()


def notifications_of(*, user: Any = None, user_ids: Iterable[int] | None = None, request: Any = None) -> QuerySet:
    """A user's notifications, or those of each of ``user_ids``; without the
    soft-deleted ones under SOFT_DELETE, through the registered queryset
    filters."""
    objects = load_notification_model().objects
    queryset = objects.filter(recipient=user) if user_ids is None else objects.filter(recipient_id__in=list(user_ids))
    if conf.soft_delete:
        queryset = queryset.filter(deleted=False)
    return apply_queryset_filters(queryset, request)


def unread_of(*, user: Any, request: Any = None) -> QuerySet:
    return apply_queryset_filters(load_notification_model().objects.filter(recipient=user).unread(), request)


def with_related(queryset: QuerySet) -> QuerySet:
    return queryset.select_related(
        "actor_content_type", "target_content_type", "action_object_content_type"
    ).prefetch_related(*RELATED)


def unread_count_cache_key(user_id: int, user: Any = None, request: Any = None) -> str:
    return derive_cache_key(f"notifications_unread_count_{user_id}", user, request)


def unread_count(*, user: Any, request: Any = None) -> int:
    return unread_of(user=user, request=request).count()


def cached_unread_count(*, user: Any, request: Any = None) -> int:
    return cache.get_or_set(
        unread_count_cache_key(user.pk, user, request),
        lambda: unread_count(user=user, request=request),
        conf.cache_timeout,
    )


def unread_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    """Unread counts of many users in one query; users with none get 0."""
    return {user_id: unread for user_id, (unread, _) in unread_and_unseen_counts(user_ids=user_ids).items()}


def unread_and_unseen_counts(*, user_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(unread, unseen) of many users in one query; users with none get
    (0, 0). With BADGE_COUNTS_GROUPS the unseen count counts group keys."""
    user_ids = list(user_ids)
    if len(user_ids) == 1:
        # A personal push counts one user: compiled once, not built for
        # each count.
        [user_id] = user_ids
        rows = _unread_count.rows(user_id)
        return {user_id: (rows[0][0], rows[0][1]) if rows else (0, 0)}
    counts = dict.fromkeys(user_ids, (0, 0))
    for user_id, unread, unseen in _unread_by_recipient(recipient_id__in=user_ids).values_list(
        "recipient_id", "n", "u"
    ):
        counts[user_id] = (unread, unseen)
    return counts


def _unseen_count() -> Count:
    unseen = Q(seen_at__isnull=True)
    if not conf.badge_counts_groups:
        return Count("id", filter=unseen)
    # A row without a key is a group of its own.
    entry = Case(
        When(group_key="", then=Concat(Value("#"), Cast("id", output_field=CharField()))),
        default=F("group_key"),
        output_field=CharField(),
    )
    return Count(entry, filter=unseen, distinct=True)


def _unread_by_recipient(**recipients: Any) -> QuerySet:
    """Unread notifications of the ``recipients`` lookup, counted per
    recipient as ``n``, and the unseen of them as ``u``."""
    return (
        load_notification_model()
        .objects.filter(**recipients)
        .unread()
        .order_by()
        .values("recipient_id")
        .annotate(n=Count("id"), u=_unseen_count())
    )


_unread_count = PreparedQuery.by_id(
    lambda user_id: _unread_by_recipient(recipient_id=user_id).values_list("n", "u"),
    key=lambda: (load_notification_model(), conf.soft_delete, conf.badge_counts_groups),
)


def unseen_count(*, user: Any, request: Any = None) -> int:
    """The user's unseen notifications (the JSON endpoint's count)."""
    return apply_queryset_filters(load_notification_model().objects.filter(recipient=user).unseen(), request).count()


def _json_value(value: Any) -> Any:
    if isinstance(value, FieldFile):
        return value.name
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return _json.default(value)


def object_url(instance: Any, notification: Any, request: Any) -> str | None:
    """``get_url_for_notifications(notification, request)`` if the object has
    it, else ``get_absolute_url()``, as in django-notifications."""
    if hasattr(instance, "get_url_for_notifications"):
        return instance.get_url_for_notifications(notification, request)
    if hasattr(instance, "get_absolute_url"):
        return instance.get_absolute_url()
    return None


def notification_payload(notification: Any, request: Any = None) -> dict[str, Any]:
    """One notification as an item of django-notifications' JSON list; the
    socket's ``notification`` frames carry the same object."""
    return notification_payloads([notification], request)[0]


def notification_payloads(
    notifications: Iterable[Any], request: Any = None, *, alike: bool = False
) -> list[dict[str, Any]]:
    """``notification_payload`` of each, working out once what they share: the
    fields to include, and the text and URL of a related object that has no
    per-notification ``get_url_for_notifications`` (a bulk send's actor).

    ``alike``: they differ only in pk and recipient (copies of one row, as a
    bulk send stores them), so one payload is built and each gets its own id
    and slug, a tenth of the cost of building each. Unless a related object
    renders per notification (``get_url_for_notifications``).
    """
    if alike:
        notifications = list(notifications)
        item = shared_payload(notifications, request)
        if item is not None:
            return payload_copies(item, [n.pk for n in notifications])
    exclude = set(API_EXCLUDED_FIELDS) | set(conf.api_excluded_fields)
    fields: list[Any] = []
    shared: dict[tuple[Any, ...], tuple[str, str | None]] = {}
    items = []
    for notification in notifications:
        if not fields:
            fields = [f for f in notification._meta.concrete_fields if f.name not in exclude]
        item = {field.name: _json_value(field.value_from_object(notification)) for field in fields}
        item["slug"] = id2slug(notification.id)
        for name in RELATED:
            if getattr(notification, f"{name}_object_id") is None:
                continue
            obj = getattr(notification, name)
            if not obj:
                continue
            if hasattr(obj, "get_url_for_notifications"):
                text, url = str(obj), object_url(obj, notification, request)
            else:
                key = (type(obj), obj.pk)
                if key not in shared:
                    shared[key] = (str(obj), object_url(obj, notification, request))
                text, url = shared[key]
            item[name] = text
            if url:
                item[f"{name}_url"] = url
        if notification.data:
            item["data"] = notification.data
        items.append(item)
    return items


def notification_list_items(notifications: list[Any], request: Any = None) -> list[dict[str, Any]]:
    """The items of django-notifications' JSON lists: ``notification_payloads``
    with every key django-notifications-hq 1.8.3 gives (``PLUMBING_FIELDS``,
    and ``data`` even when empty), less ``API_EXCLUDED_FIELDS``."""
    items = notification_payloads(notifications, request)
    excluded = set(conf.api_excluded_fields)
    plumbing = [name for name in PLUMBING_FIELDS if name not in excluded]
    for notification, item in zip(notifications, items, strict=True):
        meta = notification._meta
        for name in plumbing:
            item[name] = _json_value(meta.get_field(name).value_from_object(notification))
        if "data" in excluded:
            item.pop("data", None)
        else:
            item.setdefault("data", notification.data)
    return items


def shared_payload(notifications: list[Any], request: Any = None) -> dict[str, Any] | None:
    """The payload that copies of one row (a bulk send's) share but for
    their id and slug, or None when a related object renders per
    notification (``get_url_for_notifications``)."""
    if not notifications or _renders_per_notification(notifications[0]):
        return None
    return notification_payloads(notifications[:1], request)[0]


def payload_copies(shared: dict[str, Any], pks: Iterable[int]) -> list[dict[str, Any]]:
    """``shared`` (``shared_payload``) with each of ``pks`` as id and slug."""
    pk_name = load_notification_model()._meta.pk.name
    return [{**shared, pk_name: pk, "slug": id2slug(pk)} for pk in pks]


def _renders_per_notification(notification: Any) -> bool:
    return any(
        hasattr(getattr(notification, name), "get_url_for_notifications")
        for name in RELATED
        if getattr(notification, f"{name}_object_id") is not None
    )


def notification_list(*, user: Any, unread_only: bool, limit: int, request: Any = None) -> list[Any]:
    queryset = unread_of(user=user, request=request) if unread_only else notifications_of(user=user, request=request)
    return list(with_related(queryset)[:limit])


def recent_ids(*, user: Any) -> list[int]:
    """Ids a ``sync`` may replay as late commits (created within the overlap
    window). A freshly rendered page hands these to its client, which has
    therefore already seen them."""
    since = timezone.now() - timedelta(seconds=conf.sync_overlap_seconds)
    recent = notifications_of(user=user).filter(timestamp__gte=since).order_by("-id")
    return list(recent.values_list("id", flat=True)[: conf.sync_page_size])
