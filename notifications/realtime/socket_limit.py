"""Counting a user's open sockets across server processes, for
MAX_SOCKETS_PER_USER.

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
from typing import Any

from . import redis_store

logger = logging.getLogger("notifications.realtime")

ENTRY_SECONDS = 90.0


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
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {socket_id: now + ENTRY_SECONDS})
            pipe.zcard(key)
            pipe.expire(key, int(ENTRY_SECONDS) + 1)
            _, _, count, _ = await pipe.execute()
        if count > limit:
            await redis.zrem(key, socket_id)
            return False
    except Exception as exc:
        logger.warning("could not count sockets of user %s: %r", user_id, exc)
    return True


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
    by_key: dict[str, dict[str, float]] = {}
    for kind, user_id, socket_id in entries:
        by_key.setdefault(_key(layer, kind, user_id), {})[socket_id] = expires
    # Two commands per user: 10,000 users one at a time would be 20,000
    # round trips every 30 s.

    def renew(pipe: Any, key: str) -> None:
        pipe.zadd(key, by_key[key])
        pipe.expire(key, int(ENTRY_SECONDS) + 1)

    await redis_store.pipelined(layer, by_key, shard=lambda key: key, queue=renew)
