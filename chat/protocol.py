"""Protocol v1 of /ws/chat/<room>/ and /ws/chat/: the only chat code that
knows the wire format. Server frames are built here, client frames are
validated here, and group names live here. docs/chat.md describes the frames.
It imports only the wire (notifications.realtime.wire), as in docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

from notifications.realtime.frames import ENVELOPE_BYTES, encoded_size, frame_id, item_budget
from notifications.realtime.wire import ErrorCode, FrameError, wire_key

VERSION = 1
MAX_CLIENT_ID = 64

ROOM_GROUP_PREFIX = "chat.room."


def room_group(room_id: int) -> str:
    """Every socket showing one room (its page, and members' room lists)."""
    return f"{ROOM_GROUP_PREFIX}{room_id}"


def user_group(user_id: int) -> str:
    """Every room-list socket of one user: read positions, rooms added."""
    return f"chat.user.{user_id}"


# Every room-list socket: new public rooms.
ROOMS_GROUP = "chat.rooms"


# Server frames --------------------------------------------------------------------


# A room list shows this much of each room's last message.
PREVIEW_LENGTH = 200


def fitted_message(payload: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """A message over an item's share of a frame of ``max_bytes`` (one stored
    by other means than a socket, the admin, say) with its body cut to fit,
    and ``"truncated": true``."""
    over = encoded_size(payload) - item_budget(max_bytes)
    if over <= 0:
        return payload
    body = payload["body"].encode()[: max(0, len(payload["body"].encode()) - over)].decode(errors="ignore")
    return {**payload, "body": body, "truncated": True}


def user(*, user_id: Any, username: str) -> dict[str, Any]:
    return {"id": wire_key(user_id), "username": username}


def history(*, messages: list[dict[str, Any]], has_more: bool, before: int | None) -> dict[str, Any]:
    """``before`` is null for the page sent on join, else the client's cursor."""
    return {"type": "history", "messages": messages, "has_more": has_more, "before": before}


def message(*, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "message": payload}


def presence(*, online: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "presence", "online": online}


def joined(*, who: dict[str, Any]) -> dict[str, Any]:
    return {"type": "join", "user": who}


def left(*, who: dict[str, Any]) -> dict[str, Any]:
    return {"type": "leave", "user": who}


def typing(*, who: dict[str, Any]) -> dict[str, Any]:
    return {"type": "typing", "user": who}


def read(*, room: str, last_read_id: int, unread_count: int) -> dict[str, Any]:
    return {"type": "read", "room": room, "last_read_id": last_read_id, "unread_count": unread_count}


def rooms(*, rooms: list[dict[str, Any]], user_id: int) -> dict[str, Any]:
    return {"type": "rooms", "version": VERSION, "user": wire_key(user_id), "rooms": rooms}


def room(*, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "room", "room": payload}


def room_removed(*, slug: str) -> dict[str, Any]:
    return {"type": "room_removed", "room": slug}


PONG = {"type": "pong"}


# Client frames ---------------------------------------------------------------------


def message_id(frame: dict[str, Any], field: str) -> int:
    """A required message id field (``before``, ``last_id``)."""
    return frame_id(frame, field, what="a message id")


def message_body(frame: dict[str, Any], *, max_length: int, max_bytes: int) -> str:
    """The body of a ``message`` frame: at most ``max_length`` characters,
    and small enough that the message frame sent back fits ``max_bytes``."""
    body = frame.get("body")
    if not isinstance(body, str) or not body.strip():
        raise FrameError(ErrorCode.BAD_FIELD, "'body' must be non-empty text.")
    if len(body) > max_length:
        raise FrameError(ErrorCode.BAD_FIELD, f"'body' is longer than {max_length} characters.")
    if len(body.encode()) > item_budget(max_bytes) - ENVELOPE_BYTES:
        raise FrameError(ErrorCode.BAD_FIELD, f"'body' is longer than {item_budget(max_bytes) - ENVELOPE_BYTES} bytes.")
    return body


def client_id(frame: dict[str, Any]) -> str:
    value = frame.get("client_id")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CLIENT_ID:
        raise FrameError(ErrorCode.BAD_FIELD, f"'client_id' must be a string of 1 to {MAX_CLIENT_ID} characters.")
    return value
