"""JSON encoding of frames, at the bottom of the real-time layering with
``wire`` (docs/architecture.md). orjson is ~20x faster than json.dumps, and a
broadcast frame is encoded once per process, not once per socket."""

from typing import Any

import orjson

# orjson refuses input nested deeper than this, which bounds the cost of a
# hostile frame such as 10,000 nested arrays.
JSONDecodeError = orjson.JSONDecodeError


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def decode(text: str | bytes) -> Any:
    return orjson.loads(text)
