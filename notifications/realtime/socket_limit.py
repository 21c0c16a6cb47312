"""The limits every socket is held to: the limits themselves
(``SocketLimits``, which each app's conf provides), the frame rate's token
bucket, the abuse cooldown table, and the count of a user's open sockets
across server processes, for MAX_SOCKETS_PER_USER.

With channels-redis, each socket is an entry in a Redis sorted set per user
and consumer kind, scored by when it expires. A server adds an entry at
connect, removes it at disconnect, and pushes back the expiry of its live
entries every third of ENTRY_SECONDS, so a killed server's entries vanish
within ENTRY_SECONDS. A socket is admitted when, with its own entry added,
the set holds at most the limit; otherwise its entry is removed again. Two
sockets racing for the last place may both be refused, never both admitted.

Other layers (the in-memory one serves a single process) have no shared
store; the consumer's count of the process's own sockets is then exact.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import redis_store
from .wire import CONTROL_GROUP_PREFIX

if TYPE_CHECKING:
    from .hub import Hub

logger = logging.getLogger("notifications.realtime")

ENTRY_SECONDS = 90.0


@dataclass(frozen=True)
class SocketLimits:
    """What one socket may do; an app's conf builds these from its setting."""

    max_frame_bytes: int = 16 * 1024
    frames_per_second: float = 20.0
    frame_burst: float = 40.0
    # Refused frames (rate-limited or invalid) tolerated before closing.
    max_strikes: int = 50
    # Open sockets of one consumer class per user, across processes when the
    # layer is channels-redis; one more is closed with 4429.
    max_sockets_per_user: int = 20
    # After a socket is closed for abuse, the same user's next handshakes in
    # this process wait until this many seconds have passed since the close,
    # so a client that reconnects in a loop floods a small share of the time.
    abuse_cooldown_seconds: float = 3.0


class TokenBucket:
    def __init__(self, rate: float, burst: float):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# Users whose socket this process closed for abuse (a flood or bad frames),
# keyed by (consumer kind, user id), with the monotonic time their cooldown
# ends. Per process: a flooder behind a load balancer is slowed on each.
_cooldowns: dict[tuple[str, Any], float] = {}
# daphne drops a handshake still pending after websocket_handshake_timeout
# (5 s by default), so a cooldown never holds one longer than this.
MAX_HANDSHAKE_HOLD_SECONDS = 4.5


def cooldown_hold(kind: str, user_id: Any) -> float:
    """How long to hold this user's handshake: 0 unless they are cooling down."""
    key = (kind, user_id)
    until = _cooldowns.get(key)
    if until is None:
        return 0.0
    remaining = until - time.monotonic()
    if remaining <= 0:
        _cooldowns.pop(key, None)
        return 0.0
    return min(remaining, MAX_HANDSHAKE_HOLD_SECONDS)


def cooldown_start(kind: str, user_id: Any, seconds: float) -> None:
    if seconds <= 0:
        return
    now = time.monotonic()
    if len(_cooldowns) >= 1000:  # keep the table small: drop the expired
        for key, until in list(_cooldowns.items()):
            if until <= now:
                del _cooldowns[key]
    _cooldowns[(kind, user_id)] = now + seconds


def cooldowns_forget() -> None:
    """Forget every cooldown of this process (tests whose users reuse ids)."""
    _cooldowns.clear()


def _key(layer: Any, kind: str, user_id: int) -> str:
    return f"{layer.prefix}:realtime.sockets:{kind}:{user_id}"


async def admit(layer: Any, *, kind: str, user_id: int, socket_id: str, limit: int) -> bool:
    """Record the socket; False when the user already has ``limit`` open.
    A Redis failure admits the socket: the limit is a guard, not a reason to
    refuse everyone while Redis is down."""
    if not redis_store.is_channels_redis(layer):
        return True
    key = _key(layer, kind, user_id)
    now = time.time()
    try:
        redis = layer.connection(layer.consistent_hash(key))
        expiry = int(ENTRY_SECONDS) + 1
        return bool(await redis.eval(ADMIT, 1, key, now, socket_id, now + ENTRY_SECONDS, expiry, limit))
    except Exception as exc:
        logger.warning("could not count sockets of user %s: %r", user_id, exc)
    return True


# One call a handshake (a MULTI pipeline of four commands spends a connect
# storm's CPU on encoding and parsing): drop the expired entries, add this
# socket, count, and take it out again over the limit.
# KEYS[1] the user's set; ARGV now, socket id, its expiry, the set's TTL, limit.
ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if count > tonumber(ARGV[5]) then
    redis.call('ZREM', KEYS[1], ARGV[2])
    return 0
end
return 1
"""


async def release(layer: Any, *, kind: str, user_id: int, socket_id: str) -> None:
    if not redis_store.is_channels_redis(layer):
        return
    key = _key(layer, kind, user_id)
    try:
        await layer.connection(layer.consistent_hash(key)).zrem(key, socket_id)
    except Exception as exc:
        logger.warning("could not release a socket of user %s: %r", user_id, exc)


async def keep_alive(layer: Any, entries: list[tuple[str, int, str]]) -> None:
    """Push back the expiry of this server's live sockets: (kind, user id, socket id)."""
    if not redis_store.is_channels_redis(layer) or not entries:
        return
    expires = time.time() + ENTRY_SECONDS
    by_key: dict[str, list[str]] = {}
    for kind, user_id, socket_id in entries:
        by_key.setdefault(_key(layer, kind, user_id), []).append(socket_id)
    # One script call per thousand users: a pipeline of two commands a user
    # would hold the event loop at each renewal, and every push behind it.
    await redis_store.eval_sliced(
        layer, list(by_key), KEEP_ALIVE, expires, int(ENTRY_SECONDS) + 1, per_key=lambda key: " ".join(by_key[key])
    )


# KEYS the users' sets; ARGV the new expiry, the sets' TTL, then for each
# key its socket ids, space-separated (uuid4 hex).
KEEP_ALIVE = """
local expires, ttl = ARGV[1], ARGV[2]
for i, key in ipairs(KEYS) do
    for member in string.gmatch(ARGV[i + 2], '%S+') do
        redis.call('ZADD', key, expires, member)
    end
    redis.call('EXPIRE', key, ttl)
end
return #KEYS
"""


async def keep_sockets_alive(hub: Hub) -> None:
    """Every third of ENTRY_SECONDS, in every server: renew the shared
    count's entries of this server's open sockets."""
    entries = [
        (member.socket_kind(), member.user_id, member.socket_id)
        for group, members in list(hub.members.items())
        if group.startswith(CONTROL_GROUP_PREFIX)
        for member in tuple(members)
        if getattr(member, "socket_id", None)
    ]
    await keep_alive(hub.layer, entries)
