"""Pipelined access to channels-redis's own storage.

Some periodic work touches thousands of Redis keys: the hub re-adding its
groups, the socket-limit renewal, a push to a list of users asking which
user groups some server has joined. One command at a time, that is
thousands of round trips, a large share of an idle server's CPU for the
group refresh alone. These helpers queue the commands on one pipeline per
Redis host and slice of keys instead, or, for the group refresh and the
question of which groups have members, run one script a slice (a pipeline
still encodes and parses a command and a reply per key in Python; a script
call does not).

``SyncClient`` does a ``group_send`` and that question from sync code with
redis-py's sync client, for processes that serve no sockets. ``Inbox`` is
how a hub receives: one pop a message instead of the layer's four round
trips.

Key names, message format and the copy of the layer's ``group_send`` come
from ``channels_redis_copy``, which names the channels-redis version it
mirrors; this module uses only the layer's public methods besides. Its
scripts pass many group keys in KEYS, which Redis Cluster refuses when they
hash to different slots (``channels_redis_copy`` says why no cluster works).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

import redis

from .channels_redis_copy import (
    GROUP_ADD,
    HUB_CHANNEL_PREFIX,
    SyncGroupSend,
    channel_inbox,
    group_key,
    group_send,
    hub_channel,
    is_channels_redis,
    message_decode,
    sync_pool,
)

# This module's names, and those of channels_redis_copy that the hub, the
# publisher and the tests import from here.
__all__ = [
    "GROUPS_PER_SCRIPT",
    "HUB_CHANNEL_PREFIX",
    "Inbox",
    "SyncClient",
    "eval_sliced",
    "group_add_many",
    "group_send",
    "groups_with_members",
    "hosts_lost",
    "hosts_mark",
    "hub_channel",
    "is_channels_redis",
]

Item = TypeVar("Item", bound=Hashable)

# Groups per script call: Redis runs a script without interruption, so a
# call stays short.
GROUPS_PER_SCRIPT = 1000

# The 1-based positions of the KEYS that are non-empty sorted sets.
_NONEMPTY = """
local found = {}
for i, key in ipairs(KEYS) do
    if redis.call('ZCARD', key) > 0 then found[#found + 1] = i end
end
return found
"""


async def eval_sliced(
    layer: Any,
    keys: Iterable[str],
    script: str,
    *args: Any,
    per_key: Callable[[str], Any] | None = None,
    size: int = GROUPS_PER_SCRIPT,
) -> None:
    """Run ``script`` over ``keys``, one call per Redis host and ``size``
    keys: KEYS are the call's keys, ARGV ``args`` and then ``per_key(key)``
    of each of them. A pipeline of two commands a key spends most of its
    CPU encoding the commands and parsing their replies; a script call does
    not (docs/benchmarks.md)."""
    for connection, chunk in _host_slices(layer, keys, lambda key: key, size):
        extra = [per_key(key) for key in chunk] if per_key is not None else []
        await connection.eval(script, len(chunk), *chunk, *args, *extra)


def _host_slices(
    layer: Any,
    items: Iterable[Item],
    shard: Callable[[Item], str],
    size: int,
    connection: Callable[[int], Any] | None = None,
) -> Iterator[tuple[Any, list[Item]]]:
    """The items grouped by the Redis host that ``layer.consistent_hash``
    picks for ``shard(item)``, as (that host's connection, up to ``size``
    items); ``connection(index)`` is ``layer.connection`` unless given."""
    connection = connection or layer.connection
    by_host: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_host[layer.consistent_hash(shard(item))].append(item)
    for host, host_items in by_host.items():
        host_connection = connection(host)
        for start in range(0, len(host_items), size):
            yield host_connection, host_items[start : start + size]


def _group_key_slices(
    layer: Any, groups: Iterable[str], size: int, connection: Callable[[int], Any] | None = None
) -> Iterator[tuple[Any, list[str], list[str]]]:
    """For a script over group keys: (the Redis host's connection, up to
    ``size`` of ``groups``, their keys), as ``_host_slices`` groups them."""
    for host_connection, chunk in _host_slices(layer, groups, lambda group: group, size, connection):
        yield host_connection, chunk, [group_key(layer, group) for group in chunk]


async def groups_with_members(layer: Any, groups: Iterable[str], *, size: int = GROUPS_PER_SCRIPT) -> set[str]:
    """Those of ``groups`` that some channel has joined (and that have not
    expired away), one Lua script call per Redis host and ``size`` groups."""
    found: set[str] = set()
    for connection, chunk, keys in _group_key_slices(layer, groups, size):
        positions = await connection.eval(_NONEMPTY, len(keys), *keys)
        found.update(chunk[position - 1] for position in positions)
    return found


async def group_add_many(layer: Any, groups: Iterable[str], channel: str, *, size: int = GROUPS_PER_SCRIPT) -> None:
    """The layer's ``group_add(group, channel)`` for each of ``groups``, one
    Lua script call per Redis host and ``size`` groups. A hub re-adds its
    groups every minute; a pipeline would encode two commands a group and
    parse their replies, on the event loop every push waits for."""
    for connection, _, keys in _group_key_slices(layer, groups, size):
        await connection.eval(GROUP_ADD, len(keys), *keys, channel, time.time(), layer.group_expiry)


async def hosts_lost(layer: Any, key: str, ttl: int) -> list[int]:
    """The indexes of the layer's Redis hosts that no longer hold ``key``
    (restarted empty, or a replica promoted without it); renews it for
    ``ttl`` seconds on the others. One EXPIRE per host."""
    return [index for index in range(len(layer.hosts)) if not await layer.connection(index).expire(key, ttl)]


async def hosts_mark(layer: Any, key: str, ttl: int, hosts: Iterable[int]) -> None:
    """Set ``key`` for ``ttl`` seconds on each of ``hosts``, for ``hosts_lost``."""
    for index in hosts:
        await layer.connection(index).set(key, 1, ex=ttl)


class Inbox:
    """A hub's inbox on channels-redis, read with one BZPOPMIN a message.

    The layer's ``receive`` costs four round trips a message (a clean-up
    script, the pop, a ZADD to a backup queue before the message is handed
    over, a ZPOPMIN after) and a wait on two new tasks. The backup keeps a
    message whose receive is cancelled half-way for the next receive on that
    key, and the lock lets the consumers of a process share their key. A hub
    is the one reader of its key (``hub_channel``), it stops on a message
    rather than by cancellation (``Hub.close``), and when its process ends
    nothing reads that key again, backup or not. So it pops and decodes.
    """

    def __init__(self, layer: Any, channel: str):
        self.layer = layer
        self.key, self.host = channel_inbox(layer, channel)

    async def receive(self) -> dict[str, Any]:
        layer = self.layer
        while True:
            # The layer's own pop timeout, which its socket timeout must exceed.
            popped = await layer.connection(self.host).bzpopmin(self.key, timeout=layer.brpop_timeout)
            if popped is not None:
                return message_decode(layer, popped[1])


class SyncClient:
    """``group_send`` and ``groups_with_members`` of a channels-redis layer
    for sync code, on redis-py's sync client in the calling thread.

    From a plain sync process (a worker, a command, WSGI), publishing
    through an event loop costs a hop to that loop's thread and back plus
    channels-redis's four async round trips; here it is two
    (docs/benchmarks.md).
    A group whose members are all hubs, as every group this app sends to is
    unless a consumer of the site's own joins it, takes one on a single
    Redis host (``channels_redis_copy.SyncGroupSend``).
    """

    def __init__(self, layer: Any, *, timeout: float):
        self.layer = layer
        self.clients = [redis.Redis(connection_pool=sync_pool(host, timeout)) for host in layer.hosts]
        self._group_send = SyncGroupSend(layer, self.clients)
        self._nonempty = self.clients[0].register_script(_NONEMPTY)

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        """The layer's ``group_send``."""
        self._group_send(group, message)

    def groups_with_members(self, groups: Iterable[str], *, size: int = GROUPS_PER_SCRIPT) -> set[str]:
        """As the module's ``groups_with_members``."""
        found: set[str] = set()
        for client, chunk, keys in _group_key_slices(self.layer, groups, size, self.clients.__getitem__):
            positions = self._nonempty(keys=keys, client=client)
            found.update(chunk[position - 1] for position in positions)
        return found
