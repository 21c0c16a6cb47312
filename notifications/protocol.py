"""Protocol v1 of /ws/notifications/: the only code that knows the wire format.

Server frames are built here; client frames are validated here. Group names
live here too. docs/protocol.md describes the frames.
"""

from __future__ import annotations

from typing import Any

from notifications.realtime.consumer import ErrorCode, FrameError

VERSION = 1
MAX_ID = 2**63 - 1

USER_GROUP_PREFIX = "notifications.user."


def user_group(user_id: int) -> str:
    """Every notifications socket of one user, in every process."""
    return f"{USER_GROUP_PREFIX}{user_id}"


# Every notifications socket; each one filters announcements by its audience.
ANNOUNCEMENTS_GROUP = "notifications.announcements"

# A bulk send's rows, sent to every hub (delivery, consumers.push_created).
CREATED_EVENT = "notifications.created"


def user_id_of(group: str) -> int | None:
    if group.startswith(USER_GROUP_PREFIX):
        return int(group[len(USER_GROUP_PREFIX) :])
    return None


# Server frames --------------------------------------------------------------------


def hello(
    *,
    user_id: int,
    unread_count: int,
    last_id: int | None,
    heartbeat: int,
    announcements: list[dict[str, Any]],
    server_time: str,
) -> dict[str, Any]:
    return {
        "type": "hello",
        "version": VERSION,
        "user": user_id,
        "unread_count": unread_count,
        "last_id": last_id,
        "heartbeat": heartbeat,
        "announcements": announcements,
        "server_time": server_time,
    }


def announcement(*, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": "announcement", "announcement": payload}


def dismissed(*, announcement_id: int, unread_count: int) -> dict[str, Any]:
    return {"type": "dismissed", "announcement": announcement_id, "unread_count": unread_count}


def notification(*, payload: dict[str, Any], unread_count: int) -> dict[str, Any]:
    return {"type": "notification", "notification": payload, "unread_count": unread_count}


def sync(*, notifications: list[dict[str, Any]], complete: bool, last_id: int | None) -> dict[str, Any]:
    return {"type": "sync", "notifications": notifications, "complete": complete, "last_id": last_id}


def changed(kind: str, *, ids: list[int] | None, unread_count: int) -> dict[str, Any]:
    """``read``, ``unread`` or ``deleted``; ``ids=None`` means all of them."""
    frame: dict[str, Any] = {"type": kind, "unread_count": unread_count}
    if ids is None:
        frame["all"] = True
    else:
        frame["ids"] = ids
    return frame


def heartbeat(*, last_id: int | None, unread_count: int) -> dict[str, Any]:
    return {"type": "heartbeat", "last_id": last_id, "unread_count": unread_count}


PONG = {"type": "pong"}


# Client frames ---------------------------------------------------------------------


def notification_id(frame: dict[str, Any], field: str = "id") -> int:
    """A required id field: an integer in the id range, not a bool or a float."""
    value = frame.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise FrameError(ErrorCode.BAD_FIELD, f"'{field}' must be an id (an integer).")
    return value


def announcement_id(frame: dict[str, Any]) -> int:
    return notification_id(frame, "announcement")


def sync_after(frame: dict[str, Any]) -> int | None:
    """``after`` of a sync frame: the last id the client has, or null for all."""
    if frame.get("after") is None:
        return None
    return notification_id(frame, "after")
