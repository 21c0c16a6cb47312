"""Server processes deliver by themselves: the fallback skips a user whose
tab was open and emails one who was away, and an SMTP server that hangs
never holds up a socket. The test process publishes through Redis."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from asgiref.sync import sync_to_async

from notifications.models import Delivery, SocketPresence
from notifications.signals import notify
from tests import factories

pytestmark = [pytest.mark.daphne, pytest.mark.django_db(transaction=True)]


async def wait_until(condition, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await sync_to_async(condition)():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest.mark.redis
async def test_the_fallback_emails_the_user_who_was_away_and_not_those_whose_tab_was_open(
    daphne, ws_client, smtp, redis_layer, settings
):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        **settings.DJANGO_NOTIFICATIONS_CONFIG,
        "CHANNELS": ["email"],
        "FALLBACK_DELAY_SECONDS": 5,
    }
    make = sync_to_async(factories.user)
    here, left, away, bob = (
        await make("here", email="here@example.com"),
        await make("left", email="left@example.com"),
        await make("away", email="away@example.com"),
        await make("bob"),
    )
    server = await asyncio.to_thread(
        daphne,
        redis_url=redis_layer,
        NOTIFICATIONS_HEARTBEAT_SECONDS="1",
        NOTIFICATIONS_DELIVER_SECONDS="1",
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
    )
    tabs = {user.username: await ws_client(server, user) for user in (here, left)}
    for tab in tabs.values():
        await tab.frame("hello")
    await sync_to_async(notify.send)(bob, recipient=[here, left, away], verb="commented on")
    for tab in tabs.values():
        await tab.frame("notification")
    # Two heartbeats: the server has had a presence round with "left" online.
    await tabs["left"].frame("heartbeat")
    await tabs["left"].frame("heartbeat")
    await tabs["left"].close()  # gone before the fallback is due: only its presence row tells
    await wait_until(lambda: SocketPresence.objects.filter(user=left).exists())

    assert await sync_to_async(Delivery.objects.count)() == 3
    await wait_until(lambda: not Delivery.objects.filter(state__in=["pending", "sending"]).exists())
    [message] = smtp.wait_for(1)
    assert message["To"] == "away@example.com"
    for user in (here, left):
        skipped = await sync_to_async(Delivery.objects.get)(recipient=user)
        assert (skipped.state, skipped.last_error) == ("skipped", "a socket of the recipient was open")
    await tabs["here"].close()


@pytest.mark.redis
async def test_an_smtp_server_that_hangs_never_holds_up_a_socket(daphne, ws_client, redis_layer):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()

    make = sync_to_async(factories.user)
    alice, bob = await make("alice", email="alice@example.com"), await make("bob")
    server = await asyncio.to_thread(
        daphne,
        redis_url=redis_layer,
        NOTIFICATIONS_DELIVER_SECONDS="1",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(listener.getsockname()[1]),
    )
    tab = await ws_client(server, alice)
    await tab.frame("hello")
    await sync_to_async(notify.send)(bob, recipient=alice, verb="pinged", channels={"email": "immediate"})
    await tab.frame("notification")
    await wait_until(lambda: bool(accepted))  # the server's delivery thread is now stuck in the SMTP greeting
    await wait_until(lambda: Delivery.objects.filter(state="sending").exists())

    await tab.send({"type": "ping"})
    assert (await tab.frame("pong", timeout=2))["type"] == "pong"
    [(_, [second])] = await sync_to_async(notify.send)(bob, recipient=alice, verb="pinged again")
    assert (await tab.frame("notification", timeout=2))["notification"]["id"] == second.pk
    await tab.close()
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.parametrize("layer", ["memory", "redis"])
async def test_a_tab_open_for_less_than_a_heartbeat_counts_as_present(
    daphne, ws_client, smtp, layer, request, settings
):
    """One user's tab opens and closes between two presence rounds, another
    user's opens just before the fallback is due and stays: neither is
    emailed. On the in-memory layer no one can be asked who is connected."""
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        **settings.DJANGO_NOTIFICATIONS_CONFIG,
        "CHANNELS": ["email"],
        "FALLBACK_DELAY_SECONDS": 4,
    }
    make = sync_to_async(factories.user)
    brief, staying, away, bob = (
        await make("brief", email="brief@example.com"),
        await make("staying", email="staying@example.com"),
        await make("away", email="away@example.com"),
        await make("bob"),
    )
    server = await asyncio.to_thread(
        daphne,
        redis_url=request.getfixturevalue("redis_layer") if layer == "redis" else None,
        NOTIFICATIONS_CHANNELS="email",
        NOTIFICATIONS_FALLBACK_DELAY_SECONDS="4",
        NOTIFICATIONS_DELIVER_SECONDS="1",
        EMAIL_HOST=smtp.host,
        EMAIL_PORT=str(smtp.port),
    )
    await sync_to_async(notify.send)(bob, recipient=[brief, staying, away], verb="commented on")
    tab = await ws_client(server, brief)
    await tab.frame("hello")
    await tab.close()  # long before the 25 s presence round
    await asyncio.sleep(2)
    staying_tab = await ws_client(server, staying)
    await staying_tab.frame("hello")
    await wait_until(lambda: not Delivery.objects.filter(state__in=["pending", "sending"]).exists())
    [message] = smtp.wait_for(1)
    assert message["To"] == "away@example.com"
    await staying_tab.close()
