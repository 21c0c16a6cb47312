"""django-notifications' helpers module, kept for code that imports it."""

from typing import Any

from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from notifications import selectors
from notifications.conf import conf
from notifications.realtime.origin import cross_site
from notifications.registry import collect_invalidation_keys
from notifications.selectors import object_url as get_object_url
from notifications.services import notifications_set_unread

__all__ = [
    "get_notification_list",
    "get_num_to_fetch",
    "get_object_url",
    "invalidate_unread_count_cache",
    "notification_to_dict",
]


def notification_to_dict(notification: Any) -> dict[str, Any]:
    return selectors.notification_list_items([notification])[0]


def invalidate_unread_count_cache(user: Any, request: Any = None) -> None:
    keys = [selectors.unread_count_cache_key(user.pk, user, request)]
    keys.extend(collect_invalidation_keys(user, request))
    cache.delete_many(keys)


def get_num_to_fetch(request: Any) -> int:
    """``?max=`` between 1 and 100, else NUM_TO_FETCH."""
    default = conf.num_to_fetch
    try:
        value = int(request.GET.get("max", default))
    except (TypeError, ValueError):
        return default
    return value if 1 <= value <= 100 else default


def get_notification_list(request: Any, method_name: str = "all") -> list[dict[str, Any]]:
    """The JSON list items; ``?mark_as_read=`` marks the returned ones read.

    A GET that writes: only from the site's own pages. A browser sends the
    session cookie on another site's top-level link too (``SameSite=Lax``),
    so a cross-site request with ``mark_as_read`` is refused (403)."""
    if request.GET.get("mark_as_read") and cross_site(request):
        raise PermissionDenied("mark_as_read is refused for a request from another site.")
    notifications = selectors.notification_list(
        user=request.user,
        unread_only=method_name == "unread",
        limit=get_num_to_fetch(request),
        request=request,
    )
    items = selectors.notification_list_items(notifications, request)
    if request.GET.get("mark_as_read") and notifications:
        model = type(notifications[0])
        notifications_set_unread(queryset=model.objects.filter(id__in=[n.id for n in notifications]), unread=False)
        invalidate_unread_count_cache(request.user, request)
    return items
