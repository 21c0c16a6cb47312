"""Seen across two tabs on two real daphne processes sharing real Redis."""

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async

from notifications.signals import notify
from tests import factories

pytestmark = [pytest.mark.daphne, pytest.mark.redis]


async def test_opening_the_bell_in_one_process_clears_the_badge_in_the_other(daphne, ws_client, redis_layer):
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    first, second = await asyncio.gather(
        asyncio.to_thread(daphne, redis_url=redis_layer), asyncio.to_thread(daphne, redis_url=redis_layer)
    )
    tabs = [await ws_client(first, alice), await ws_client(second, alice)]
    for tab in tabs:
        assert (await tab.frame("hello"))["unseen_count"] == 0

    for _ in range(3):
        await sync_to_async(notify.send)(bob, recipient=alice, verb="commented on")
    for tab in tabs:
        pushed = [await tab.frame("notification") for _ in range(3)]
        assert pushed[-1]["unseen_count"] == 3 and pushed[-1]["group"]["count"] == 3
    newest = pushed[-1]["notification"]["id"]

    await tabs[0].send({"type": "mark_seen", "up_to": newest})
    for tab in tabs:
        assert await tab.frame("seen") == {"type": "seen", "up_to": newest, "unseen_count": 0}

    # A tab that missed the frame (it connects now) gets the same count from hello.
    late = await ws_client(second, alice)
    hello = await late.frame("hello")
    assert (hello["unseen_count"], hello["unread_count"]) == (0, 3)
    for tab in [*tabs, late]:
        await tab.close()
