"""What the hub and the publisher copy of channels-redis's internals.

Mirrors channels-redis 4.3.0 (``channels_redis/core.py`` and
``channels_redis/utils.py``): the version requirements.txt pins and the
lower bound of pyproject.toml's range, which noxfile.py's ``oldest`` session
installs. tests/unit/test_channels_redis_copy.py fails when upstream changes the
shape relied on here: the signatures of the methods below, the key names,
the message format, and the Redis calls of ``group_add`` and ``group_send``.

Everything else in the app reaches channels-redis through this module or
through the layer's public methods (``connection``, ``consistent_hash``,
``non_local_name``, ``get_capacity``, ``serialize``, ``deserialize``).

What is copied, and what changes:

- The storage layout. A group is a sorted set at ``_group_key(group)`` of
  channel names scored by the time they joined, expiring after
  ``group_expiry``; ``GROUP_ADD`` writes it as ``group_add`` does. A
  channel's inbox is a sorted set at ``prefix + non_local_name(channel)`` on
  host ``consistent_hash(non_local_name(channel))``, of serialized messages
  scored by send time, expiring after ``expiry``, at most
  ``get_capacity(channel)`` long; a message for a ``!`` channel carries the
  channel names it is for in ``__asgi_channel__``.
- ``RedisChannelLayer.group_send``. ``group_send`` here and
  ``SyncGroupSend`` keep its script and ARGV layout and build the messages
  with the layer's own private ``_map_channel_keys_to_connection``, so
  ``receive`` reads what they write. Two changes: the expiry of an inbox's
  old messages, which upstream sends as a pipeline before the script (not
  always to the inbox's host), is folded into the script, one round trip a
  host instead of two; and a group whose members are all hubs
  on a single Redis host takes one script call for everything
  (``GROUP_SEND_TO_HUBS``) instead of four round trips.
- ``channels_redis.utils.create_pool`` as ``sync_pool``, for redis-py's sync
  client (tests/unit/test_redis_hosts.py compares the two pools).

Redis Cluster: none of this can work on a cluster, and channels-redis
itself does not either (its layer talks to each of ``hosts`` with a plain
client, which a cluster answers with MOVED for any key in a slot another
node owns). A cluster runs a script only when every key it touches is in
KEYS and in one hash slot. ``GROUP_SEND_TO_HUBS`` writes to inbox keys it
builds from the group's members, which are not in KEYS; ``GROUP_SEND``,
like upstream's script, ``GROUP_ADD`` (the hub's group refresh) and
``redis_store``'s question of which groups have members pass many keys in
KEYS that hash to different slots. Hash tags cannot fix it: a channel
belongs to many groups, so no one tag puts a group with all its members'
inboxes. Sentinel and shards (several
``hosts``) are the ways to scale and survive a failure (docs/deployment.md).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import redis
import redis.sentinel

logger = logging.getLogger("notifications.realtime")

# The layer's methods and attributes this module and redis_store use.
LAYER_NAMES = (
    *("connection", "consistent_hash", "prefix", "hosts", "expiry", "group_expiry", "brpop_timeout"),
    *("non_local_name", "get_capacity", "serialize", "deserialize"),
    *("_group_key", "_map_channel_keys_to_connection"),
)


def is_channels_redis(layer: Any) -> bool:
    """Whether ``layer`` is channels-redis's RedisChannelLayer, whose
    connections, sharding and key names the hub and the publisher use."""
    return all(hasattr(layer, name) for name in LAYER_NAMES)


def group_key(layer: Any, group: str) -> bytes:
    """The Redis key of ``group``'s member set."""
    return layer._group_key(group)


def channel_inbox(layer: Any, channel: str) -> tuple[str, int]:
    """(the Redis key of ``channel``'s inbox, the index of its host)."""
    name = layer.non_local_name(channel)
    return layer.prefix + name, layer.consistent_hash(name)


def message_decode(layer: Any, data: bytes) -> dict[str, Any]:
    """A message popped from an inbox, without the channel names that the
    layer's ``receive`` routes it by."""
    message = layer.deserialize(data)
    message.pop("__asgi_channel__", None)
    return message


