"""How server processes take part: a hub ticker claims and sends due
deliveries in a worker thread of its own, so a slow SMTP server or push
service never holds up the event loop or the database thread that sockets
use."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from django.db import close_old_connections, connections

from notifications.outbound.services import deliveries_send_due
from notifications.realtime.hub import Hub

logger = logging.getLogger("notifications.outbound")


def _send_due() -> None:
    close_old_connections()
    try:
        report = deliveries_send_due()
        if report.claimed:
            logger.info(
                "deliveries: %d sent, %d skipped, %d deferred, %d to retry, %d failed",
                len(report.sent),
                len(report.skipped),
                len(report.deferred),
                len(report.retrying),
                len(report.failed),
            )
    finally:
        connections.close_all()


async def send_due_deliveries(hub: Hub) -> None:
    """Every DELIVER_SECONDS, in every server process."""
    # A thread of its own, apart from the database thread sockets use, and
    # a daemon: a server shutting down never waits for an SMTP server that
    # hangs (the rows it held are taken over after their lease). The ticker
    # awaits each run, so runs never overlap.
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def run() -> None:
        outcome: BaseException | None = None
        try:
            _send_due()
        except BaseException as exc:
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped meanwhile
            loop.call_soon_threadsafe(_settle, done, outcome)

    threading.Thread(target=run, name="notifications-deliver", daemon=True).start()
    await done


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
