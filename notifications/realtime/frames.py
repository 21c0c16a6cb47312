"""JSON encoding of frames, at the bottom of the real-time layering with
``wire`` (docs/architecture.md). orjson is ~20x faster than json.dumps, and a
broadcast frame is encoded once per process, not once per socket."""

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
