"""Queries compiled once per process, then run again with other values.

Building and compiling a Django query costs several times what SQLite or
PostgreSQL take to run a small one, and every push computes a badge count
(docs/benchmarks.md). A ``PreparedQuery`` builds its QuerySet once
with stand-in values, keeps the SQL the database's compiler made of it, and
runs that SQL again with the real values put where the stand-ins were. The
QuerySet is the real one (a swapped model, its ``unread()``, ``SOFT_DELETE``),
so the SQL is what the ORM would run. Where a stand-in cannot be found in the
compiled parameters, the query is built each time as usual.

``rows()`` is only for queries whose columns need no conversion from the
database (counts, ids): rows come back as the cursor gives them.
``statement()`` gives the SQL and parameters, for ``Model.objects.raw()``,
which converts each field as the ORM does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import DateTimeField, QuerySet

# Values no real query is called with (ids are positive).
STAND_IN_ID = -1_999_999_973  # inside a 32-bit integer: Django treats an out-of-range id as no match


def stand_in_datetime() -> datetime:
    return datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC if settings.USE_TZ else None)


def as_id(value: Any, connection: Any) -> Any:
    return value


_DATETIME = DateTimeField()


def as_datetime(value: Any, connection: Any) -> Any:
    """``value`` as a DateTimeField sends it to ``connection``'s database."""
    return _DATETIME.get_db_prep_value(value, connection)


class PreparedQuery:
    """``build(*values)`` returns a ``values_list`` QuerySet; ``rows(*values)``
    runs it. ``stand_ins`` are the values it is compiled with and ``adapt``
    turns a value into the parameter the compiler makes of it, one per
    value. ``key()`` names whatever else changes the SQL (settings, a swapped
    model): a new key compiles again."""

    def __init__(
        self,
        build: Callable[..., QuerySet],
        *,
        stand_ins: Callable[[], tuple[Any, ...]],
        adapt: tuple[Callable[[Any, Any], Any], ...],
        key: Callable[[], tuple[Any, ...]] = tuple,
    ):
        self.build = build
        self.stand_ins = stand_ins
        self.adapt = adapt
        self.key = key
        self._compiled: dict[tuple[Any, ...], tuple[str, list[Any], list[int | None]] | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def by_id(cls, build: Callable[[Any], QuerySet], *, key: Callable[[], tuple[Any, ...]] = tuple) -> PreparedQuery:
        """A query of one integer id (a user's, say)."""
        return cls(build, stand_ins=lambda: (STAND_IN_ID,), adapt=(as_id,), key=key)

    def rows(self, *values: Any, using: str = "default") -> list[tuple[Any, ...]]:
        statement = self.statement(*values, using=using)
        if statement is None:
            return list(self.build(*values).using(using))
        with connections[using].cursor() as cursor:
            cursor.execute(*statement)
            return cursor.fetchall()

    def statement(self, *values: Any, using: str = "default") -> tuple[str, list[Any]] | None:
        """The SQL and parameters of ``build(*values)``, or None when it has
        to be built each time."""
        key = (using, settings.USE_TZ, *self.key())
        if key not in self._compiled:
            with self._lock:
                if key not in self._compiled:
                    self._compiled[key] = self._compile(using)
        compiled = self._compiled[key]
        if compiled is None:
            return None
        sql, params, slots = compiled
        connection = connections[using]
        adapted = [adapt(value, connection) for adapt, value in zip(self.adapt, values, strict=True)]
        return sql, [param if slot is None else adapted[slot] for param, slot in zip(params, slots, strict=True)]

    def _compile(self, using: str) -> tuple[str, list[Any], list[int | None]] | None:
        """The SQL, its parameters, and for each parameter the index of the
        value that goes there (None: keep it); None if a stand-in is missing."""
        connection = connections[using]
        stand_ins = self.stand_ins()
        try:
            sql, params = self.build(*stand_ins).using(using).query.get_compiler(using=using).as_sql()
        except Exception:
            # An empty result (EmptyResultSet) or a backend that compiles
            # differently: build it each time.
            return None
        marks = [adapt(value, connection) for adapt, value in zip(self.adapt, stand_ins, strict=True)]
        slots = [next((i for i, mark in enumerate(marks) if type(p) is type(mark) and p == mark), None) for p in params]
        if set(range(len(marks))) - set(slots):
            return None
        return sql, list(params), slots
