"""The Web Push channel: pywebpush's async API, VAPID keys from
``WEBPUSH`` in DJANGO_NOTIFICATIONS_CONFIG, every subscription of the
recipient, one HTTP session per batch. A subscription the push service says
is gone (404 or 410) is deleted. Needs the ``webpush`` extra."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from notifications.conf import conf
from notifications.outbound.base import Channel, Outgoing, Skip
from notifications.outbound.models import PushSubscription
from notifications.outbound.push_endpoints import GuardedSession, RefusedEndpoint, check_endpoint

logger = logging.getLogger("notifications.outbound")

GONE = {404, 410}
# Seconds a push service keeps a message for an offline browser.
TTL = 24 * 3600
TIMEOUT = 10


def run_coroutine(coroutine: Any) -> Any:
    """Run ``coroutine`` to its end from synchronous code: on a new event
    loop here, or, when this thread already runs one (a caller inside
    async code, a notebook, Playwright's sync API), on a new loop in a
    thread of its own, since asyncio.run refuses to nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1, thread_name_prefix="notifications-webpush") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def generate_vapid_keys(subject: str = "mailto:admin@example.com") -> dict[str, str]:
    """A new VAPID key pair, in the form the WEBPUSH setting takes: the
    private key as base64url of its 32 raw bytes, the public key as
    base64url of the uncompressed point (the browser's applicationServerKey)."""
    # The webpush extra's: imported when used.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {
        "VAPID_PUBLIC_KEY": b64(public),
        "VAPID_PRIVATE_KEY": b64(key.private_numbers().private_value.to_bytes(32, "big")),
        "VAPID_SUBJECT": subject,
    }


def payload(outgoing: Outgoing) -> dict[str, Any]:
    """What the service worker shows (static/notifications/service-worker.js).
    Several notifications held together (a recipient's limit) are one push:
    the newest, "and 297 more"."""
    n = max(outgoing.notifications, key=lambda notification: notification.pk)
    parts = [str(n.actor), n.verb]
    if n.target is not None:
        parts.append(str(n.target))
    title = " ".join(parts)
    more = len(outgoing.notifications) - 1
    return {
        "id": n.pk,
        "title": title if not more else _("%(title)s and %(count)s more") % {"title": title, "count": more},
        "body": n.description or "" if not more else "",
        "url": conf.site_url + reverse("notifications:all"),
        "tag": f"notification-{n.pk}",
    }


class WebPushChannel(Channel):
    label = _("Browser push")
    coalesces = True

    def check(self) -> list[str]:
        problems = []
        try:
            import pywebpush  # noqa: F401
        except ImportError:
            problems.append("pywebpush is not installed: pip install 'django-notifications-live[webpush]'.")
        settings = conf.webpush
        for key in ("VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"):
            if not settings.get(key):
                problems.append(f"WEBPUSH['{key}'] is not set (docs/channels.md, Web Push).")
        return problems

    def send(self, outgoing: Outgoing) -> None:
        [result] = self.send_many([outgoing])
        if result is not None:
            raise result

    def send_many(self, batch: list[Outgoing]) -> list[BaseException | None]:
        by_user: dict[int, list[PushSubscription]] = {}
        for subscription in PushSubscription.objects.filter(user_id__in={o.recipient.pk for o in batch}):
            by_user.setdefault(subscription.user_id, []).append(subscription)
        results, gone = run_coroutine(self._send_all(batch, by_user))
        if gone:
            PushSubscription.objects.filter(endpoint__in=gone).delete()
        return results

    async def _send_all(
        self, batch: list[Outgoing], by_user: dict[int, list[PushSubscription]]
    ) -> tuple[list[BaseException | None], list[str]]:
        from pywebpush import WebPushException, webpush_async  # the webpush extra's: imported when used

        settings = conf.webpush
        gone: list[str] = []

        async def one(session: Any, outgoing: Outgoing) -> BaseException | None:
            subscriptions = by_user.get(outgoing.recipient.pk, [])
            if not subscriptions:
                return Skip("the recipient has no push subscription")
            data = json.dumps(payload(outgoing))
            delivered, refused, errors = 0, 0, []
            for subscription in subscriptions:
                try:
                    # Stored before endpoints were checked, or a push service
                    # a site has since dropped from WEBPUSH["PUSH_SERVICES"]:
                    # not sent to, and kept (the list may be put right).
                    check_endpoint(subscription.endpoint)
                except RefusedEndpoint as exc:
                    logger.warning("not pushing to %.100s: %s", subscription.endpoint, exc)
                    refused += 1
                    continue
                try:
                    await webpush_async(
                        subscription_info=subscription.info(),
                        data=data,
                        vapid_private_key=settings["VAPID_PRIVATE_KEY"],
                        vapid_claims={"sub": settings["VAPID_SUBJECT"]},
                        ttl=TTL,
                        timeout=TIMEOUT,
                        aiohttp_session=session,
                    )
                    delivered += 1
                except WebPushException as exc:
                    status = getattr(exc.response, "status", None) or getattr(exc.response, "status_code", None)
                    if status in GONE:
                        gone.append(subscription.endpoint)
                    else:
                        errors.append(exc)
                except Exception as exc:
                    errors.append(exc)
            if delivered:
                return None
            if errors:
                return errors[0]
            if refused:
                return Skip("no push subscription of the recipient is at a push service that takes it")
            return Skip("every push subscription of the recipient has expired")

        async with GuardedSession() as session:
            results = await asyncio.gather(*(one(session, outgoing) for outgoing in batch))
        return list(results), gone
