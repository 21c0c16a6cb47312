"""Reads that serve the socket: the badge counts, ``hello`` and heartbeats.

Frames carry two counts: ``unread_count``, the unread notifications plus the
unread live announcements of the user's audience, and ``unseen_count``, the
unseen notifications plus those announcements (an announcement is seen when
it is dismissed). The badge shows one of them (BADGE). django-notifications'
own count endpoints and tags keep counting notifications only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db.models import Max

from notifications.conf import conf
from notifications.models import Announcement, announcements_enabled
from notifications.registry import has_queryset_filters
from notifications.selectors.announcements import (
    announcement_payload,
    announcements_for,
    any_live,
    audience_of,
    audiences_of,
    unread_announcement_counts,
)
from notifications.selectors.groups import Row, groups_of
from notifications.selectors.notifications import notifications_of, unread_and_unseen_counts
from notifications.selectors.prepared import PreparedQuery
from notifications.swappable import load_notification_model


class Badges(NamedTuple):
    """The counts a frame carries as ``unread_count`` and ``unseen_count``."""

    unread_count: int
    unseen_count: int


def badges(*, user_ids: Iterable[int]) -> dict[int, Badges]:
    """Both counts of many users, in two queries."""
    user_ids = list(user_ids)
    notifications = unread_and_unseen_counts(user_ids=user_ids)
    announcements = unread_announcement_counts(user_ids=user_ids)
    return {
        uid: Badges(notifications[uid][0] + announcements[uid], notifications[uid][1] + announcements[uid])
        for uid in user_ids
    }


def badges_and_groups(rows: list[Row]) -> tuple[dict[int, Badges], dict[int, dict[str, Any]]]:
    """The badges of the rows' recipients and each row's group, in one trip
    to the database thread."""
    return badges(user_ids={row.recipient_id for row in rows}), groups_of(rows)


def badge_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    return {uid: counts.unread_count for uid, counts in badges(user_ids=user_ids).items()}


def badge_count(*, user: Any) -> int:
    return badge_counts(user_ids=[user.pk])[user.pk]


def hello_snapshot(*, user: Any) -> dict[str, Any]:
    """Everything a socket needs once it has joined its groups, in one trip
    to the database thread: the user's audience, the newest id, the unread
    live announcements and the badge count (which counts them)."""
    audience = audience_of(user=user)
    announcements = announcements_for(user=user, audience=audience)
    counts = unread_and_unseen_counts(user_ids=[user.pk])[user.pk]
    return _snapshot(audience, counts, newest_id(user=user), announcements)


def _snapshot(
    audience: dict[str, Any], counts: tuple[int, int], last_id: int | None, announcements: list[Any]
) -> dict[str, Any]:
    """A hello snapshot: the badge counts count the unread announcements."""
    return {
        "audience": audience,
        **Badges(*(n + len(announcements) for n in counts))._asdict(),
        "last_id": last_id,
        "announcements": [announcement_payload(a) for a in announcements],
    }


def hello_snapshots(users: list[Any]) -> list[dict[str, Any]]:
    """``hello_snapshot`` of each of ``users``, in five queries whatever
    their number (and two a user more while an announcement is live): the
    handshakes of a connect storm that wait together take theirs together."""
    if len(users) == 1:
        return [hello_snapshot(user=users[0])]
    user_ids = [user.pk for user in users]
    audiences = audiences_of(user_ids=user_ids)
    counts = unread_and_unseen_counts(user_ids=user_ids)
    newest = _newest_ids(user_ids)
    live = announcements_enabled() and any_live()
    return [
        _snapshot(
            audiences[user.pk],
            counts[user.pk],
            newest.get(user.pk),
            announcements_for(user=user, audience=audiences[user.pk]) if live else [],
        )
        for user in users
    ]


def newest_id(*, user: Any) -> int | None:
    """The id of the user's newest notification, in a query compiled once
    unless a queryset filter is registered (it may change per call)."""
    if has_queryset_filters():
        return notifications_of(user=user).aggregate(last_id=Max("id"))["last_id"]
    rows = _newest.rows(user.pk)
    return rows[0][0] if rows else None


_newest = PreparedQuery.by_id(
    lambda user_id: notifications_of(user=user_id).order_by("-id").values_list("id")[:1],
    key=lambda: (load_notification_model(), conf.soft_delete),
)


def heartbeat_snapshots(*, user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Each user's newest id and badge count, in a few grouped queries."""
    user_ids = list(user_ids)
    newest = _newest_ids(user_ids)
    counts = badges(user_ids=user_ids)
    return {uid: {"last_id": newest.get(uid), **counts[uid]._asdict()} for uid in user_ids}


def _newest_ids(user_ids: list[int]) -> dict[int, int]:
    """The newest notification id of each user who has one, in one query."""
    queryset = notifications_of(user_ids=user_ids).order_by().values("recipient_id").annotate(m=Max("id"))
    return dict(queryset.values_list("recipient_id", "m"))


def newest_activity(*, announced_after: Any = None) -> dict[str, Any]:
    """What server processes on a process-local layer watch for: the newest
    notification id of anyone, and the announcements published after
    ``announced_after`` (all of them when it is None), oldest first."""
    last_id = load_notification_model().objects.aggregate(last_id=Max("id"))["last_id"]
    published = Announcement.objects.filter(published_at__isnull=False)
    if announced_after is not None:
        published = published.filter(published_at__gt=announced_after)
    return {"last_id": last_id, "announcements": list(published.order_by("published_at", "id"))}
