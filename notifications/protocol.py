"""Protocol v1 of /ws/notifications/: the only code that knows the wire format.

Server frames are built here; client frames are validated here. Group names
live here too. docs/protocol.md describes the frames. It imports only the
wire (realtime.wire), so selectors and services that use it load without the
server (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from notifications.realtime.frames import encoded_size, frame_id, item_budget
from notifications.realtime.wire import ErrorCode, FrameError

VERSION = 1

USER_GROUP_PREFIX = "notifications.user."


def user_group(user_id: int) -> str:
    """Every notifications socket of one user, in every process."""
    return f"{USER_GROUP_PREFIX}{user_id}"


# Every notifications socket; each one filters announcements by its audience.
ANNOUNCEMENTS_GROUP = "notifications.announcements"

# A bulk send's rows, sent to every hub (delivery, jobs.push_created).
CREATED_EVENT = "notifications.created"


def user_id_of(group: str) -> str | None:
    """The text of the user's primary key in a ``user_group`` name
    (``notifications.users.pk_from_text`` makes it a key again)."""
    if group.startswith(USER_GROUP_PREFIX):
        return group[len(USER_GROUP_PREFIX) :]
    return None


# Server frames --------------------------------------------------------------------


def _with_unseen(frame: dict[str, Any], unseen_count: int | None) -> dict[str, Any]:
    """``unseen_count`` is optional on the wire: old clients ignore it."""
    if unseen_count is not None:
        frame["unseen_count"] = unseen_count
    return frame


def hello(
    *,
    user_id: int,
    unread_count: int,
    unseen_count: int | None = None,
    last_id: int | None,
    heartbeat: int,
    announcements: list[dict[str, Any]],
    server_time: str,
) -> dict[str, Any]:
    frame = {
        "type": "hello",
        "version": VERSION,
        "user": user_id,
        "unread_count": unread_count,
        "last_id": last_id,
        "heartbeat": heartbeat,
        "announcements": announcements,
        "server_time": server_time,
    }
    return _with_unseen(frame, unseen_count)


def announcement(*, payload: dict[str, Any], counted: bool = False) -> dict[str, Any]:
    """``counted``: one of the hello's announcements that did not fit in it,
    already in the hello's counts."""
    frame: dict[str, Any] = {"type": "announcement", "announcement": payload}
    if counted:
        frame["counted"] = True
    return frame


def dismissed(*, announcement_id: int, unread_count: int, unseen_count: int | None = None) -> dict[str, Any]:
    frame = {"type": "dismissed", "announcement": announcement_id, "unread_count": unread_count}
    return _with_unseen(frame, unseen_count)


def notification(
    *,
    payload: dict[str, Any],
    unread_count: int,
    unseen_count: int | None = None,
    group: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``group``: the entry the row belongs to, ``{key, count, actors,
    latest_id}`` (selectors.group_object)."""
    frame = {"type": "notification", "notification": payload, "unread_count": unread_count}
    if group is not None:
        frame["group"] = group
    return _with_unseen(frame, unseen_count)


# A notification too big for one frame travels as these keys, each text cut
# to STUB_TEXT characters, and ``"truncated": true``; the client fetches the
# whole object over HTTP (``get`` on the frames endpoint, docs/protocol.md).
STUB_KEYS = (
    "id",
    "slug",
    "level",
    "unread",
    "verb",
    "timestamp",
    "public",
    "deleted",
    "emailed",
    "actor",
    "target",
    "action_object",
)
STUB_TEXT = 200


def fitted(payload: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``payload``, or its stub when it would take more than an item's share
    of a frame of ``max_bytes`` (a 50 KiB description, say)."""
    if encoded_size(payload) <= item_budget(max_bytes):
        return payload
    stub = {
        key: (value[:STUB_TEXT] if isinstance(value, str) else value)
        for key in STUB_KEYS
        if (value := payload.get(key)) is not None
    }
    stub["truncated"] = True
    return stub


def item(*, payload: dict[str, Any]) -> dict[str, Any]:
    """The answer to ``get``: a whole notification, with its ``group``."""
    return {"type": "item", "notification": payload}


def seen(*, up_to: int, unseen_count: int) -> dict[str, Any]:
    """The user had everything up to ``up_to`` in view, in some tab."""
    return {"type": "seen", "up_to": up_to, "unseen_count": unseen_count}


def sync(
    *,
    notifications: list[dict[str, Any]],
    complete: bool,
    last_id: int | None,
    recent: list[int] | None = None,
    more: bool = False,
) -> dict[str, Any]:
    """``recent``: the ids at or below the cursor created within the overlap
    window (a late commit among them may be missing). ``more``: the page was
    cut to fit one frame; the client syncs again after the highest id it
    now has."""
    frame = {"type": "sync", "notifications": notifications, "complete": complete, "last_id": last_id}
    if recent is not None:
        frame["recent"] = recent
    if more:
        frame["more"] = True
    return frame


def changed(kind: str, *, ids: list[int] | None, unread_count: int, unseen_count: int | None = None) -> dict[str, Any]:
    """``read``, ``unread`` or ``deleted``; ``ids=None`` means all of them."""
    frame: dict[str, Any] = {"type": kind, "unread_count": unread_count}
    if ids is None:
        frame["all"] = True
    else:
        frame["ids"] = ids
    return _with_unseen(frame, unseen_count)


def heartbeat(*, last_id: int | None, unread_count: int, unseen_count: int | None = None) -> dict[str, Any]:
    return _with_unseen({"type": "heartbeat", "last_id": last_id, "unread_count": unread_count}, unseen_count)


def preferences(*, preferences: dict[str, Any]) -> dict[str, Any]:
    """The user's delivery preferences changed (in another tab or the admin)."""
    return {"type": "preferences", "preferences": preferences}


PONG = {"type": "pong"}


# Client frames ---------------------------------------------------------------------


def notification_id(frame: dict[str, Any], field: str = "id") -> int:
    """A required id field (``id`` unless ``field`` says otherwise)."""
    return frame_id(frame, field)


def announcement_id(frame: dict[str, Any]) -> int:
    return frame_id(frame, "announcement")


def up_to(frame: dict[str, Any]) -> int:
    """``up_to`` of a mark_seen frame: the newest id the user has in view."""
    return frame_id(frame, "up_to")


def whole_group(frame: dict[str, Any]) -> bool:
    """``group`` of a mark_read frame: true marks every row of the id's group."""
    value = frame.get("group", False)
    if not isinstance(value, bool):
        raise FrameError(ErrorCode.BAD_FIELD, "'group' must be true or false.")
    return value


def sync_after(frame: dict[str, Any]) -> int | None:
    """``after`` of a sync frame: the last id the client has, or null for all."""
    if frame.get("after") is None:
        return None
    return frame_id(frame, "after")
