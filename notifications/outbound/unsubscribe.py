"""Signed one-click unsubscribe links (RFC 8058): no login needed, since the
token itself says whose email of which category to turn off."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import get_script_prefix, get_urlconf, reverse

from notifications.conf import conf
from notifications.users import pk_from_text, pk_to_wire

SALT = "notifications.unsubscribe"


class BadToken(Exception):
    """Tampered with, malformed or expired."""


@dataclass(frozen=True)
class Unsubscribe:
    user_id: Any
    category: str
    channel: str


def unsubscribe_token(*, user_id: Any, category: str, channel: str) -> str:
    return signing.dumps({"u": pk_to_wire(user_id), "c": category, "ch": channel}, salt=SALT, compress=True)


def unsubscribe_url(*, user_id: Any, category: str, channel: str) -> str:
    token = unsubscribe_token(user_id=user_id, category=category, channel=channel)
    # Reversed once per URLconf and prefix with a placeholder (a token is
    # URL-safe): a digest run makes thousands of these.
    pattern = _url_pattern(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    return conf.site_url + pattern.replace(PLACEHOLDER, token)


PLACEHOLDER = "TOKEN"


@functools.lru_cache(maxsize=8)
def _url_pattern(urlconf: str, prefix: str) -> str:
    return reverse("notifications:unsubscribe", args=[PLACEHOLDER], urlconf=urlconf)


def read_token(token: str) -> Unsubscribe:
    try:
        value = signing.loads(token, salt=SALT, max_age=conf.unsubscribe_max_age_seconds)
        return Unsubscribe(user_id=pk_from_text(value["u"]), category=str(value["c"]), channel=str(value["ch"]))
    except signing.SignatureExpired as exc:
        raise BadToken("This unsubscribe link has expired.") from exc
    except (signing.BadSignature, KeyError, TypeError, ValueError, ValidationError) as exc:
        raise BadToken("This unsubscribe link is not valid.") from exc
