"""django-notifications' template tags, plus ``notifications_bell``.

``{% load notifications_tags %}{% notifications_bell %}`` renders the live
bell (badge, dropdown, toasts) and loads the ES-module client.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django import template
from django.conf import settings
from django.db.models import Max
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince
from django.utils.translation import gettext

from notifications import selectors
from notifications.conf import Badge, conf

register = template.Library()


def unread_count_cache_key(user: Any, request: Any = None) -> str:
    """django-notifications' cache key of a user's unread count."""
    return selectors.unread_count_cache_key(user.pk, user, request)


def get_cached_notification_unread_count(user: Any, request: Any = None) -> int:
    """django-notifications' cached unread count (CACHE_TIMEOUT seconds)."""
    return selectors.cached_unread_count(user=user, request=request)


def user_context(context: Any) -> Any:
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or not user.is_authenticated:
        return None
    return user


@register.simple_tag(takes_context=True)
def notifications_unread(context: Any) -> Any:
    user = user_context(context)
    if not user:
        return ""
    return selectors.cached_unread_count(user=user, request=context.get("request"))


@register.filter
def ago(value: Any) -> str:
    """ "just now" within a minute, else "5 minutes ago" (Django's timesince)."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return gettext("just now")
    return gettext("%(since)s ago") % {"since": timesince(value)}


@register.filter
def has_notification(user: Any) -> bool:
    if not user or not user.is_authenticated:
        return False
    return selectors.unread_of(user=user).exists()


_JS_IDENTIFIER = re.compile(r"^[a-zA-Z_$][a-zA-Z0-9_$]*(\.[a-zA-Z_$][a-zA-Z0-9_$]*)*$")
_JSON_SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def register_notify_callbacks(
    badge_class: str = "live_notify_badge",
    menu_class: str = "live_notify_list",
    refresh_period: int = 15,
    callbacks: str = "",
    api_name: str = "list",
    fetch: int = 5,
    nonce: str | None = None,
    mark_as_read: bool | str = False,
    ws_url: str | None = None,
) -> str:
    """django-notifications' configuration block, with the same signature.
    ``notifications/notify.js`` reads it; it is driven by the socket and
    polls at ``refresh_period`` only while the socket is down."""
    if api_name == "list":
        api_url = reverse("notifications:live_unread_notification_list")
    elif api_name == "count":
        api_url = reverse("notifications:live_unread_notification_count")
    else:
        return ""
    callback_list = []
    for name in (c.strip() for c in callbacks.split(",")):
        if name:
            if not _JS_IDENTIFIER.match(name):
                raise ValueError(f"Invalid callback name: {name!r}. Must be a valid JavaScript identifier.")
            callback_list.append(name)
    config = {
        "badgeClass": str(badge_class),
        "menuClass": str(menu_class),
        "apiUrl": api_url,
        "fetchCount": int(fetch),
        "unreadUrl": reverse("notifications:unread"),
        "markAllUnreadUrl": reverse("notifications:mark_all_as_read"),
        "refreshPeriod": int(refresh_period) * 1000,
        "markAsRead": str(mark_as_read).lower() == "true",
        "callbacks": callback_list,
        "wsUrl": conf.websocket_url if ws_url is None else ws_url,
    }
    # json.dumps output with <, > and & escaped cannot close the script tag,
    # and type="application/json" is never executed.
    config_json = json.dumps(config, separators=(",", ":")).translate(_JSON_SCRIPT_ESCAPES)
    if nonce:
        return format_html(
            '<script type="application/json" id="notify-config" nonce="{}">{}</script>',
            nonce,
            mark_safe(config_json),
        )
    return format_html('<script type="application/json" id="notify-config">{}</script>', mark_safe(config_json))


@register.simple_tag(takes_context=True)
def live_notify_badge(context: Any, badge_class: str = "live_notify_badge") -> str:
    user = user_context(context)
    if not user:
        return ""
    count = selectors.cached_unread_count(user=user, request=context.get("request"))
    return format_html("<span class='{}'>{}</span>", badge_class, count)


@register.simple_tag
def live_notify_list(list_class: str = "live_notify_list") -> str:
    return format_html("<ul class='{}'></ul>", list_class)


@register.inclusion_tag("notifications/bell.html", takes_context=True)
def notifications_bell(context: Any, fetch: int = 8) -> dict[str, Any]:
    """The live bell for the logged-in user; renders nothing for anonymous users."""
    user = user_context(context)
    if not user:
        return {"user": None}
    request = context.get("request")
    newest = selectors.notifications_of(user=user).aggregate(m=Max("id"))["m"]
    unread = selectors.unread_count(user=user, request=request)
    return {
        "user": user,
        "unread_count": unread,
        # What the badge shows (BADGE): the unseen count by default.
        "badge": conf.badge,
        "badge_count": unread if conf.badge == Badge.UNREAD else selectors.unseen_count(user=user, request=request),
        # 0 rather than null: the client then syncs from it, so a notification
        # created between this render and the socket's hello is not missed.
        "last_id": newest or 0,
        "seen_ids": ",".join(map(str, selectors.recent_ids(user=user))),
        "fetch": fetch,
        "csrf_token": get_token(request) if request is not None else "",
        "websocket_url": conf.websocket_url,
        # Without a WebSocket or an event stream, how often the bell asks.
        "poll_seconds": min(15, conf.heartbeat_seconds),
        # Where the client finds a fresh CSRF token (after a login in another
        # tab rotated it) and the header the site's CSRF check reads.
        "csrf_cookie": "" if settings.CSRF_USE_SESSIONS or settings.CSRF_COOKIE_HTTPONLY else settings.CSRF_COOKIE_NAME,
        "csrf_header": settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-"),
    }


@register.inclusion_tag("notifications/announcements.html", takes_context=True)
def notifications_announcements(context: Any) -> dict[str, Any]:
    """Banners for the live announcements the user has not dismissed; the
    client adds new ones live and removes dismissed and expired ones."""
    user = user_context(context)
    request = context.get("request")
    return {
        "user": user,
        "announcements": selectors.announcements_for(user=user) if user else [],
        "csrf_token": get_token(request) if request is not None else "",
        "next": request.get_full_path() if request is not None else "/",
    }
