"""Reads for announcements: who is in an audience, what a user has not read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Exists, OuterRef, prefetch_related_objects
from django.utils import timezone

from notifications import users
from notifications.models import Announcement, AnnouncementRead, Audience, announcements_enabled
from notifications.selectors.prepared import PreparedQuery, as_datetime, stand_in_datetime

_json = DjangoJSONEncoder()


def audience_of(*, user: Any) -> dict[str, Any]:
    """What decides which announcements a user gets, read fresh from the
    database (a socket captures it at connect, and re-reads it on change),
    in two queries compiled once: every socket's hello reads it."""
    if users.staff_column():
        staff = any(is_staff for (is_staff,) in _is_staff.rows(user.pk))
    else:
        staff = bool(getattr(user, "is_staff", False))
    groups = sorted(group_id for (group_id,) in _group_ids.rows(user.pk)) if users.groups_field() else []
    return {"staff": bool(staff), "groups": groups}


def _memberships(user_id: Any) -> Any:
    field = users.groups_field()
    return field.remote_field.through._default_manager.filter(**{field.m2m_field_name(): user_id}).values_list(
        f"{field.m2m_reverse_field_name()}_id"
    )


_is_staff = PreparedQuery.by_id(
    lambda user_id: get_user_model()._default_manager.filter(pk=user_id).values_list("is_staff"),
    key=lambda: (get_user_model(),),
)
_group_ids = PreparedQuery.by_id(_memberships, key=lambda: (get_user_model(),))


def audiences_of(*, user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``audience_of`` of many users, in two queries."""
    user_ids = list(user_ids)
    staff = users.staff_ids(user_ids=user_ids)
    groups = users.group_ids_of(user_ids=user_ids)
    return {user_id: {"staff": user_id in staff, "groups": sorted(groups.get(user_id, []))} for user_id in user_ids}


def audience_spec(announcement: Announcement) -> dict[str, Any]:
    return {"kind": announcement.audience, "groups": sorted(g.pk for g in announcement.groups.all())}


def in_audience(spec: dict[str, Any], audience: dict[str, Any]) -> bool:
    if spec["kind"] == Audience.EVERYONE:
        return True
    if spec["kind"] == Audience.STAFF:
        return bool(audience["staff"])
    return bool(set(spec["groups"]) & set(audience["groups"]))


def announcement_payload(announcement: Announcement) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return None if value is None else _json.default(value)

    return {
        "id": announcement.pk,
        "title": announcement.title,
        "body": announcement.body,
        "level": announcement.level,
        "published_at": when(announcement.published_at),
        "expires_at": when(announcement.expires_at),
    }


_live_ids = PreparedQuery(
    lambda now: Announcement.objects.live(now).order_by().values_list("pk")[:1],
    stand_ins=lambda: (stand_in_datetime(),),
    adapt=(as_datetime,),
)


def any_live() -> bool:
    """Whether some announcement is live, in a query compiled once: every
    push's badge count and every socket's hello ask, and the answer is
    almost always no."""
    return bool(_live_ids.rows(timezone.now()))


def announcements_for(
    *, user: Any, unread_only: bool = True, with_read_state: bool = False, audience: dict[str, Any] | None = None
) -> list[Announcement]:
    """The live announcements of the user's audience, newest first. With
    ``with_read_state`` each one has ``unread`` set, from the same query.
    Pass ``audience`` when the caller already read it."""
    if not announcements_enabled():
        return []
    # Every socket's hello asks; most of the time nothing is live, and this
    # check is much cheaper than building the audience query.
    if not any_live():
        return []
    live = Announcement.objects.live()
    audience = audience or audience_of(user=user)
    queryset = live.for_audience(is_staff=audience["staff"], group_ids=audience["groups"])
    if unread_only:
        queryset = queryset.exclude(reads__user=user)
    if with_read_state:
        read = AnnouncementRead.objects.filter(user=user, announcement=OuterRef("pk"))
        queryset = queryset.annotate(unread=~Exists(read))
    return list(queryset.order_by("-published_at", "-id"))


def unread_announcement_counts(*, user_ids: Iterable[int]) -> dict[int, int]:
    """Unread live announcements per user, in four queries for any number of users."""
    user_ids = list(user_ids)
    counts = dict.fromkeys(user_ids, 0)
    if not announcements_enabled() or not user_ids or not any_live():
        return counts
    live = list(Announcement.objects.live())
    if not live:
        return counts
    # Prefetched only when there are some: an empty prefetch_related still
    # costs a third of this query, and a personal push pays it.
    prefetch_related_objects(live, "groups")
    audiences = audiences_of(user_ids=user_ids)
    read = set(
        AnnouncementRead.objects.filter(user_id__in=user_ids, announcement__in=live).values_list(
            "user_id", "announcement_id"
        )
    )
    specs = [(a.pk, audience_spec(a)) for a in live]
    for user_id in user_ids:
        audience = audiences[user_id]
        counts[user_id] = sum(1 for pk, spec in specs if (user_id, pk) not in read and in_audience(spec, audience))
    return counts
