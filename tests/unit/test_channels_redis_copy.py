"""The shape of channels-redis that notifications/realtime/channels_redis_copy.py
copies: the private methods it calls, the key names and message format it
reads and writes, and the Redis calls of the ``group_add`` and
``group_send`` it mirrors. Each test fails when upstream changes one of
them; compare the new upstream with the copy, then update both."""

import inspect
import re
from pathlib import Path

import pytest
from channels_redis.core import RedisChannelLayer
from channels_redis.utils import create_pool

from notifications.realtime import channels_redis_copy as copy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def layer():
    # Two hosts, so consistent_hash spreads names; nothing connects.
    hosts = ["redis://127.0.0.1:1/0", "redis://127.0.0.1:2/0"]
    return RedisChannelLayer(hosts=hosts, prefix="p", capacity=7, channel_capacity={"small.*": 3})


def flat(function) -> str:
    """``function``'s source with every run of whitespace made one space."""
    return " ".join(inspect.getsource(function).split())


def test_the_copy_names_the_pinned_and_the_oldest_channels_redis():
    [pinned] = re.findall(r"^channels-redis==([\d.]+)", (ROOT / "requirements.txt").read_text(), re.M)
    [oldest] = re.findall(r'"channels-redis==([\d.]+)"', (ROOT / "noxfile.py").read_text())
    assert f"channels-redis {pinned}" in copy.__doc__
    assert f"channels-redis {oldest}" in copy.__doc__ or oldest == pinned


def test_the_layer_has_every_name_the_copy_uses(layer):
    assert copy.is_channels_redis(layer)
    assert not copy.is_channels_redis(object())


@pytest.mark.parametrize(
    ("name", "signature"),
    [
        ("_group_key", "(self, group)"),
        ("_map_channel_keys_to_connection", "(self, channel_names, message)"),
        ("consistent_hash", "(self, value)"),
        ("connection", "(self, index)"),
        ("non_local_name", "(self, name)"),
        ("get_capacity", "(self, channel)"),
        ("serialize", "(self, message)"),
        ("deserialize", "(self, message)"),
        ("group_add", "(self, group, channel)"),
        ("group_send", "(self, group, message)"),
    ],
)
def test_the_methods_the_copy_calls_keep_their_signatures(name, signature):
    assert str(inspect.signature(getattr(RedisChannelLayer, name))) == signature


def test_create_pool_keeps_its_signature():
    assert str(inspect.signature(create_pool)) == "(host)"


def test_group_and_inbox_keys_are_named_and_sharded_as_the_copy_expects(layer):
    assert copy.group_key(layer, "notifications.user.7") == b"p:group:notifications.user.7"
    key, host = copy.channel_inbox(layer, "realtime-hub.abc!")
    assert (key, host) == ("prealtime-hub.abc!", layer.consistent_hash("realtime-hub.abc!"))
    # A process-specific channel shares its process's inbox.
    assert (
        copy.channel_inbox(layer, "specific.x!y")[0] == copy.channel_inbox(layer, "specific.x!z")[0] == "pspecific.x!"
    )


def test_the_layer_maps_a_groups_channels_to_inboxes_as_the_copy_expects(layer):
    channels = ["specific.a!1", "specific.a!2", "small.b", "realtime-hub.c!"]
    by_host, messages, capacities = layer._map_channel_keys_to_connection(channels, {"type": "x"})
    assert sorted(key for keys in by_host.values() for key in keys) == ["prealtime-hub.c!", "psmall.b", "pspecific.a!"]
    for host, keys in by_host.items():
        for key in keys:
            assert layer.consistent_hash(key.removeprefix("p")) == host
    assert capacities == {"pspecific.a!": 7, "psmall.b": 3, "prealtime-hub.c!": 7}
    assert layer.deserialize(messages["pspecific.a!"]) == {
        "type": "x",
        "__asgi_channel__": ["specific.a!1", "specific.a!2"],
    }
    assert copy.message_decode(layer, messages["prealtime-hub.c!"]) == {"type": "x"}
    # GROUP_SEND_TO_HUBS's one message for all hub inboxes is the plain
    # serialized message, which the layer's receive also takes.
    assert copy.message_decode(layer, layer.serialize({"type": "x"})) == {"type": "x"}


# The lines of upstream methods that the copy relies on, whitespace made one
# space: group_add's writes (GROUP_ADD); group_send's read of the members,
# its messages from _map_channel_keys_to_connection, its expiry of each
# inbox and its script's KEYS and ARGV (GROUP_SEND, GROUP_SEND_TO_HUBS);
# the inbox key and the message format that send writes and receive reads
# (channel_inbox, message_decode).
UPSTREAM_LINES = {
    "group_add": [
        "group_key = self._group_key(group)",
        "connection = self.connection(self.consistent_hash(group))",
        "await connection.zadd(group_key, {channel: time.time()})",
        "await connection.expire(group_key, self.group_expiry)",
    ],
    "group_send": [
        "key = self._group_key(group)",
        "connection = self.connection(self.consistent_hash(group))",
        "zremrangebyscore( key, min=0, max=int(time.time()) - self.group_expiry )",
        "await connection.zrange(key, 0, -1)",
        "= self._map_channel_keys_to_connection(channel_names, message)",
        "pipe.zremrangebyscore( key, min=0, max=int(time.time()) - int(self.expiry) )",
        "args += [time.time(), self.expiry]",
        "connection.eval( group_send_lua, len(channel_redis_keys), *channel_redis_keys, *args )",
    ],
    "send": [
        'message["__asgi_channel__"] = channel',
        "channel_key = self.prefix + channel_non_local_name",
        "await connection.zadd(channel_key, {self.serialize(message): time.time()})",
        "await connection.expire(channel_key, int(self.expiry))",
    ],
    "receive_single": ['channel = message["__asgi_channel__"] del message["__asgi_channel__"]'],
}


@pytest.mark.parametrize(
    ("method", "line"), [(method, line) for method, lines in UPSTREAM_LINES.items() for line in lines]
)
def test_upstream_still_does_what_the_copy_mirrors(method, line):
    assert line in flat(getattr(RedisChannelLayer, method))


def test_group_add_many_writes_the_group_set_as_group_add_does():
    assert "ZADD', key, now, channel" in copy.GROUP_ADD and "EXPIRE', key, expiry" in copy.GROUP_ADD


# group_send's script, whose KEYS and ARGV GROUP_SEND takes.
UPSTREAM_GROUP_SEND = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
redis.call('ZADD', KEYS[i], current_time, ARGV[i])
redis.call('EXPIRE', KEYS[i], expiry)
else
over_capacity = over_capacity + 1
end
end
return over_capacity
"""


def test_group_sends_script_is_the_one_the_copy_mirrors():
    [script] = re.findall(r'group_send_lua = """(.*?)"""', inspect.getsource(RedisChannelLayer.group_send), re.S)
    assert [line.strip() for line in script.strip().splitlines()] == UPSTREAM_GROUP_SEND.strip().splitlines()
