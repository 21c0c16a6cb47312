"""Redis hosts for the channel layer: one URL, shards, Sentinel, or
Sentinel-backed shards, in every form channels-redis's ``hosts`` takes, for
the layer and for every Redis path of the hub and the publisher."""

import json

import pytest
from channels_redis.utils import create_pool

from notifications.realtime import redis_channel_layer, sentinel_hosts
from notifications.realtime.channels_redis_copy import sync_pool
from notifications.realtime.config import _driver_info
from tests.unit.test_foundation import settings_in_subprocess

HOSTS = "print(json.dumps(s.CHANNEL_LAYERS['default']['CONFIG']['hosts'], default=str))"


def demo_hosts(**env: str) -> list[dict]:
    result = settings_in_subprocess(f"import json; {HOSTS}", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_demo_reads_sentinels_and_the_master_name_from_the_environment():
    [host] = demo_hosts(
        REDIS_SENTINELS="10.0.0.1:26379, 10.0.0.2:26379,10.0.0.3:26380", REDIS_SENTINEL_MASTER="notifications"
    )
    assert host["sentinels"] == [["10.0.0.1", 26379], ["10.0.0.2", 26379], ["10.0.0.3", 26380]]
    assert host["master_name"] == "notifications"
    assert host["socket_timeout"] > 5 and host["max_connections"] >= 1000
    assert host["sentinel_kwargs"] == {"socket_timeout": 3, "socket_connect_timeout": 3}
    # Sentinel wins over REDIS_URL; several master names shard the layer.
    hosts = demo_hosts(REDIS_SENTINELS="127.0.0.1:26379", REDIS_SENTINEL_MASTER="a,b", REDIS_URL="redis://x:1/0")
    assert [host["master_name"] for host in hosts] == ["a", "b"]
    assert [host["master_name"] for host in demo_hosts(REDIS_SENTINELS="127.0.0.1:26379")] == ["mymaster"]


def test_the_demo_shards_over_the_urls_in_redis_url():
    hosts = demo_hosts(REDIS_URL="redis://10.0.0.1:6379/0, redis://10.0.0.2:6379/0")
    assert [host["address"] for host in hosts] == ["redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/0"]
    assert all(host["socket_timeout"] > 5 for host in hosts)


def test_a_bad_sentinel_address_stops_the_demo_with_a_clear_error():
    result = settings_in_subprocess(HOSTS, REDIS_SENTINELS="10.0.0.1")
    assert result.returncode != 0
    assert "A sentinel address must be host:port, not '10.0.0.1'." in result.stderr


@pytest.mark.parametrize(
    ("hosts", "decoded"),
    [
        ("redis://a:6379/0", [{"address": "redis://a:6379/0"}]),
        (["redis://a:6379/0", "redis://b:6379/0"], [{"address": "redis://a:6379/0"}, {"address": "redis://b:6379/0"}]),
        ([("a", 6379)], [{"host": "a", "port": 6379}]),
        ([{"address": "redis://a:6379/0", "socket_timeout": None}], [{"address": "redis://a:6379/0"}]),
        (
            [{"sentinels": [("s", 26379)], "master_name": "m", "sentinel_kwargs": {"password": "p"}}],
            [{"sentinels": [("s", 26379)], "master_name": "m"}],
        ),
    ],
)
def test_every_form_of_channels_redis_hosts_is_taken(hosts, decoded):
    entries = redis_channel_layer(hosts, max_connections=50)["CONFIG"]["hosts"]
    assert len(entries) == len(decoded)
    for entry, expected in zip(entries, decoded, strict=True):
        assert entry.items() >= expected.items()
        assert entry["max_connections"] == 50
        # The version that spares redis-py its lookup per connection, where it takes one.
        assert entry.items() >= _driver_info().items()
    if isinstance(hosts, list) and isinstance(hosts[0], dict):
        # The entry's own options win over the helper's.
        assert entries[0].get("socket_timeout", "unset") == hosts[0].get("socket_timeout", 15)
        if "sentinel_kwargs" in hosts[0]:
            assert entries[0]["sentinel_kwargs"] == {"socket_timeout": 3, "socket_connect_timeout": 3, "password": "p"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: redis_channel_layer([]), "needs at least one Redis host"),
        (lambda: redis_channel_layer([{"address": "redis://a", "socket_timeout": 5}]), "must exceed"),
        (lambda: redis_channel_layer([{"master_name": "m", "sentinels": []}]), "lists no sentinels"),
        (lambda: sentinel_hosts("", "m"), "at least one sentinel"),
        (lambda: sentinel_hosts("a:1", " , "), "the name of the master"),
        (lambda: sentinel_hosts("a:port", "m"), "host:port, not 'a:port'"),
    ],
)
def test_bad_hosts_get_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "host",
    [
        {"address": "redis://127.0.0.1:6390/2"},
        {"host": "127.0.0.1", "port": 6390},
        {"sentinels": [("127.0.0.1", 26390)], "master_name": "m", "sentinel_kwargs": {"socket_timeout": 1}},
    ],
)
def test_the_publishers_sync_pool_is_built_as_channels_redis_builds_the_layers(host):
    """channels_redis_copy.sync_pool mirrors channels_redis.utils.create_pool
    (channels-redis 4.3) with redis-py's sync classes; this fails when
    upstream builds its pools differently."""
    [entry] = redis_channel_layer([host])["CONFIG"]["hosts"]
    upstream, ours = create_pool(entry), sync_pool(entry, timeout=2)
    assert type(ours).__name__ == type(upstream).__name__
    keys = ("host", "port", "db", "socket_connect_timeout")
    assert [ours.connection_kwargs.get(k) for k in keys] == [upstream.connection_kwargs.get(k) for k in keys]
    assert ours.max_connections == upstream.max_connections == 1000
    assert ours.connection_kwargs["socket_timeout"] == 2
    if "master_name" in host:
        assert ours.service_name == upstream.service_name == "m"
        for pool in (ours, upstream):
            [sentinel] = pool.sentinel_manager.sentinels
            assert sentinel.connection_pool.connection_kwargs["socket_timeout"] == 1


def test_the_sharding_and_sentinel_examples_in_settings_md_build_layers():
    from tests.unit.test_docs import blocks

    [snippet] = [block for block in blocks("settings.md", "python") if "sentinel_hosts" in block]
    namespace: dict = {}
    exec(snippet, namespace)
    [host] = namespace["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"]
    assert host["master_name"] == "mymaster" and len(host["sentinels"]) == 3
