"""The chat app's settings, read live from CHAT_CONFIG.

Properties read ``django.conf.settings`` on every access, so
``override_settings`` works with no cache to clear.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from notifications.conf import abuse_cooldown

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
    # Frame size limit and client frame rate, as in the notifications socket.
    "MAX_FRAME_BYTES": 16 * 1024,
    "FRAMES_PER_SECOND": 20,
    "FRAME_BURST": 40,
    # Open room sockets per user (across processes with Redis); one more closes with 4429.
    "MAX_SOCKETS_PER_USER": 20,
    # After a socket is closed for flooding or bad frames, that user's next
    # room handshakes on the same process wait this long (0 turns it off).
    "ABUSE_COOLDOWN_SECONDS": 3,
}


class ChatConf:
    def _get(self, key: str) -> Any:
        user = getattr(settings, SETTING, {}) or {}
        if not isinstance(user, dict):
            raise ImproperlyConfigured(f"{SETTING} must be a dict.")
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            raise ImproperlyConfigured(f"{SETTING} has unknown keys: {', '.join(sorted(unknown))}.")
        return user.get(key, DEFAULTS[key])

    def _positive(self, key: str) -> Any:
        value = self._get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ImproperlyConfigured(f"{SETTING}['{key}'] must be a positive number, not {value!r}.")
        return value

    @property
    def max_message_length(self) -> int:
        return int(self._positive("MAX_MESSAGE_LENGTH"))

    @property
    def history_page_size(self) -> int:
        return int(self._positive("HISTORY_PAGE_SIZE"))

    @property
    def messages_per_second(self) -> float:
        return float(self._positive("MESSAGES_PER_SECOND"))

    @property
    def message_burst(self) -> float:
        return float(self._positive("MESSAGE_BURST"))

    @property
    def max_strikes(self) -> int:
        return int(self._positive("MAX_STRIKES"))

    @property
    def typing_interval_seconds(self) -> float:
        return float(self._positive("TYPING_INTERVAL_SECONDS"))

    @property
    def presence_refresh_seconds(self) -> float:
        return float(self._positive("PRESENCE_REFRESH_SECONDS"))

    @property
    def presence_timeout_seconds(self) -> float:
        return float(self._positive("PRESENCE_TIMEOUT_SECONDS"))

    @property
    def max_frame_bytes(self) -> int:
        return int(self._positive("MAX_FRAME_BYTES"))

    @property
    def frames_per_second(self) -> float:
        return float(self._positive("FRAMES_PER_SECOND"))

    @property
    def max_sockets_per_user(self) -> int:
        return int(self._positive("MAX_SOCKETS_PER_USER"))

    @property
    def frame_burst(self) -> float:
        return float(self._positive("FRAME_BURST"))

    @property
    def abuse_cooldown_seconds(self) -> float:
        return abuse_cooldown(SETTING, self._get("ABUSE_COOLDOWN_SECONDS"))


conf = ChatConf()
