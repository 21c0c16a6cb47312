"""Pipelined access to channels-redis's own storage.

Some periodic work touches thousands of Redis keys: the hub re-adding its
groups, the socket-limit renewal, a push to a list of users asking which
user groups some server has joined. One command at a time, that is
thousands of round trips (11% of an idle server's CPU for the group refresh
alone). These helpers queue the commands on one pipeline per Redis host and
slice of keys instead, or, for the group refresh and the question of which
groups have members, run one script a slice (a pipeline still encodes and
parses a command and a reply per key in Python: 130-220 ms for 10,000
groups, against a few for the script).

``SyncClient`` does a ``group_send`` and that question from sync code with
redis-py's sync client, for processes that serve no sockets. ``Inbox`` is
how a hub receives: one pop a message instead of the layer's four round
trips.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

Item = TypeVar("Item", bound=Hashable)

logger = logging.getLogger("notifications.realtime")

# Items per pipeline.
SLICE = 500
# Groups per script call: Redis runs it without interruption, about 1 ms a
# thousand keys.
GROUPS_PER_SCRIPT = 1000

# The 1-based positions of the KEYS that are non-empty sorted sets.
_NONEMPTY = """
local found = {}
for i, key in ipairs(KEYS) do
    if redis.call('ZCARD', key) > 0 then found[#found + 1] = i end
end
return found
"""


# channels-redis's group_add (ZADD, then EXPIRE) for each group key in KEYS.
_GROUP_ADD = """
local channel, now, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, channel)
    redis.call('EXPIRE', key, expiry)
end
return 0
"""


def is_channels_redis(layer: Any) -> bool:
    """Whether ``layer`` is channels-redis's RedisChannelLayer, whose
    connections, sharding and key names these helpers use."""
    names = (
        *("connection", "consistent_hash", "prefix", "hosts", "expiry", "group_expiry", "brpop_timeout"),
        *("non_local_name", "get_capacity", "serialize", "deserialize"),
        *("_group_key", "_map_channel_keys_to_connection"),
    )
    return all(hasattr(layer, name) for name in names)


async def pipelined(
    layer: Any,
    items: Iterable[Item],
    *,
    shard: Callable[[Item], str],
    queue: Callable[[Any, Item], None],
    size: int = SLICE,
) -> dict[Item, list[Any]]:
    """Call ``queue(pipe, item)`` for each item on a pipeline of the Redis
    host that ``layer.consistent_hash(shard(item))`` picks, ``size`` items a
    round trip; return each item's replies, in the order it queued them."""
    replies: dict[Item, list[Any]] = {}
    for connection, chunk in _host_slices(layer, items, shard, size):
        async with connection.pipeline(transaction=False) as pipe:
            for item in chunk:
                queue(pipe, item)
            results = await pipe.execute()
        per_item = len(results) // len(chunk)
        for index, item in enumerate(chunk):
            replies[item] = results[index * per_item : (index + 1) * per_item]
    return replies


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
        yield host_connection, chunk, [layer._group_key(group) for group in chunk]


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
    groups every minute; for 5,000 groups a pipeline cost 184 ms of CPU
    encoding 10,000 commands and parsing their replies, the script 7-10."""
    for connection, _, keys in _group_key_slices(layer, groups, size):
        await connection.eval(_GROUP_ADD, len(keys), *keys, channel, time.time(), layer.group_expiry)


async def hosts_lost(layer: Any, key: str, ttl: int) -> list[int]:
    """The indexes of the layer's Redis hosts that no longer hold ``key``
    (restarted empty, or a replica promoted without it); renews it for
    ``ttl`` seconds on the others. One EXPIRE per host."""
    return [index for index in range(len(layer.hosts)) if not await layer.connection(index).expire(key, ttl)]


async def hosts_mark(layer: Any, key: str, ttl: int, hosts: Iterable[int]) -> None:
    """Set ``key`` for ``ttl`` seconds on each of ``hosts``, for ``hosts_lost``."""
    for index in hosts:
        await layer.connection(index).set(key, 1, ex=ttl)


HUB_CHANNEL_PREFIX = "realtime-hub."


def hub_channel() -> str:
    """A channel name for a hub on channels-redis: an inbox key of its own.

    The part before "!" names the Redis key, and every channel of the
    default ``specific.<process>!`` shares one, which ``Inbox`` must not pop.
    With nothing after the "!", the layer's ``send`` and ``group_send`` hash
    the same name to pick a host (``send`` hashes the whole name,
    ``group_send`` the part before the "!")."""
    return f"{HUB_CHANNEL_PREFIX}{uuid.uuid4().hex}!"


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
        name = layer.non_local_name(channel)
        self.layer = layer
        self.key = layer.prefix + name
        self.host = layer.consistent_hash(name)

    async def receive(self) -> dict[str, Any]:
        layer = self.layer
        while True:
            # The layer's own pop timeout, which its socket timeout must exceed.
            popped = await layer.connection(self.host).bzpopmin(self.key, timeout=layer.brpop_timeout)
            if popped is not None:
                message = layer.deserialize(popped[1])
                message.pop("__asgi_channel__", None)
                return message


# Adds a message to a channel's inbox as channels-redis's group_send script
# does (channels_redis/core.py, 4.3), with the expiry of the inbox's old
# messages, which it sends as a pipeline first, folded in; returns 1 when
# the inbox is full and nothing was added.
_ADD_TO_INBOX = """
local function add(key, message, capacity, now, expiry)
    redis.call('ZREMRANGEBYSCORE', key, 0, math.floor(tonumber(now)) - expiry)
    if redis.call('ZCOUNT', key, '-inf', '+inf') >= capacity then return 1 end
    redis.call('ZADD', key, now, message)
    redis.call('EXPIRE', key, expiry)
    return 0
