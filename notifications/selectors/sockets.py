"""Reads that serve the socket: the badge count, ``hello`` and heartbeats.

The badge counts unread notifications plus unread live announcements of the
user's audience. django-notifications' own count endpoints and tags keep
counting notifications only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Max

from notifications.conf import conf
from notifications.selectors.announcements import (
    announcement_payload,
    announcements_for,
    unread_announcement_counts,
)
from notifications.selectors.notifications import notifications_of, unread_counts
from notifications.swappable import load_notification_model


def badge_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    user_ids = list(user_ids)
    notifications = unread_counts(user_ids=user_ids)
    announcements = unread_announcement_counts(user_ids=user_ids)
    return {uid: notifications[uid] + announcements[uid] for uid in user_ids}


def badge_count(*, user: Any) -> int:
    return badge_counts(user_ids=[user.pk])[user.pk]


def hello_snapshot(*, user: Any) -> dict[str, Any]:
    """The unread count, the newest id and the unread live announcements."""
    newest = notifications_of(user=user).aggregate(last_id=Max("id"))["last_id"]
    return {
        "unread_count": badge_count(user=user),
        "last_id": newest,
        "announcements": [announcement_payload(a) for a in announcements_for(user=user)],
    }


def heartbeat_snapshots(*, user_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each user's newest id and badge count, in a few grouped queries."""
    queryset = load_notification_model().objects.filter(recipient_id__in=user_ids)
    if conf.soft_delete:
        queryset = queryset.filter(deleted=False)
    newest = dict(queryset.order_by().values("recipient_id").annotate(m=Max("id")).values_list("recipient_id", "m"))
    counts = badge_counts(user_ids=user_ids)
    return {uid: {"last_id": newest.get(uid), "unread_count": counts[uid]} for uid in user_ids}
