"""Where Web Push may send: the browsers' push services, and nothing else.

A subscription's endpoint is a URL that the browser hands the site, so any
user can hand it any URL, and the server then POSTs to it. Unchecked, that
is a server-side request forgery: Redis on loopback, a cloud's metadata
address, the intranet. So an endpoint must be an ``https`` URL on port 443
of a known push service's host name (no address literal, no user info);
when the push is sent, its host must resolve to public addresses only; a
redirect is never followed; and each request's time and answer are bounded.

A site adds push services in ``WEBPUSH["PUSH_SERVICES"]``: a host name, a
domain (with a leading dot), or a whole origin (``"http://127.0.0.1:8765"``)
for a push service of its own, which is then trusted as it is.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from notifications.conf import conf

# The push services of the browsers that implement the Push API.
DEFAULT_PUSH_SERVICES = (
    "fcm.googleapis.com",  # Chrome, Edge, Opera, Samsung Internet
    "updates.push.services.mozilla.com",  # Firefox
    ".push.apple.com",  # Safari
    ".notify.windows.com",  # Windows' own push service (WNS)
)
# What a push service answers is a status and a short error text.
MAX_ANSWER_BYTES = 64 * 1024
TIMEOUT_SECONDS = 10
# Subscriptions one user keeps (a browser each); a new one past it drops the oldest.
MAX_SUBSCRIPTIONS_PER_USER = 10


class RefusedEndpoint(ValueError):
    """An endpoint that is not a push service's; the message says why."""


def push_services() -> tuple[str, ...]:
    return (*DEFAULT_PUSH_SERVICES, *conf.webpush.get("PUSH_SERVICES", ()))


def trusted_origins() -> set[str]:
    """The whole origins a site listed: its own push services."""
    return {entry.rstrip("/") for entry in push_services() if "://" in entry}


def check_endpoint(endpoint: Any) -> None:
    """Raise RefusedEndpoint unless ``endpoint`` is a push service's URL."""
    if not isinstance(endpoint, str):
        raise RefusedEndpoint("the endpoint must be a URL")
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:
        raise RefusedEndpoint("the endpoint is not a URL") from exc
    if f"{parts.scheme}://{parts.netloc}" in trusted_origins():
        return
    if parts.scheme != "https":
        raise RefusedEndpoint("a push service is reached over https")
    if "@" in parts.netloc:
        raise RefusedEndpoint("the endpoint must not carry a user name or password")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise RefusedEndpoint("the endpoint has no host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise RefusedEndpoint("the endpoint's host is an address, not a push service's name")
    if port not in (None, 443):
        raise RefusedEndpoint("a push service is reached on port 443")
    names = [entry.lower() for entry in push_services() if "://" not in entry]
    if not any(host == name or (name.startswith(".") and host.endswith(name)) for name in names):
        raise RefusedEndpoint(f"{host} is not a push service (WEBPUSH['PUSH_SERVICES'] adds one)")


def is_public(address: str) -> bool:
    """An address that routes on the internet: not loopback, private,
    link-local (a cloud's metadata service), multicast or reserved."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


def public_resolver() -> Any:
    """aiohttp's resolver, keeping only public addresses: a push service
    host whose name points at loopback or the intranet (at send time, so a
    name changed after registration is caught too) cannot be reached."""
    from aiohttp.resolver import ThreadedResolver  # the webpush extra's: imported when used

    trusted = {urlsplit(origin).hostname for origin in trusted_origins()}

    class PublicResolver(ThreadedResolver):
        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
            found = await super().resolve(host, port, family)
            if host in trusted:
                return found
            public = [entry for entry in found if is_public(entry["host"])]
            if not public:
                raise OSError(f"{host} resolves to no public address; not sending a push there")
            return public

    return PublicResolver()


class Answer:
    """What pywebpush reads of a push service's response: its status, and
    at most MAX_ANSWER_BYTES of its body."""

    def __init__(self, status: int, reason: str | None, body: bytes, headers: Any):
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers

    async def text(self) -> str:
        return self.body.decode(errors="replace")


class GuardedSession:
    """The aiohttp session pywebpush posts through: no redirect followed (a
    3xx is the push service's answer, and fails the push), the answer's
    size bounded, public addresses only."""

    def __init__(self) -> None:
        import aiohttp  # the webpush extra's: imported when used

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=public_resolver()),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
        )

    async def post(self, url: str, **kwargs: Any) -> Answer:
        check_endpoint(url)
        kwargs.pop("timeout", None)  # the session's bound applies
        async with self.session.post(url, allow_redirects=False, **kwargs) as response:
            body = await response.content.read(MAX_ANSWER_BYTES)
            return Answer(response.status, response.reason, body, response.headers)

    async def __aenter__(self) -> GuardedSession:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.session.close()