end
"""

# channels-redis's group_send script: one round trip per Redis host instead
# of two.
_GROUP_SEND = (
    _ADD_TO_INBOX
    + """
local over_capacity = 0
local now = ARGV[#ARGV - 1]
local expiry = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
    over_capacity = over_capacity + add(key, ARGV[i], tonumber(ARGV[i + #KEYS]), now, expiry)
end
return over_capacity
"""
)

# A group_send whose members are all hubs, in one round trip on a single
# Redis host: the group's expiry and member list, then the message added to
# each hub's inbox (with one message for all, since a hub's Inbox has no use
# for the member names channels-redis puts in each). Any other member and it
# sends nothing and returns the members, for the general path. The inbox
# keys are not among KEYS, which a standalone Redis or a Sentinel master
# allows (channels-redis supports no cluster).
_GROUP_SEND_TO_HUBS = (
    _ADD_TO_INBOX
    + """
local now, group_expiry = ARGV[1], tonumber(ARGV[2])
local prefix, hub, message = ARGV[3], ARGV[4], ARGV[5]
local capacity, expiry = tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, math.floor(tonumber(now)) - group_expiry)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, member in ipairs(members) do
    if member:sub(1, #hub) ~= hub or member:sub(-1) ~= '!' then return members end
end
local over_capacity = 0
for _, member in ipairs(members) do
    over_capacity = over_capacity + add(prefix .. member, message, capacity, now, expiry)
end
return over_capacity
"""
)


def _to_hubs_args(layer: Any, message: dict[str, Any]) -> list[Any]:
    """_GROUP_SEND_TO_HUBS's ARGV."""
    names = (layer.prefix, HUB_CHANNEL_PREFIX)
    capacity = layer.get_capacity(f"{HUB_CHANNEL_PREFIX}!")
    return [time.time(), layer.group_expiry, *names, layer.serialize(message), capacity, layer.expiry]


def _sent_to_hubs(reply: Any, group: str) -> bool:
    """Whether _GROUP_SEND_TO_HUBS sent (it returns the members when not)."""
    if isinstance(reply, list):
        return False
    if reply:
        logger.info("%s hub channels over capacity in group %s", reply, group)
    return True


async def group_send(layer: Any, group: str, message: dict[str, Any]) -> None:
    """The layer's ``group_send``; for a group of hubs on one Redis host, in
    one round trip instead of its four."""
    if len(layer.hosts) == 1:
        args = _to_hubs_args(layer, message)
        reply = await layer.connection(0).eval(_GROUP_SEND_TO_HUBS, 1, layer._group_key(group), *args)
        if _sent_to_hubs(reply, group):
            return
    await layer.group_send(group, message)


class SyncClient:
    """``group_send`` and ``groups_with_members`` of a channels-redis layer
    for sync code, on redis-py's sync client in the calling thread.

    From a plain sync process (a worker, a command, WSGI), publishing
    through an event loop cost a hop to that loop's thread and back plus
    channels-redis's four async round trips: 0.66 ms at the median for a
    personal notification, against 0.26 ms here in two (docs/benchmarks.md).
    A group whose members are all hubs, as every group this app sends to is
    unless a consumer of the site's own joins it, takes one on a single
    Redis host. Otherwise the layer's own ``_map_channel_keys_to_connection``
    builds and serializes the messages, so they are what its ``receive``
    expects; tests/test_publish.py receives them with the layer and a hub's
    ``Inbox``.
    """

    def __init__(self, layer: Any, *, timeout: float):
        import redis

        self.layer = layer
        self.clients = [redis.Redis(connection_pool=_sync_pool(host, timeout)) for host in layer.hosts]
        self._group_send = self.clients[0].register_script(_GROUP_SEND)
        self._group_send_to_hubs = self.clients[0].register_script(_GROUP_SEND_TO_HUBS)
        self._nonempty = self.clients[0].register_script(_NONEMPTY)

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        layer = self.layer
        key = layer._group_key(group)
        client = self.clients[layer.consistent_hash(group)]
        if len(self.clients) == 1:
            reply = self._group_send_to_hubs(keys=[key], args=_to_hubs_args(layer, message), client=client)
            if _sent_to_hubs(reply, group):
                return
            members = reply
        else:
            with client.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(key, min=0, max=int(time.time()) - layer.group_expiry)
                pipe.zrange(key, 0, -1)
                _, members = pipe.execute()
        channels = [member.decode() for member in members]
        by_host, messages, capacities = layer._map_channel_keys_to_connection(channels, message)
        for host, keys in by_host.items():
            args = [*(messages[key] for key in keys), *(capacities[key] for key in keys), time.time(), layer.expiry]
            over_capacity = self._group_send(keys=keys, args=args, client=self.clients[host])
            if over_capacity:
                logger.info("%s of %s channels over capacity in group %s", over_capacity, len(channels), group)

    def groups_with_members(self, groups: Iterable[str], *, size: int = GROUPS_PER_SCRIPT) -> set[str]:
        """As the module's ``groups_with_members``."""
        found: set[str] = set()
        for client, chunk, keys in _group_key_slices(self.layer, groups, size, self.clients.__getitem__):
            positions = self._nonempty(keys=keys, client=client)
            found.update(chunk[position - 1] for position in positions)
        return found


def _sync_pool(host: dict[str, Any], timeout: float) -> Any:
    """A sync connection pool for one of the layer's hosts, as
    ``channels_redis.utils.create_pool`` makes the async one, except that a
    command waits at most ``timeout`` (the layer's own socket timeout must
    outlast its blocking pop)."""
    import redis
    import redis.sentinel

    host = {**host, "socket_timeout": timeout}
    if "address" in host:
        return redis.ConnectionPool.from_url(host.pop("address"), **host)
    master_name = host.pop("master_name", None)
    if master_name is not None:
        sentinel = redis.sentinel.Sentinel(host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs", None))
        return redis.sentinel.SentinelConnectionPool(master_name, sentinel, **host)
    return redis.ConnectionPool(**host)
