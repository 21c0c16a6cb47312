"""Whether a request comes from the site's own pages, as Django's CSRF
origin check decides it: the ``Origin`` header equals the request's own
origin (its scheme, its host and port, which ``ALLOWED_HOSTS`` must allow,
``SECURE_PROXY_SSL_HEADER`` and ``USE_X_FORWARDED_HOST`` honoured), or is one
of ``CSRF_TRUSTED_ORIGINS``. The host alone is not enough: a page on another port or scheme of the same
host is another site.

The WebSocket handshake, the event stream and the JSON list's
``?mark_as_read=`` ask it, so a site lists its trusted origins once, for
forms and sockets alike.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain


class Handshake(HttpRequest):
    """A WebSocket handshake's scope as a Django request, for what Django
    derives from the headers: ``get_host()`` and ``is_secure()``."""

    def __init__(self, scope: dict[str, Any]):
        super().__init__()
        for name, value in scope.get("headers", []):
            key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            text = value.decode("latin1")
            self.META[key] = f"{self.META[key]},{text}" if key in self.META else text
        server = scope.get("server") or ("", "")
        self.META["SERVER_NAME"], self.META["SERVER_PORT"] = str(server[0]), str(server[1])
        self._secure = scope.get("scheme") in ("wss", "https")

    def _get_scheme(self) -> str:
        return "https" if self._secure else "http"


def trusted_origin(origin: str) -> bool:
    """Whether ``origin`` is one of CSRF_TRUSTED_ORIGINS (which may name
    subdomains as ``https://*.example.com``)."""
    trusted = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", []))
    if origin in trusted:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parts.netloc, urlsplit(entry).netloc[len("*") :])
        for entry in trusted
        if "://*." in entry and urlsplit(entry).scheme == parts.scheme
    )


def same_origin(request: HttpRequest, origin: str) -> bool:
    """Whether ``origin`` is ``request``'s own, or trusted."""
    try:
        own = f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return False
    return origin == own or trusted_origin(origin)


def handshake_origin_allowed(scope: dict[str, Any]) -> bool:
    """The WebSocket handshake's ``Origin``: present, and the site's own."""
    request = Handshake(scope)
    origin = request.META.get("HTTP_ORIGIN")
    if not origin or origin == "null":
        return False
    return same_origin(request, origin)


def cross_site(request: HttpRequest) -> bool:
    """Whether a browser sent ``request`` from another site's page, by the
    headers browsers set: ``Sec-Fetch-Site``, ``Origin``, ``Referer``. An
    origin the request's own or trusted (CSRF_TRUSTED_ORIGINS) is not
    another site, whatever ``Sec-Fetch-Site`` says of a sibling. A request
    with none of them (a script, an old browser, a typed URL) is not
    either."""
    for header in ("Origin", "Referer"):
        source = request.headers.get(header)
        if not source:
            continue
        if source == "null":
            return True
        try:
            parts = urlsplit(source)
        except ValueError:
            return True
        return not same_origin(request, f"{parts.scheme}://{parts.netloc}")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    return fetch_site is not None and fetch_site not in ("same-origin", "none")
