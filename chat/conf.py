"""The chat app's settings, read live from CHAT_CONFIG.

Properties read ``django.conf.settings`` on every access, so
``override_settings`` works with no cache to clear. What both apps' confs
share (reading the dict, the socket limits) is in notifications.realtime.appconf;
an unknown key is reported by the check chat.E001, and refused at first use.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from notifications.realtime.appconf import SOCKET_LIMIT_DEFAULTS, AppConf

SETTING = "CHAT_CONFIG"

DEFAULTS: dict[str, Any] = {
    # Longest message body, in characters.
    "MAX_MESSAGE_LENGTH": 2000,
    # Messages sent on join and per `history` page.
    "HISTORY_PAGE_SIZE": 50,
    # Per-user message rate (token bucket) and burst; past the burst a
    # message gets a `rate_limited` error, and a socket that keeps going is
    # closed with 4429.
    "MESSAGES_PER_SECOND": 5,
    "MESSAGE_BURST": 10,
    # Refused frames a socket may send before it is closed.
    "MAX_STRIKES": 20,
    # A user's `typing` is relayed at most once per this many seconds.
    "TYPING_INTERVAL_SECONDS": 2,
    # Presence: each server refreshes its sockets' entries this often, and an
    # entry not refreshed for PRESENCE_TIMEOUT_SECONDS (a crashed server's)
    # is dropped.
    "PRESENCE_REFRESH_SECONDS": 20,
    "PRESENCE_TIMEOUT_SECONDS": 60,
    # Frame size, client frame rate, open sockets per user and the abuse
    # cooldown, with the same defaults as the notifications socket.
    **SOCKET_LIMIT_DEFAULTS,
}


class ChatConf(AppConf):
    setting = SETTING
    defaults = DEFAULTS

    def _get(self, key: str) -> Any:
        # Chat has no keys inherited from django-notifications, so a typo also fails at first use.
        unknown = self.unknown_keys()
        if unknown:
            raise ImproperlyConfigured(f"{SETTING} has unknown keys: {', '.join(unknown)}.")
        return super()._get(key)

    @property
    def max_message_length(self) -> int:
        return int(self._positive_number("MAX_MESSAGE_LENGTH"))

    @property
    def history_page_size(self) -> int:
        return int(self._positive_number("HISTORY_PAGE_SIZE"))

    @property
    def messages_per_second(self) -> float:
        return float(self._positive_number("MESSAGES_PER_SECOND"))

    @property
    def message_burst(self) -> float:
        return float(self._positive_number("MESSAGE_BURST"))

    @property
    def max_strikes(self) -> int:
        return int(self._positive_number("MAX_STRIKES"))

    @property
    def typing_interval_seconds(self) -> float:
        return float(self._positive_number("TYPING_INTERVAL_SECONDS"))

    @property
    def presence_refresh_seconds(self) -> float:
        return float(self._positive_number("PRESENCE_REFRESH_SECONDS"))

    @property
    def presence_timeout_seconds(self) -> float:
        return float(self._positive_number("PRESENCE_TIMEOUT_SECONDS"))


conf = ChatConf()
