"""Publishing from a plain sync process on channels-redis: the sync client's
messages are the ones the layer itself would send, so the layer's own
``receive`` gets them; a full channel and stale messages behave as
channels-redis's ``group_send`` does."""

import asyncio
import json
import logging

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import channel_layers

from notifications.realtime import publish as publish_module
from notifications.realtime import redis_store
from notifications.realtime.hub import Hub

needs_redis = pytest.mark.redis


@pytest.fixture
def layer(redis_layer):
    return channel_layers.make_backend("default")


def sync_client(layer):
    return redis_store.SyncClient(layer, timeout=publish_module.PUBLISH_TIMEOUT)


def received(layer, channel, count):
    """The next ``count`` messages of ``channel``, in one event loop (the
    layer buffers what one receive pulls for the next); a hub's channel is
    read as a hub reads it."""
    if channel.startswith(redis_store.HUB_CHANNEL_PREFIX):
        receive_one = redis_store.Inbox(layer, channel).receive
    else:

        async def receive_one():
            return await layer.receive(channel)

    async def receive():
        return [await asyncio.wait_for(receive_one(), 5) for _ in range(count)]

    return async_to_sync(receive)()


def new_channel(layer, kind):
    """A consumer's channel, as Channels gives it, or a hub's."""
    return async_to_sync(layer.new_channel)() if kind == "consumer" else redis_store.hub_channel()


kinds = pytest.mark.parametrize("kind", ["consumer", "hub"])


class Collector:
    """A hub member that keeps what it is sent."""

    def __init__(self, count):
        self.texts = []
        self.all_arrived = asyncio.Event()
        self.count = count

    async def send_encoded(self, text):
        self.texts.append(json.loads(text)["n"])
        if len(self.texts) == self.count:
            self.all_arrived.set()


@needs_redis
def test_a_plain_process_publishes_from_its_own_thread_with_a_sync_client(layer):
    publisher = publish_module._layer_loop("default")
    assert isinstance(publisher, publish_module._Publisher)
    assert publisher.sync is not None and publisher.loop is None


@needs_redis
@pytest.mark.parametrize("kinds", [("consumer", "consumer"), ("hub", "hub"), ("hub", "consumer")])
@pytest.mark.parametrize("process", ["plain", "server"])
def test_each_member_receives_what_is_published_once(layer, redis_url, kinds, process):
    """A group of hubs only is sent to in one round trip, with another member
    in channels-redis's way; each member gets the message once, whether a
    plain process (the sync client) or a server's event loop publishes."""
    first, second = (new_channel(layer, kind) for kind in kinds)
    for channel in (first, second):
        async_to_sync(layer.group_add)("notifications.user.7", channel)
    async_to_sync(layer.group_add)("notifications.user.8", second)

    events = [("notifications.user.7", {"type": "notifications.frame", "frame": {"n": 1}})]
    if process == "plain":
        publish_module.publish(events)
    else:
        async_to_sync(publish_module.apublish)(events, layer=layer)

    expected = {"type": "notifications.frame", "frame": {"n": 1}, "group": "notifications.user.7"}
    assert received(layer, first, 1) == [expected]
    assert received(layer, second, 1) == [expected]
    plain = redis.Redis.from_url(redis_url)
    assert [plain.zcard(layer.prefix + layer.non_local_name(c)) for c in (first, second)] == [0, 0]


@needs_redis
def test_a_group_of_hubs_on_several_redis_hosts_gets_its_messages(layer, redis_url):
    layer_two_hosts = type(layer)(hosts=[redis_url, redis_url], prefix=layer.prefix)
    hub = redis_store.hub_channel()
    async_to_sync(layer_two_hosts.group_add)("notifications.user.7", hub)
    redis_store.SyncClient(layer_two_hosts, timeout=5).group_send("notifications.user.7", {"type": "x"})
    assert received(layer_two_hosts, hub, 1) == [{"type": "x"}]


@needs_redis
def test_a_group_without_members_sends_nothing_and_says_nothing(layer, caplog):
    with caplog.at_level(logging.INFO, logger="notifications.realtime"):
        sync_client(layer).group_send("notifications.user.9", {"type": "x"})
    assert caplog.text == ""


@needs_redis
@kinds
def test_a_full_channel_drops_the_message_and_logs_it_as_the_layer_does(layer, redis_url, caplog, kind):
    layer.capacity = 2
    channel = new_channel(layer, kind)
    async_to_sync(layer.group_add)("room", channel)
    client = sync_client(layer)
    with caplog.at_level(logging.INFO, logger="notifications.realtime"):
        for n in range(3):
            client.group_send("room", {"type": "x", "n": n})
    logged = {"consumer": "1 of 1 channels", "hub": "1 hub channels"}[kind]
    assert f"{logged} over capacity in group room" in caplog.text
    assert [message["n"] for message in received(layer, channel, 2)] == [0, 1]
    assert redis.Redis.from_url(redis_url).zcard(layer.prefix + layer.non_local_name(channel)) == 0


