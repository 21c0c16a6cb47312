"""JSON encoding of frames, at the bottom of the real-time layering with
``wire`` (docs/architecture.md). orjson is many times faster than
json.dumps, and a broadcast frame is encoded once per process, not once per
socket."""

from typing import Any

import orjson

from .wire import ErrorCode, FrameError

# orjson refuses input nested deeper than this, which bounds the cost of a
# hostile frame such as 10,000 nested arrays.
JSONDecodeError = orjson.JSONDecodeError


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def decode(text: str | bytes) -> Any:
    return orjson.loads(text)


# What a frame needs besides its one variable-size part (a notification, a
# page of items): its type, counts, ids, a group object.
ENVELOPE_BYTES = 1024


def item_budget(max_bytes: int) -> int:
    """The most one item of a page (a notification, a chat message) may take:
    half of a frame, less room for what travels with it (its group), so a
    page always has room for the first item after what it must replay."""
    return (max_bytes - ENVELOPE_BYTES) // 2 - ENVELOPE_BYTES


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as JSON on the wire."""
    return len(orjson.dumps(value))


def fitting(items: list[Any], budget: int) -> int:
    """How many of ``items``, from the first, fit in ``budget`` bytes as a
    JSON list: a page of a frame that a server's message limit must hold.
    autobahn applies daphne's --websocket-max-message-size to what the
    server sends too, and fails a frame over it."""
    used = 2
    for count, item in enumerate(items):
        used += encoded_size(item) + 1
        if used > budget:
            return count
    return len(items)


# The largest id a client frame may carry: a database's signed 64-bit key.
MAX_ID = 2**63 - 1


def frame_id(frame: dict[str, Any], field: str, *, what: str = "an id") -> int:
    """A required id field of a client frame, for either app's protocol: an
    integer in the id range, not a bool or a float. ``what`` names the id in
    the error frame."""
    value = frame.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise FrameError(ErrorCode.BAD_FIELD, f"'{field}' must be {what} (an integer).")
    return value
