"""Preferences on a real daphne and Redis: a change made elsewhere reaches
every open tab of that user, and no one else's."""

from __future__ import annotations

import asyncio

import pytest

from tests import factories
from tests.unit.test_channels_preferences import CONFIG

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def channels_on(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = dict(CONFIG)


@pytest.mark.daphne
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
async def test_a_change_made_elsewhere_reaches_every_open_tab_of_that_user(daphne, ws_client, redis_layer):
    from asgiref.sync import sync_to_async

    from notifications.outbound.services import preference_set

    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    alices, bobs = await ws_client(server, alice), await ws_client(server, bob)
    for socket in (alices, bobs):
        await socket.frame("hello")

    await sync_to_async(preference_set)(user=alice, category="mentions", channel="email", frequency="daily")
    frame = await alices.frame("preferences")
    assert frame["preferences"]["categories"][1]["frequencies"] == {"email": "daily", "webpush": "immediate"}
    await bobs.nothing(within=0.5)
    for socket in (alices, bobs):
        await socket.close()
