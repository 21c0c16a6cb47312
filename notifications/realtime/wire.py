"""Wire-level definitions: what every socket's frames and close codes
carry, the error a refused client frame raises, the control group, and the
names that publishers and hubs agree on over the channel layer.

The bottom of the real-time layering (docs/architecture.md): this module
and ``frames`` import nothing of the server, so the apps' ``protocol``
modules, and the selectors and services that use them, can import these
without pulling in the consumer, the hub or Channels.
"""

from __future__ import annotations


class CloseCode:
    NOT_LOGGED_IN = 4401
    FORBIDDEN = 4403
    SESSION_ENDED = 4408
    RATE_LIMITED = 4429
    BAD_FRAMES = 4400
    TOO_LARGE = 1009
    # For a server that refuses to send 1009 from the application (daphne
    # without realtime.daphne_compat applied).
    TOO_LARGE_FALLBACK = 4409
    # No channel layer (CHANNEL_LAYERS unset): nothing can be pushed. The
    # bundled client goes on over HTTP.
    UNAVAILABLE = 4503


class ErrorCode:
    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    BINARY = "binary_not_supported"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"


class FrameError(Exception):
    """A client frame that is refused with an ``error`` frame."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def wire_key(pk: object) -> object:
    """A primary key as frames and channel-layer events carry it: an integer
    as it is, anything else (a site's UUID user keys) as text, which JSON and
    channels-redis's msgpack both take."""
    return pk if isinstance(pk, int) else str(pk)


CONTROL_GROUP_PREFIX = "realtime.user."


def control_group(user_id: int) -> str:
    """Every socket of a user, in any app, for revocation."""
    return f"{CONTROL_GROUP_PREFIX}{user_id}"


# Every hub is in this group; publish.apublish sends multicast chunks to it.
MULTICAST_GROUP = "realtime.hubs"
MULTICAST = "hub.multicast"
# How often a hub on channels-redis checks that no Redis host of the layer
# lost its data (and re-adds its groups there); publishers that retry wait
# for it.
WATCH_SECONDS = 1.0
