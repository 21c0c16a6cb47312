"""The notifications app's settings, read live from DJANGO_NOTIFICATIONS_CONFIG.

The dict keeps django-notifications' name and keys, and adds this app's own.
Properties read ``django.conf.settings`` on every access, so
``override_settings`` works with no cache to clear. What both apps' confs
share (reading the dict, the socket limits) is in notifications.realtime.appconf;
an unknown key is reported by the check notifications.E030.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from notifications.realtime.appconf import SOCKET_LIMIT_DEFAULTS, AppConf

SETTING = "DJANGO_NOTIFICATIONS_CONFIG"

DEFAULTS: dict[str, Any] = {
    # django-notifications' keys, same meaning and defaults. USE_JSONFIELD
    # off: extra notify.send() kwargs (and data=) are dropped, as there.
    "PAGINATE_BY": 20,
    "USE_JSONFIELD": False,
    "SOFT_DELETE": False,
    "NUM_TO_FETCH": 10,
    "CACHE_TIMEOUT": 2,
    "API_EXCLUDED_FIELDS": (),
    # This app's keys.
    "HEARTBEAT_SECONDS": 25,
    "SCHEDULE_SECONDS": 2,
    # With a channel layer that cannot reach other processes (the in-memory
    # one), how often each server process looks for notifications and
    # announcements that other processes stored.
    "WATCH_SECONDS": 1.0,
    "WEBSOCKET_URL": "/ws/notifications/",
    "SYNC_PAGE_SIZE": 100,
    "SYNC_OVERLAP_SECONDS": 60,
    **SOCKET_LIMIT_DEFAULTS,
    "BULK_CREATE_BATCH_SIZE": 1000,
    "TRIGGERS_MODULE": "live",
    # Seen and grouping.
    "BADGE": "unseen",
    "BADGE_COUNTS_GROUPS": False,
    "GROUP_WINDOW_SECONDS": 24 * 60 * 60,
    # Delivery channels beyond the inbox (docs/channels.md).
    "CHANNELS": [],
    "CHANNEL_CLASSES": {},
    "CATEGORIES": {},
    "DELIVERY_RULES": {},
    "VERB_RULES": {},
    "FALLBACK_DELAY_SECONDS": 600,
    "DELIVER_SECONDS": 10,
    "DELIVERY_BATCH_SIZE": 100,
    # Email and Web Push messages one recipient gets, per channel and
    # category ("*": any other), in a sliding window; past it they wait and
    # go out together, as one message. Critical sends are never held.
    "DELIVERY_LIMITS": {"*": {"count": 10, "seconds": 3600}},
    "DELIVERY_MAX_ATTEMPTS": 5,
    "DELIVERY_BACKOFF_SECONDS": 60,
    "DELIVERY_LEASE_SECONDS": 600,
    "SITE_URL": "",
    "EMAIL_FROM": None,
    "USER_LANGUAGE_FIELD": "language",
    "UNSUBSCRIBE_MAX_AGE_DAYS": 90,
    "WEBPUSH": {},
}


class Badge:
    """What the bell's badge counts (the BADGE key)."""

    UNSEEN = "unseen"
    UNREAD = "unread"
    CHOICES = (UNSEEN, UNREAD)


