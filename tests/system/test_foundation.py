"""The demo site on a real daphne: an idle socket over real Redis outlives
redis-py 8's timeout, and alice logs in in Chromium."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from tests import factories
from tests.conftest import browser_login


@pytest.mark.daphne
@pytest.mark.redis
async def test_an_idle_socket_outlives_the_redis_py_8_timeout(daphne, ws_client, redis_layer):
    """redis-py 8's default socket_timeout of 5 s kills channels-redis's
    blocking receive; the layer config must keep an idle socket alive: a push
    through Redis still reaches it after the server's Redis reads sat idle."""
    from notifications.signals import notify

    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    socket = await ws_client(server, alice)
    assert (await socket.frame("hello"))["user"] == alice.pk
    await asyncio.sleep(7)  # idle past redis-py's 5 s socket timeout: the scenario itself
    [(_, [created])] = await sync_to_async(notify.send)(bob, recipient=alice, verb="pinged")
    pushed = await socket.frame("notification", timeout=5)
    assert pushed["notification"]["id"] == created.id
    await socket.close()
    assert "TimeoutError" not in server.log_text()


@pytest.mark.browser
def test_alice_logs_in_and_sees_her_name(daphne, new_page):
    factories.user("alice")
    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")
    assert page.inner_text("[data-testid=username]") == "alice"
