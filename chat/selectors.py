"""Every read that serves a chat page or socket."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat import protocol
from chat.conf import conf
from chat.models import Message, Presence, ReadPosition, Room
from notifications.realtime.frames import ENVELOPE_BYTES, fitting

# "@name": what get_username() gives, so Django usernames (letters, digits
# and @.+-_) and, on a site that logs in by email, "@ann@example.com". A
# trailing dot ends a sentence, not a name.
MENTION = re.compile(r"(?<![\w@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")


def rooms_visible_to(*, user: Any) -> QuerySet[Room]:
    """Public rooms, and the private rooms the user is a member of."""
    return Room.objects.filter(Q(is_private=False) | Q(members=user)).distinct()


def room_for_user(*, user: Any, slug: str) -> Room | None:
    """The room, or None when it does not exist or the user may not see it
    (the two are indistinguishable on purpose)."""
    return rooms_visible_to(user=user).filter(slug=slug).first()


def room_ids_visible_to(*, user: Any) -> list[int]:
    return list(rooms_visible_to(user=user).values_list("id", flat=True))


def can_use(*, user: Any, room: Room) -> bool:
    return not room.is_private or room.members.filter(pk=user.pk).exists()


def _author(message: Message) -> dict[str, Any]:
    return protocol.user(user_id=message.author_id, username=message.author.get_username())


def message_payload(message: Message) -> dict[str, Any]:
    """A message as the protocol sends it; ``author`` must be loaded."""
    return {
        "id": message.pk,
        "room": message.room.slug,
        "user": _author(message),
        "body": message.body,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
    }


def message_history(
    *, room: Room, before: int | None = None, limit: int | None = None, max_bytes: int | None = None
) -> dict[str, Any]:
    """The newest ``limit`` messages (older than ``before``), oldest first;
    with ``max_bytes``, only the newest of them that fit one frame (the
    client asks for the rest with ``history {before}``)."""
    limit = limit or conf.history_page_size
    messages = Message.objects.filter(room=room).select_related("author", "room").order_by("-id")
    if before is not None:
        messages = messages.filter(id__lt=before)
    page = list(messages[: limit + 1])
    has_more = len(page) > limit
    newest_first = [message_payload(m) for m in page[:limit]]
    if max_bytes is not None:
        newest_first = [protocol.fitted_message(payload, max_bytes) for payload in newest_first]
        fits = fitting(newest_first, max_bytes - ENVELOPE_BYTES)
        has_more = has_more or fits < len(newest_first)
        newest_first = newest_first[:fits]
    return {"messages": newest_first[::-1], "has_more": has_more}


def _with_unread(rooms: QuerySet[Room], user: Any) -> QuerySet[Room]:
    last_read = ReadPosition.objects.filter(room=OuterRef("pk"), user=user).values("last_read_id")[:1]
    return rooms.annotate(last_read_id=Coalesce(Subquery(last_read), Value(0))).annotate(
        unread_count=Count(
            "messages",
            filter=Q(messages__id__gt=F("last_read_id")) & ~Q(messages__author=user),
            distinct=True,
        )
    )


def room_payload(room: Room) -> dict[str, Any]:
    last = room.last_message
    return {
        "slug": room.slug,
        "name": room.name,
        "is_private": room.is_private,
        "url": room.get_absolute_url(),
        "last_message": _preview(message_payload(last)) if last is not None else None,
        "unread_count": getattr(room, "unread_count", 0),
    }


def _preview(payload: dict[str, Any]) -> dict[str, Any]:
    """A last message as a room list shows it: the start of its body."""
    if len(payload["body"]) <= protocol.PREVIEW_LENGTH:
        return payload
    return {**payload, "body": payload["body"][: protocol.PREVIEW_LENGTH], "truncated": True}


def room_list(*, user: Any) -> list[dict[str, Any]]:
    """The rooms a user can see, each with its last message and the user's
    unread count, in a fixed number of queries."""
    rooms = Room.objects.filter(pk__in=rooms_visible_to(user=user).values("pk"))
    rooms = _with_unread(rooms, user).select_related("last_message__author", "last_message__room").order_by("name")
    return [room_payload(room) for room in rooms]


def unread_count(*, room: Room, user: Any, last_read_id: int) -> int:
    return Message.objects.filter(room=room, id__gt=last_read_id).exclude(author=user).count()


def user_ref(*, user_id: int) -> dict[str, Any]:
    """A user as frames name them; a deleted user keeps the id."""
    User = get_user_model()
    user = User._default_manager.filter(pk=user_id).first()
    return protocol.user(user_id=user_id, username=user.get_username() if user is not None else "")


def online_users(*, room: Room) -> list[dict[str, Any]]:
    """Who has a socket open in the room now, by username."""
    fresh = timezone.now() - timedelta(seconds=conf.presence_timeout_seconds)
    User = get_user_model()
    user_ids = Presence.objects.filter(room=room, seen_at__gte=fresh).values("user_id")
    users = User.objects.filter(pk__in=user_ids).order_by(User.USERNAME_FIELD)
    return [protocol.user(user_id=u.pk, username=u.get_username()) for u in users]


def message_mentions(*, message: Message) -> QuerySet[Any]:
    """Active users named as ``@username`` in a message who may read its room,
    except its author."""
    names = {name.rstrip(".") for name in MENTION.findall(message.body)}
    names.discard("")
    User = get_user_model()
    if not names:
        return User.objects.none()
    users = User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names}, is_active=True).exclude(pk=message.author_id)
    if message.room.is_private:
        users = users.filter(chat_rooms=message.room)
    return users