class NotificationsConf(AppConf):
    setting = SETTING
    defaults = DEFAULTS

    def as_dict(self) -> dict[str, Any]:
        user = getattr(settings, SETTING, {}) or {}
        return {**DEFAULTS, **user}

    @property
    def paginate_by(self) -> int:
        return self._positive_int("PAGINATE_BY")

    @property
    def use_jsonfield(self) -> bool:
        return bool(self._get("USE_JSONFIELD"))

    @property
    def soft_delete(self) -> bool:
        return bool(self._get("SOFT_DELETE"))

    @property
    def num_to_fetch(self) -> int:
        return self._positive_int("NUM_TO_FETCH")

    @property
    def cache_timeout(self) -> int:
        return int(self._get("CACHE_TIMEOUT"))

    @property
    def api_excluded_fields(self) -> tuple[str, ...]:
        return tuple(self._get("API_EXCLUDED_FIELDS"))

    @property
    def heartbeat_seconds(self) -> int:
        return self._positive_int("HEARTBEAT_SECONDS")

    @property
    def schedule_seconds(self) -> int:
        return self._positive_int("SCHEDULE_SECONDS")

    @property
    def watch_seconds(self) -> float:
        value = self._get("WATCH_SECONDS")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ImproperlyConfigured(
                f"{SETTING}['WATCH_SECONDS'] must be a number of seconds above 0, not {value!r}."
            )
        return float(value)

    @property
    def websocket_url(self) -> str:
        value = self._get("WEBSOCKET_URL")
        if not isinstance(value, str) or not value.startswith(("/", "ws://", "wss://")):
            raise ImproperlyConfigured(
                f"{SETTING}['WEBSOCKET_URL'] must be a path starting with / (or a ws:// or wss:// URL), not {value!r}."
            )
        return value

    @property
    def sync_page_size(self) -> int:
        return self._positive_int("SYNC_PAGE_SIZE")

    @property
    def sync_overlap_seconds(self) -> int:
        return int(self._get("SYNC_OVERLAP_SECONDS"))

    @property
    def bulk_create_batch_size(self) -> int:
        return self._positive_int("BULK_CREATE_BATCH_SIZE")

    @property
    def triggers_module(self) -> str:
        return str(self._get("TRIGGERS_MODULE"))

    @property
    def badge(self) -> str:
        value = self._get("BADGE")
        if value not in Badge.CHOICES:
            raise ImproperlyConfigured(f"{SETTING}['BADGE'] must be one of {Badge.CHOICES}, not {value!r}.")
        return value

    @property
    def badge_counts_groups(self) -> bool:
        return bool(self._get("BADGE_COUNTS_GROUPS"))

    @property
    def group_window_seconds(self) -> int:
        return self._positive_int("GROUP_WINDOW_SECONDS")

    # Delivery channels: validated by checks.check_delivery_settings, read by
    # notifications.outbound.

    @property
    def channels(self) -> list[str]:
        return list(self._get("CHANNELS"))

    @property
    def channel_classes(self) -> dict[str, str]:
        return dict(self._get("CHANNEL_CLASSES"))

    @property
    def categories(self) -> dict[str, Any]:
        return dict(self._get("CATEGORIES"))

    @property
    def delivery_rules(self) -> dict[str, Any]:
        return dict(self._get("DELIVERY_RULES"))

    @property
    def verb_rules(self) -> dict[str, Any]:
        return dict(self._get("VERB_RULES"))

    @property
    def fallback_delay_seconds(self) -> float:
        return float(self._get("FALLBACK_DELAY_SECONDS"))

    @property
    def deliver_seconds(self) -> int:
        return self._positive_int("DELIVER_SECONDS")

    @property
    def delivery_batch_size(self) -> int:
        return self._positive_int("DELIVERY_BATCH_SIZE")

    @property
    def delivery_limits(self) -> dict[str, tuple[int, int]]:
        """Category (or "*") -> (messages, seconds)."""
        value = self._get("DELIVERY_LIMITS")
        if not isinstance(value, dict):
            raise ImproperlyConfigured(f"{SETTING}['DELIVERY_LIMITS'] must be a dict, not {value!r}.")
        limits = {}
        for category, limit in value.items():
            count = limit.get("count") if isinstance(limit, dict) else None
            seconds = limit.get("seconds") if isinstance(limit, dict) else None
            if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (count, seconds)):
                raise ImproperlyConfigured(
                    f"{SETTING}['DELIVERY_LIMITS'][{category!r}] must be "
                    f'{{"count": <positive int>, "seconds": <positive int>}}, not {limit!r}.'
                )
            limits[category] = (count, seconds)
        return limits

    def delivery_limit(self, category: str) -> tuple[int, int] | None:
        limits = self.delivery_limits
        return limits.get(category, limits.get("*"))

    @property
    def delivery_max_attempts(self) -> int:
        return self._positive_int("DELIVERY_MAX_ATTEMPTS")

    @property
    def delivery_backoff_seconds(self) -> float:
        return float(self._get("DELIVERY_BACKOFF_SECONDS"))

    @property
    def delivery_lease_seconds(self) -> int:
        return self._positive_int("DELIVERY_LEASE_SECONDS")

    @property
    def site_url(self) -> str:
        return str(self._get("SITE_URL") or "").rstrip("/")

    @property
    def email_from(self) -> str:
        return self._get("EMAIL_FROM") or settings.DEFAULT_FROM_EMAIL

    @property
    def user_language_field(self) -> str | None:
        return self._get("USER_LANGUAGE_FIELD") or None

    @property
    def unsubscribe_max_age_seconds(self) -> int:
        return self._positive_int("UNSUBSCRIBE_MAX_AGE_DAYS") * 24 * 3600

    @property
    def webpush(self) -> dict[str, Any]:
        return dict(self._get("WEBPUSH") or {})


conf = NotificationsConf()
