"""Commits and pushes, with real daphne and real Redis: a rolled-back write
pushes nothing, and a notification that commits late, below a reconnecting
client's cursor, still reaches it."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.db import connections, transaction

from notifications.signals import notify
from tests import factories
from tests.conftest import session_cookie
from tests.live import connect

pytestmark = [pytest.mark.daphne, pytest.mark.redis]


async def test_a_write_rolled_back_inside_atomic_pushes_nothing(daphne, redis_layer):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    socket = await connect(server, cookie=await sync_to_async(session_cookie)(alice))
    await socket.frame("hello")

    def send_then_roll_back():
        try:
            with transaction.atomic():
                notify.send(bob, recipient=alice, verb="rolled back")
                raise RuntimeError("abort")
        except RuntimeError:
            pass

    await sync_to_async(send_then_roll_back)()
    await socket.nothing(within=1.0)
    [(_, [kept])] = await sync_to_async(notify.send)(bob, recipient=alice, verb="committed")
    assert (await socket.frame("notification"))["notification"]["id"] == kept.id
    await socket.close()


@pytest.mark.postgres
async def test_a_late_commit_below_the_cursor_still_reaches_a_reconnecting_client(daphne, redis_layer):
    """105 commits before 104, and the client reconnects in between: its
    sync from 105 must still bring 104 (docs/protocol.md, out-of-order commits)."""
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    cookie = await sync_to_async(session_cookie)(alice)
    server = await asyncio.to_thread(daphne, redis_url=redis_layer)
    inserted, release = threading.Event(), threading.Event()
    ids = {}

    def slow_writer():
        try:
            with transaction.atomic():
                [(_, [n])] = notify.send(bob, recipient=alice, verb="late")
                ids["late"] = n.id
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()  # this thread's own connection

    socket = await connect(server, cookie=cookie)
    await socket.frame("hello")
    writer = threading.Thread(target=slow_writer)
    writer.start()
    await asyncio.to_thread(inserted.wait, 10)
    [(_, [early])] = await sync_to_async(notify.send)(bob, recipient=alice, verb="early")
    assert early.id > ids["late"]  # a higher id, committed first
    assert (await socket.frame("notification"))["notification"]["id"] == early.id
    await socket.close()  # the client goes away with its cursor at `early`

    release.set()
    await asyncio.to_thread(writer.join, 10)  # `late` commits while nobody listens

    socket = await connect(server, cookie=cookie)
    await socket.frame("hello")
    await socket.send({"type": "sync", "after": early.id})
    replay = await socket.frame("sync")
    # The client lacks one of the recent ids below its cursor: it syncs from just below it.
    assert replay["notifications"] == [] and ids["late"] in replay["recent"]
    await socket.send({"type": "sync", "after": ids["late"] - 1})
    replay = await socket.frame("sync")
    assert ids["late"] in [n["id"] for n in replay["notifications"]]
    await socket.close()
