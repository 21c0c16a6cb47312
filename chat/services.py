"""Every chat write: rooms, messages, read positions and presence."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from chat import delivery, selectors
from chat.conf import conf
from chat.models import Message, Presence, ReadPosition, Room


class RoomNotFound(Exception):
    """The room does not exist, or the user may not use it."""


def room_create(
    *,
    name: str,
    slug: str,
    created_by: Any = None,
    is_private: bool = False,
    members: Iterable[Any] = (),
    creator_is_member: bool = True,
) -> Room:
    """Create a room. A private room's creator is a member unless
    ``creator_is_member`` is False (staff creating a room for others).
    Raises ValidationError for a bad or taken slug or name."""
    room = Room(name=name, slug=slug, is_private=is_private, created_by=created_by)
    room.full_clean()
    with transaction.atomic():
        room.save()
        members = set(members)
        if is_private and created_by is not None and creator_is_member:
            members.add(created_by)
        if members:
            # A private room appears in its members' lists through the
            # membership receiver, wherever members are added from.
            room.members.add(*members)
        if not is_private:
            delivery.room_added(room, member_ids=[])
    return room


def message_post(*, room: Room, author: Any, body: str, client_id: str) -> tuple[Message, bool]:
    """Store a message; returns (message, created). A resend with a
    ``client_id`` the author already used in this room returns the stored
    message and stores nothing."""
    if not selectors.can_use(user=author, room=room):
        raise RoomNotFound
    if not body.strip() or len(body) > conf.max_message_length:
        raise ValidationError(f"A message must be 1 to {conf.max_message_length} characters.", code="body")
    existing = Message.objects.filter(room=room, author=author, client_id=client_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            # The room's row lock makes posts to one room commit in id order,
            # and keeps last_message the newest.
            locked = Room.objects.select_for_update().get(pk=room.pk)
            message = Message.objects.create(room=locked, author=author, body=body, client_id=client_id)
            Room.objects.filter(pk=room.pk).update(last_message=message)
            delivery.message_posted(message)
    except IntegrityError:
        # The same client_id raced in from another socket of this user.
        return Message.objects.get(room=room, author=author, client_id=client_id), False
    return message, True


def read_mark(*, room: Room, user: Any, last_id: int) -> tuple[int, int]:
    """Move the user's read position in the room forward to ``last_id``
    (never back, never past the newest message). Returns (position, unread)."""
    if not selectors.can_use(user=user, room=room):
        raise RoomNotFound
    newest = Message.objects.filter(room=room).aggregate(newest=Max("id"))["newest"] or 0
    target = min(last_id, newest)
    with transaction.atomic():
        position, _ = ReadPosition.objects.select_for_update().get_or_create(room=room, user=user)
        if target > position.last_read_id:
            position.last_read_id = target
            position.save(update_fields=["last_read_id"])
        unread = selectors.unread_count(room=room, user=user, last_read_id=position.last_read_id)
        delivery.read_moved(room, user_id=user.pk, last_read_id=position.last_read_id, unread_count=unread)
    return position.last_read_id, unread


# Presence --------------------------------------------------------------------------


def _online(room_id: int, user_id: int, now: Any) -> bool:
    fresh = now - timedelta(seconds=conf.presence_timeout_seconds)
    return Presence.objects.filter(room_id=room_id, user_id=user_id, seen_at__gte=fresh).exists()


def presence_enter(*, room: Room, user: Any, connection: str) -> bool:
    """Record an open socket; True when the user just came online in the room."""
    now = timezone.now()
    was_online = _online(room.pk, user.pk, now)
    Presence.objects.create(room=room, user=user, connection=connection, seen_at=now)
    return not was_online


def presence_leave(*, connection: str) -> tuple[int, int] | None:
    """Forget a closed socket. Returns (room id, user id) when that user has
    no other socket in the room, i.e. just went offline."""
    entry = Presence.objects.filter(connection=connection).first()
    if entry is None:
        return None
    entry.delete()
    if _online(entry.room_id, entry.user_id, timezone.now()):
        return None
    return entry.room_id, entry.user_id


def presence_refresh(*, connections: list[str]) -> None:
    """Mark a server's open sockets as still there (one query per server)."""
    if connections:
        Presence.objects.filter(connection__in=connections).update(seen_at=timezone.now())


def presence_expire() -> list[tuple[int, int]]:
    """Drop entries no server has refreshed in time (their server died).
    Returns the (room id, user id) pairs that went offline."""
    now = timezone.now()
    stale = Presence.objects.filter(seen_at__lt=now - timedelta(seconds=conf.presence_timeout_seconds))
    pairs = set(stale.values_list("room_id", "user_id"))
    if not pairs:
        return []
    stale.delete()
    return [(room_id, user_id) for room_id, user_id in sorted(pairs) if not _online(room_id, user_id, now)]