# group_add (ZADD, then EXPIRE) for each group key in KEYS.
GROUP_ADD = """
local channel, now, expiry = ARGV[1], ARGV[2], tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, channel)
    redis.call('EXPIRE', key, expiry)
end
return 0
"""


HUB_CHANNEL_PREFIX = "realtime-hub."


def hub_channel() -> str:
    """A channel name for a hub on channels-redis: an inbox key of its own.

    The part before "!" names the Redis key, and every channel of the
    default ``specific.<process>!`` shares one, which a hub's ``Inbox`` must
    not pop. With nothing after the "!", the layer's ``send`` and
    ``group_send`` hash the same name to pick a host (``send`` hashes the
    whole name, ``group_send`` the part before the "!")."""
    return f"{HUB_CHANNEL_PREFIX}{uuid.uuid4().hex}!"


# Adds a message to a channel's inbox as group_send's script does, with the
# expiry of the inbox's old messages, which group_send sends as a pipeline
# first, folded in; returns 1 when the inbox is full and nothing was added.
_ADD_TO_INBOX = """
local function add(key, message, capacity, now, expiry)
    redis.call('ZREMRANGEBYSCORE', key, 0, math.floor(tonumber(now)) - expiry)
    if redis.call('ZCOUNT', key, '-inf', '+inf') >= capacity then return 1 end
    redis.call('ZADD', key, now, message)
    redis.call('EXPIRE', key, expiry)
    return 0
end
"""

# group_send's script, with the same KEYS and ARGV: the inbox keys, then
# their messages, their capacities, the time and the expiry.
GROUP_SEND = (
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
# for the member names the layer puts in each). Any other member and it
# sends nothing and returns the members, for the general path. The inbox
# keys are not among KEYS, which a standalone Redis or a Sentinel master
# allows and a cluster does not.
GROUP_SEND_TO_HUBS = (
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
    """GROUP_SEND_TO_HUBS's ARGV."""
    names = (layer.prefix, HUB_CHANNEL_PREFIX)
    capacity = layer.get_capacity(f"{HUB_CHANNEL_PREFIX}!")
    return [time.time(), layer.group_expiry, *names, layer.serialize(message), capacity, layer.expiry]


def _sent_to_hubs(reply: Any, group: str) -> bool:
    """Whether GROUP_SEND_TO_HUBS sent (it returns the members when not)."""
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
        reply = await layer.connection(0).eval(GROUP_SEND_TO_HUBS, 1, group_key(layer, group), *args)
        if _sent_to_hubs(reply, group):
            return
    await layer.group_send(group, message)


class SyncGroupSend:
    """The layer's ``group_send`` on redis-py sync clients, one per host of
    the layer, in the calling thread: a group of hubs on a single Redis host
    in one round trip, any other group in one per host plus one to read its
    members. The layer's own ``_map_channel_keys_to_connection`` builds and
    serializes the messages, so they are what its ``receive`` expects;
    tests/system/test_publish.py receives them with the layer and a hub's
    ``Inbox``."""

    def __init__(self, layer: Any, clients: list[Any]):
        self.layer = layer
        self.clients = clients
        self._group_send = clients[0].register_script(GROUP_SEND)
        self._group_send_to_hubs = clients[0].register_script(GROUP_SEND_TO_HUBS)

    def __call__(self, group: str, message: dict[str, Any]) -> None:
        layer = self.layer
        key = group_key(layer, group)
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


def sync_pool(host: dict[str, Any], timeout: float) -> Any:
    """A sync connection pool for one of the layer's hosts, as
    ``channels_redis.utils.create_pool`` makes the async one, except that a
    command waits at most ``timeout`` (the layer's own socket timeout must
    outlast its blocking pop)."""
    host = {**host, "socket_timeout": timeout}
    if "address" in host:
        return redis.ConnectionPool.from_url(host.pop("address"), **host)
    master_name = host.pop("master_name", None)
    if master_name is not None:
        sentinel = redis.sentinel.Sentinel(host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs", None))
        return redis.sentinel.SentinelConnectionPool(master_name, sentinel, **host)
    return redis.ConnectionPool(**host)
