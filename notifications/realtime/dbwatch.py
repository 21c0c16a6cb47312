"""Waking the server processes' database watch through PostgreSQL.

On a channel layer that reaches only its own process (the in-memory one),
server processes look at the database every WATCH_SECONDS for what other
processes stored. On PostgreSQL, a process that stores a notification or
publishes an announcement also sends ``NOTIFY`` in the same transaction;
PostgreSQL delivers it at commit (and drops it on rollback), and each server
process that ``LISTEN``s looks at once instead of at its next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.db import DatabaseError, connections

logger = logging.getLogger("notifications.realtime")

CHANNEL = "notifications_live_watch"


def on_postgresql(using: str = "default") -> bool:
    return connections[using].vendor == "postgresql"


def wake_watchers(*, using: str = "default") -> None:
    """Inside the writing transaction: wake every listening server process
    when it commits. Nothing on other databases."""
    if on_postgresql(using):
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


def _conninfo(using: str) -> str:
    import psycopg  # only on PostgreSQL, whose sites have it

    params: dict[str, Any] = connections[using].get_connection_params()
    keep = {"dbname", "user", "password", "host", "port", "sslmode", "sslrootcert", "sslcert", "sslkey", "options"}
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if k in keep and v not in (None, "")})


async def listen(on_wake: Callable[[], Awaitable[None]], *, using: str = "default") -> None:
    """Call ``on_wake()`` after each commit that woke the watchers, while the
    LISTEN connection lives; several wake-ups while a call runs make one more
    call. Raises DatabaseError when the connection fails, for the caller to
    retry."""
    import psycopg  # only on PostgreSQL, whose sites have it

    wake = asyncio.Event()

    async def look() -> None:
        while True:
            await wake.wait()
            wake.clear()
            try:
                await on_wake()
            except Exception:
                logger.exception("the database watch failed")

    looking = asyncio.create_task(look(), name="dbwatch-look")
    try:
        async with await psycopg.AsyncConnection.connect(_conninfo(using), autocommit=True) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            async for _ in connection.notifies():
                wake.set()
    except psycopg.Error as exc:
        raise DatabaseError(str(exc)) from exc
    finally:
        looking.cancel()
