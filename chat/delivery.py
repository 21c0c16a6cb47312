"""Pushing chat changes to sockets: the only chat code that talks to the
channel layer. Stored changes go out from ``transaction.on_commit``, so a
rolled-back message never reaches a socket; presence and typing, which are
not stored as messages, go out from the consumer's loop."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from chat import protocol, selectors
from chat.conf import conf
from notifications.realtime.publish import Event, apublish, publish
from notifications.realtime.wire import wire_key


def _frame(group: str, frame: dict[str, Any]) -> Event:
    return (group, {"type": "chat.frame", "frame": frame})


def message_posted(message: Any) -> None:
    """After commit, send the message to every socket showing its room."""
    limit = conf.socket_limits().max_frame_bytes
    frame = protocol.message(payload=protocol.fitted_message(selectors.message_payload(message), limit))
    transaction.on_commit(lambda: publish([_frame(protocol.room_group(message.room_id), frame)]), robust=True)


def read_moved(room: Any, *, user_id: int, last_read_id: int, unread_count: int) -> None:
    """After commit, tell the user's room lists (every tab) the new unread count."""
    frame = protocol.read(room=room.slug, last_read_id=last_read_id, unread_count=unread_count)
    transaction.on_commit(lambda: publish([_frame(protocol.user_group(user_id), frame)]), robust=True)


def room_added(room: Any, *, member_ids: list[int]) -> None:
    """After commit, show a new room in the lists of those who may see it."""
    payload = selectors.room_payload(room)
    event = {"type": "chat.room_added", "room_id": room.pk, "payload": payload}
    groups = [protocol.user_group(uid) for uid in member_ids] if room.is_private else [protocol.ROOMS_GROUP]
    transaction.on_commit(lambda: publish([(group, event) for group in groups]), robust=True)


def access_removed(room: Any, *, user_ids: list[int] | None) -> None:
    """After commit, close the room sockets of users who may no longer use
    the room (``None``: everyone who is not a member)."""
    wire_ids = None if user_ids is None else [wire_key(pk) for pk in user_ids]
    event = {"type": "chat.access_removed", "room": room.slug, "user_ids": wire_ids}
    transaction.on_commit(lambda: publish([(protocol.room_group(room.pk), event)]), robust=True)


# Presence and typing frames are stale when late: a failed send is not retried.
async def presence_changed(room_id: int, frame: dict[str, Any]) -> None:
    await apublish([_frame(protocol.room_group(room_id), frame)], retry=False)


async def typing(room_id: int, who: dict[str, Any]) -> None:
    await apublish([_frame(protocol.room_group(room_id), protocol.typing(who=who))], retry=False)