@needs_redis
@kinds
def test_messages_older_than_the_expiry_are_dropped_before_a_send(layer, redis_url, kind):
    layer.expiry = 1
    channel = new_channel(layer, kind)
    async_to_sync(layer.group_add)("room", channel)
    key = layer.prefix + layer.non_local_name(channel)
    client = sync_client(layer)
    client.group_send("room", {"type": "old"})
    # As if it had been waiting for 10 s.
    plain = redis.Redis.from_url(redis_url)
    [(message, score)] = plain.zrange(key, 0, -1, withscores=True)
    plain.zadd(key, {message: score - 10})
    client.group_send("room", {"type": "new"})
    assert [message["type"] for message in received(layer, channel, 1)] == ["new"]
    assert plain.zcard(key) == 0


@needs_redis
def test_groups_with_members_agrees_with_the_async_helper(layer):
    channel = async_to_sync(layer.new_channel)()
    groups = [f"notifications.user.{n}" for n in range(2500)]
    for group in groups[::300]:
        async_to_sync(layer.group_add)(group, channel)
    found = sync_client(layer).groups_with_members(groups)
    assert found == set(groups[::300])
    assert found == async_to_sync(redis_store.groups_with_members)(layer, groups)


@needs_redis
@pytest.mark.parametrize("hosts", [1, 2])
def test_many_groups_added_at_once_are_what_the_layers_group_add_stores(layer, redis_url, hosts):
    """A hub's refresh adds its groups in one script call per slice and host:
    each group then holds the channel with the time as its score and
    expires after group_expiry, as with the layer's group_add, and the
    layer's own group_send reaches it."""
    import time

    layer = type(layer)(hosts=[redis_url] * hosts, prefix=layer.prefix, group_expiry=600)
    channel, other = redis_store.hub_channel(), redis_store.hub_channel()
    groups = [f"notifications.user.{n}" for n in range(2500)]
    before = time.time()
    async_to_sync(redis_store.group_add_many)(layer, groups, channel)
    async_to_sync(layer.group_add)(groups[0], other)
    plain = redis.Redis.from_url(redis_url)
    with plain.pipeline(transaction=False) as pipe:
        for group in groups:
            pipe.zscore(layer._group_key(group), channel)
            pipe.ttl(layer._group_key(group))
        replies = pipe.execute()
    scores, ttls = replies[::2], replies[1::2]
    assert all(score is not None and before <= score <= time.time() for score in scores)
    assert all(590 <= ttl <= 600 for ttl in ttls)
    assert plain.zcard(layer._group_key(groups[0])) == 2  # beside the layer's own member
    async_to_sync(layer.group_send)(groups[1234], {"type": "x"})
    assert received(layer, channel, 1) == [{"type": "x"}]


@needs_redis
def test_a_hub_pops_its_own_inbox_in_order_beside_a_channels_consumer(layer, redis_url):
    """The hub reads a Redis key of its own with one BZPOPMIN a message, not
    through the layer's receive (a clean-up script, a backup queue and a
    ZPOPMIN after each message); a Channels consumer of the same process
    still gets its own messages from the layer, and close() stops the hub."""
    plain = redis.Redis.from_url(redis_url)

    def zpopmin_calls():
        return plain.info("commandstats").get("cmdstat_zpopmin", {}).get("calls", 0)

    async def scenario():
        hub = Hub(layer)
        await hub.start()
        member = Collector(50)
        await hub.join("room", member)
        consumer_channel = await layer.new_channel()
        await layer.send(consumer_channel, {"type": "custom.event"})
        before = zpopmin_calls()
        client = sync_client(layer)
        await asyncio.to_thread(
            lambda: [client.group_send("room", {"type": "x", "group": "room", "frame": {"n": n}}) for n in range(50)]
        )
        await asyncio.wait_for(member.all_arrived.wait(), 10)
        assert zpopmin_calls() == before
        assert (await asyncio.wait_for(layer.receive(consumer_channel), 5))["type"] == "custom.event"
        await asyncio.wait_for(hub.close(), 5)
        assert all(task.done() for task in asyncio.all_tasks() if task.get_name() == "hub-receive")
        return member.texts

    assert async_to_sync(scenario)() == list(range(50))


