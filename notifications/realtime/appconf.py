"""What the notifications and chat apps' ``conf.py`` share: a dict setting
read live, its unknown keys, and the socket limits both sockets take from it.

Part of the real-time layer (docs/architecture.md): it imports no app, so
``chat`` works without ``notifications`` in INSTALLED_APPS.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from django.conf import settings
from django.core.checks import Error, Warning
from django.core.exceptions import ImproperlyConfigured

from .socket_limit import SocketLimits

# Where the published docs live; check hints and errors link to its pages.
DOCS_URL = "https://github.com/django-notifications-live/django-notifications-live/blob/main/docs/"

# The keys every socket's limits come from, with the same defaults in both
# apps: frame size, client frame rate and burst, open sockets per user
# (across processes with Redis; one more closes with 4429), and the abuse
# cooldown (after a socket is closed for flooding or bad frames, that user's
# next handshakes on the same process wait this long; 0 turns it off).
SOCKET_LIMIT_DEFAULTS: dict[str, Any] = {
    "MAX_FRAME_BYTES": SocketLimits.max_frame_bytes,
    "FRAMES_PER_SECOND": int(SocketLimits.frames_per_second),
    "FRAME_BURST": int(SocketLimits.frame_burst),
    "MAX_SOCKETS_PER_USER": SocketLimits.max_sockets_per_user,
    "ABUSE_COOLDOWN_SECONDS": int(SocketLimits.abuse_cooldown_seconds),
}


# The least MAX_FRAME_BYTES: the apps' own frames (a notification's stub with
# its group, a chat message cut to fit) must fit in one.
MIN_FRAME_BYTES = 8192


def abuse_cooldown(setting: str, value: Any) -> float:
    """Validate ABUSE_COOLDOWN_SECONDS: 0 (off) to 4 s, since daphne drops a
    handshake still pending after 5 s."""
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 4:
        raise ImproperlyConfigured(f"{setting}['ABUSE_COOLDOWN_SECONDS'] must be a number from 0 to 4, not {value!r}.")
    return float(value)


class AppConf:
    """One app's settings dict. A subclass names the setting and its
    defaults, and adds a typed property per key of its own; the socket
    limits' properties are here, for both apps."""

    setting: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]

    def user_config(self) -> dict[str, Any]:
        """The site's dict, as set; raises when it is not a dict."""
        config = getattr(settings, self.setting, {}) or {}
        if not isinstance(config, dict):
            raise ImproperlyConfigured(f"{self.setting} must be a dict.")
        return config

    def unknown_keys(self) -> list[str]:
        return sorted(map(str, set(self.user_config()) - set(self.defaults)))

    def _get(self, key: str) -> Any:
        return self.user_config().get(key, self.defaults[key])

    def _positive_number(self, key: str) -> float:
        value = self._get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ImproperlyConfigured(f"{self.setting}['{key}'] must be a positive number, not {value!r}.")
        return float(value)

    def _positive_int(self, key: str) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ImproperlyConfigured(f"{self.setting}['{key}'] must be a positive integer, not {value!r}.")
        return value

    # The socket limits, the same keys and checks in both apps.

    @property
    def max_frame_bytes(self) -> int:
        value = self._positive_int("MAX_FRAME_BYTES")
        if value < MIN_FRAME_BYTES:
            raise ImproperlyConfigured(
                f"{self.setting}['MAX_FRAME_BYTES'] must be at least {MIN_FRAME_BYTES}: the server's own frames (a "
                f"notification's stub with its group) must fit in it, not {value!r}."
            )
        return value

    @property
    def frames_per_second(self) -> float:
        return self._positive_number("FRAMES_PER_SECOND")

    @property
    def frame_burst(self) -> float:
        value = self._positive_number("FRAME_BURST")
        if value < 1:
            raise ImproperlyConfigured(
                f"{self.setting}['FRAME_BURST'] must be at least 1, or no frame gets through, not {value!r}."
            )
        return value

    @property
    def max_sockets_per_user(self) -> int:
        return self._positive_int("MAX_SOCKETS_PER_USER")

    @property
    def abuse_cooldown_seconds(self) -> float:
        return abuse_cooldown(self.setting, self._get("ABUSE_COOLDOWN_SECONDS"))

    def socket_limits(self) -> SocketLimits:
        """The limits of this app's sockets, read at each connect."""
        return SocketLimits(
            max_frame_bytes=self.max_frame_bytes,
            frames_per_second=self.frames_per_second,
            frame_burst=self.frame_burst,
            max_strikes=getattr(self, "max_strikes", SocketLimits.max_strikes),
            max_sockets_per_user=self.max_sockets_per_user,
            abuse_cooldown_seconds=self.abuse_cooldown_seconds,
        )


def misnamed_settings(conf: AppConf, *, check_id: str, docs: str) -> list[Warning]:
    """A setting named almost like the app's (``NOTIFICATIONS_CONFIG`` for
    ``DJANGO_NOTIFICATIONS_CONFIG``) is read by nothing: say which it meant."""
    names = [name for name in dir(settings) if name.isupper() and name != conf.setting]
    return [
        Warning(
            f"The setting {name} is not read by anything here; {conf.setting} is.",
            hint=f"Rename it to {conf.setting} ({docs}).",
            id=check_id.replace(".E", ".W"),
        )
        for name in difflib.get_close_matches(conf.setting, names, n=3, cutoff=0.8)
    ]


def socket_limit_errors(conf: AppConf, *, check_id: str, docs: str) -> list[Error]:
    """A system check's error for a socket limit out of range, which would
    otherwise surface only when a socket connects or a push is sent."""
    try:
        if conf.unknown_keys():
            return []  # the unknown-key check reports these
    except ImproperlyConfigured:
        return []  # not a dict: the same
    try:
        conf.socket_limits()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=f"The socket limits and their ranges are in {docs}.", id=check_id)]
    return []


def unknown_key_errors(conf: AppConf, *, check_id: str, docs: str) -> list[Any]:
    """A system check's errors for keys the app does not know (a typo would
    otherwise be ignored), or for a setting that is not a dict."""
    try:
        unknown = conf.unknown_keys()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint=f"Set {conf.setting} to a dict ({docs}).", id=check_id)]
    errors: list[Any] = misnamed_settings(conf, check_id=check_id, docs=docs)
    for key in unknown:
        close = difflib.get_close_matches(str(key), conf.defaults, n=1)
        meant = f"Did you mean {close[0]!r}? " if close else ""
        errors.append(
            Error(
                f"{conf.setting} has an unknown key {key!r}, which has no effect.",
                hint=f"{meant}The keys are listed in {docs}.",
                id=check_id,
            )
        )
    return errors
