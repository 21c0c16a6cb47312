"""Writes for announcements: create, publish (now or scheduled), dismiss.

An announcement is one row, whatever the size of its audience. Publishing
sends one channel-layer event that every server process receives once and
fans out to its own sockets; a user's read state is a row made only when
they dismiss or read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from notifications import delivery, selectors, users
from notifications.models import (
    AbstractNotification,
    Announcement,
    AnnouncementRead,
    Audience,
    announcements_enabled,
)


class AnnouncementNotFound(Exception):
    """Not an announcement this user can see (or no such announcement)."""


# An announcement travels in one frame, which a server's message limit bounds.
MAX_BODY_LENGTH = 3000


def announcement_errors(
    *,
    title: str,
    body: str = "",
    level: str,
    audience: str,
    groups: list[Any],
    publish_at: datetime | None,
    expires_at: datetime | None,
    check_expiry_past: bool = True,
) -> dict[str, str]:
    """What is wrong with these fields, by field name (empty when valid).
    The service and the admin form share these rules."""
    errors: dict[str, str] = {}
    if not title.strip():
        errors["title"] = "An announcement needs a title."
    if len(body) > MAX_BODY_LENGTH:
        errors["body"] = f"The body is at most {MAX_BODY_LENGTH:,} characters; link to a page for more."
    if level not in AbstractNotification.LEVELS.values:
        errors["level"] = f"level must be one of {', '.join(AbstractNotification.LEVELS.values)}."
    if audience not in Audience.values:
        errors["audience"] = f"audience must be one of {', '.join(Audience.values)}."
    if audience == Audience.GROUPS and users.groups_field() is None:
        errors["audience"] = (
            f"{get_user_model()._meta.label} has no groups (no PermissionsMixin), so a group audience reaches "
            "no one: choose everyone or staff."
        )
    elif audience == Audience.GROUPS and not groups:
        errors["groups"] = "Choose at least one group for a group audience."
    if audience != Audience.GROUPS and groups:
        errors["groups"] = "Groups apply only to the 'groups' audience."
    if expires_at is not None:
        if check_expiry_past and expires_at <= timezone.now():
            errors["expires_at"] = "The expiry is already past."
        elif publish_at is not None and expires_at <= publish_at:
            errors["expires_at"] = "The expiry must come after the publication."
    return errors


def announcement_create(
    *,
    title: str,
    body: str = "",
    level: str = AbstractNotification.LEVELS.info,
    audience: str = Audience.EVERYONE,
    groups: Iterable[Group] = (),
    publish_at: datetime | None = None,
    expires_at: datetime | None = None,
    created_by: Any = None,
) -> Announcement:
    """Store an announcement: a draft without ``publish_at``, scheduled with
    one in the future, due (pushed within seconds) with one in the past."""
    groups = list(groups)
    errors = announcement_errors(
        title=title,
        body=body,
        level=level,
        audience=audience,
        groups=groups,
        publish_at=publish_at,
        expires_at=expires_at,
    )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        announcement = Announcement.objects.create(
            title=title.strip(),
            body=body,
            level=level,
            audience=audience,
            publish_at=publish_at,
            expires_at=expires_at,
            created_by=created_by,
        )
        announcement.groups.set(groups)
    return announcement


def _claim(announcement_id: int, now: datetime) -> bool:
    """Mark it published unless some process already did: an atomic update,
    so exactly one caller, in one process, pushes it."""
    claimed = Announcement.objects.filter(pk=announcement_id, published_at__isnull=True).update(
        published_at=now, publish_at=Coalesce("publish_at", now)
    )
    return claimed == 1


def announcement_publish(*, announcement: Announcement, at: datetime | None = None) -> bool:
    """Publish now, or schedule for ``at``. Returns whether it was pushed now
    (False when scheduled, or when it had already been published)."""
    now = timezone.now()
    if announcement.expires_at is not None and announcement.expires_at <= now:
        raise ValidationError({"expires_at": "The announcement has expired; change its expiry first."})
    if at is not None and at > now:
        Announcement.objects.filter(pk=announcement.pk, published_at__isnull=True).update(publish_at=at)
        announcement.refresh_from_db()
        return False
    with transaction.atomic():
        if not _claim(announcement.pk, now):
            return False
        announcement.refresh_from_db()
        delivery.announcement_published(announcement)
    return True


def announcements_publish_due(*, now: datetime | None = None) -> list[int]:
    """Claim and push every announcement whose time has come. Every server
    process runs this every few seconds; the claim makes each push happen once."""
    if not announcements_enabled():
        return []
    now = now or timezone.now()
    pushed = []
    for pk in Announcement.objects.due(now).values_list("pk", flat=True):
        with transaction.atomic():
            if _claim(pk, now):
                delivery.announcement_published(Announcement.objects.get(pk=pk))
                pushed.append(pk)
    return pushed


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '2h' or '1d' as a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if not match:
        raise ValueError(f"'{text}' is not a duration such as 90s, 30m, 2h or 1d.")
    amount, unit = int(match.group(1)), match.group(2)
    unit_name = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]
    return timedelta(**{unit_name: amount})


def announcement_dismiss(*, user: Any, announcement_id: int) -> None:
    """Record that the user read or dismissed it; every tab of theirs drops it."""
    visible = {a.pk for a in selectors.announcements_for(user=user, unread_only=False)}
    if announcement_id not in visible:
        raise AnnouncementNotFound(announcement_id)
    with transaction.atomic():
        _, created = AnnouncementRead.objects.get_or_create(announcement_id=announcement_id, user=user)
        if created:
            delivery.announcement_dismissed(user_id=user.pk, announcement_id=announcement_id)


def audience_changed(*, user_ids: Iterable[int]) -> None:
    """A user's staff flag or groups changed: open sockets re-read the audience."""
    delivery.audience_changed(user_ids=list(user_ids))