@needs_redis
def test_sockets_that_join_while_a_group_add_runs_are_added_together(layer, redis_url):
    """In a connect storm each handshake's group would cost a round trip to
    Redis; the groups asked for while one add runs go in the next, one
    script call, and each member gets what is sent to its group."""
    plain = redis.Redis.from_url(redis_url)

    def script_calls():
        stats = plain.info("commandstats")
        return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("eval", "evalsha"))

    async def scenario():
        hub = Hub(layer)
        await hub.start()
        first = Collector(1)
        await hub.join("storm.0", first)
        before = script_calls()
        members = [Collector(1) for _ in range(50)]
        await asyncio.gather(*(hub.join(f"storm.{n}", member) for n, member in enumerate(members, 1)))
        calls = script_calls() - before
        client = sync_client(layer)
        await asyncio.to_thread(
            lambda: [
                client.group_send(f"storm.{n}", {"type": "x", "group": f"storm.{n}", "frame": {"n": n}})
                for n in range(51)
            ]
        )
        for member in [first, *members]:
            await asyncio.wait_for(member.all_arrived.wait(), 10)
        await asyncio.wait_for(hub.close(), 5)
        return calls, [member.texts for member in [first, *members]]

    calls, texts = async_to_sync(scenario)()
    assert calls == 1
    assert texts == [[n] for n in range(51)]


@needs_redis
def test_a_failed_group_add_fails_each_join_that_waited_for_it_and_the_next_tries_again(layer, monkeypatch):
    async def scenario():
        hub = Hub(layer)
        await hub.start()
        outcomes = []
        real = redis_store.group_add_many

        async def down(*args, **kwargs):
            raise ConnectionError("Redis is down")

        monkeypatch.setattr(redis_store, "group_add_many", down)
        results = await asyncio.gather(*(hub.join(f"down.{n}", Collector(1)) for n in range(3)), return_exceptions=True)
        outcomes.append([type(result).__name__ for result in results])
        monkeypatch.setattr(redis_store, "group_add_many", real)
        member = Collector(1)
        await hub.join("down.0", member)
        client = sync_client(layer)
        await asyncio.to_thread(client.group_send, "down.0", {"type": "x", "group": "down.0", "frame": {"n": 0}})
        await asyncio.wait_for(member.all_arrived.wait(), 10)
        outcomes.append(member.texts)
        await asyncio.wait_for(hub.close(), 5)
        return outcomes

    assert async_to_sync(scenario)() == [["ConnectionError"] * 3, [0]]


@needs_redis
def test_a_socket_that_joins_while_its_group_is_discarded_waits_and_gets_its_messages(layer, monkeypatch):
    """The refresh drops the groups no socket of the process is in. A socket
    that joins one of them while its discard is in flight waits for it:
    an add sent beside the discard could reach Redis first and be dropped."""

    async def scenario():
        hub = Hub(layer)
        await hub.start()
        old = Collector(1)
        await hub.join("churn", old)
        hub.leave("churn", old)
        release = asyncio.Event()
        real_discard = layer.group_discard

        async def slow_discard(group, channel):
            await release.wait()
            await real_discard(group, channel)

        monkeypatch.setattr(layer, "group_discard", slow_discard)
        refresh = asyncio.ensure_future(hub._refresh())
        await asyncio.sleep(0.05)
        member = Collector(1)
        join = asyncio.ensure_future(hub.join("churn", member))
        await asyncio.sleep(0.1)
        waited = not join.done()
        release.set()
        await asyncio.wait_for(join, 5)
        client = sync_client(layer)
        await asyncio.to_thread(client.group_send, "churn", {"type": "x", "group": "churn", "frame": {"n": 1}})
        await asyncio.wait_for(member.all_arrived.wait(), 10)
        await asyncio.wait_for(refresh, 5)
        await asyncio.wait_for(hub.close(), 5)
        return waited, member.texts

    assert async_to_sync(scenario)() == (True, [1])


@needs_redis
def test_refreshes_that_overlap_run_one_at_a_time(layer, monkeypatch):
    """The refresh loop, the watch and the receive loop's recovery may all
    refresh at once; they take turns, and each group ends added or dropped."""

    async def scenario():
        hub = Hub(layer)
        await hub.start()
        old = Collector(1)
        for group in ("overlap.a", "overlap.b"):
            await hub.join(group, old)
            hub.leave(group, old)
        real_discard, running, most = layer.group_discard, [0], [0]

        async def counted(group, channel):
            running[0] += 1
            most[0] = max(most[0], running[0])
            await asyncio.sleep(0.05)
            await real_discard(group, channel)
            running[0] -= 1

        monkeypatch.setattr(layer, "group_discard", counted)
        await asyncio.wait_for(asyncio.gather(hub._refresh(), hub._refresh(), hub._refresh()), 10)
        member = Collector(1)
        await asyncio.wait_for(hub.join("overlap.a", member), 5)
        client = sync_client(layer)
        await asyncio.to_thread(client.group_send, "overlap.a", {"type": "x", "group": "overlap.a", "frame": {"n": 7}})
        await asyncio.wait_for(member.all_arrived.wait(), 10)
        await asyncio.wait_for(hub.close(), 5)
        return most[0], member.texts

    assert async_to_sync(scenario)() == (1, [7])
