"""Chat on real daphne processes sharing real Redis: messages and presence
across processes and tabs, and a killed process's presence expiring."""

import asyncio
import signal

import pytest

from tests import factories

pytestmark = [pytest.mark.daphne, pytest.mark.redis]

FAST_PRESENCE = {"CHAT_PRESENCE_REFRESH_SECONDS": "0.5", "CHAT_PRESENCE_TIMEOUT_SECONDS": "2"}


async def two_servers(daphne, redis_url, **env):
    return await asyncio.gather(
        asyncio.to_thread(daphne, redis_url=redis_url, **env),
        asyncio.to_thread(daphne, redis_url=redis_url, **env),
    )


async def enter(ws_client, server, user, slug="general"):
    socket = await ws_client(server, user, path=f"/ws/chat/{slug}/")
    await socket.frame("history")
    presence = await socket.frame("presence")
    return socket, presence


async def until_online(socket, names, start, timeout=8):
    """Follow join/leave frames from the ``start`` presence frame until
    exactly ``names`` are online."""
    online = {u["username"] for u in start["online"]}
    async with asyncio.timeout(timeout):
        while online != names:
            data = await socket.frame(skip=("heartbeat", "typing", "message"))
            if data["type"] == "presence":
                online = {u["username"] for u in data["online"]}
            elif data["type"] == "join":
                online = online | {data["user"]["username"]}
            elif data["type"] == "leave":
                online = online - {data["user"]["username"]}
    return online


@pytest.fixture
def people(transactional_db):
    users = [factories.user(name) for name in ("alice", "bob", "carol")]
    factories.room("general")
    return users


async def test_presence_and_messages_across_two_processes_and_two_tabs(daphne, ws_client, redis_layer, people):
    alice, bob, carol = people
    first, second = await two_servers(daphne, redis_layer)
    alices, start = await enter(ws_client, first, alice)
    bob_tab1, _ = await enter(ws_client, second, bob)
    bob_tab2, presence = await enter(ws_client, first, bob)
    assert {u["username"] for u in presence["online"]} == {"alice", "bob"}
    assert await until_online(alices, {"alice", "bob"}, start) == {"alice", "bob"}

    # A message from one process reaches the other process's sockets, and
    # both of bob's tabs.
    await alices.send({"type": "message", "body": "hello from process one", "client_id": "m1"})
    for socket in (bob_tab1, bob_tab2, alices):
        assert (await socket.frame("message", skip=("heartbeat", "join", "presence")))["message"]["body"] == (
            "hello from process one"
        )

    # Closing one of bob's tabs keeps him online; closing the last does not.
    await bob_tab1.close()
    carols, presence = await enter(ws_client, second, carol)
    assert {u["username"] for u in presence["online"]} == {"alice", "bob", "carol"}
    await bob_tab2.close()
    assert await until_online(carols, {"alice", "carol"}, presence) == {"alice", "carol"}
    await alices.close()
    await carols.close()


async def test_a_killed_process_presence_entries_expire(daphne, ws_client, redis_layer, people):
    alice, bob, _ = people
    survivor, doomed = await two_servers(daphne, redis_layer, **FAST_PRESENCE)
    alices, start = await enter(ws_client, survivor, alice)
    _bobs, _ = await enter(ws_client, doomed, bob)
    assert await until_online(alices, {"alice", "bob"}, start) == {"alice", "bob"}

    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    doomed.stop(signal.SIGKILL)
    # The killed process never ran its disconnect; the survivor expires its
    # entries within the timeout plus one refresh, and tells the room.
    assert await until_online(alices, {"alice"}, {"online": [{"username": "alice"}, {"username": "bob"}]}, 10) == {
        "alice"
    }
    assert loop.time() - killed_at < 2 + 0.5 + 2
    again, presence = await enter(ws_client, survivor, alice)
    assert [u["username"] for u in presence["online"]] == ["alice"]
    await again.close()
    await alices.close()
