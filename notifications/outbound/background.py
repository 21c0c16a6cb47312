"""How server processes take part: a hub ticker claims and sends due
deliveries in a worker thread of its own, so a slow SMTP server or push
service never holds up the event loop or the database thread that sockets
use."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections

from notifications.realtime.hub import Hub

logger = logging.getLogger("notifications.outbound")

# One thread per process, apart from the database thread sockets use. The
# ticker awaits each run, so runs never overlap.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notifications-deliver")


def _send_due() -> None:
    from notifications.outbound.services import deliveries_send_due

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
    await asyncio.get_running_loop().run_in_executor(_executor, _send_due)
