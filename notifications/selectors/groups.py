"""Grouping: rows stay rows, and a read shows them as entries.

A recipient's unread notifications with the same ``group_key`` whose time is
within GROUP_WINDOW_SECONDS of the newest of them are one entry: "bob and 3
others commented on Design doc". Every other row (read, without a key, or
older than its key's window) is an entry of its own. The newest row of a
group is its head: the entry shows it, with the count and up to three actors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext, ngettext

from notifications import protocol
from notifications.conf import conf
from notifications.registry import has_queryset_filters
from notifications.selectors.notifications import RELATED, notifications_of
from notifications.selectors.prepared import STAND_IN_ID, PreparedQuery, as_datetime, as_id, stand_in_datetime
from notifications.swappable import load_notification_model

# Actor names an entry shows ("bob, carol and dave").
GROUP_ACTORS = 3


def group_window() -> timedelta:
    return timedelta(seconds=conf.group_window_seconds)


def single_key(notification_id: int) -> str:
    """The key of a row that is an entry of its own; no stored key starts
    with '#' followed by an id and is also a group of more than one row."""
    return f"#{notification_id}"


@dataclass
class Entry:
    """One line of the grouped inbox: ``notification`` is the newest row."""

    notification: Any
    key: str
    count: int = 1
    actors: list[str] = field(default_factory=list)

    @property
    def latest_id(self) -> int:
        return self.notification.pk

    @property
    def others(self) -> int:
        return self.count - 1

    @property
    def actors_text(self) -> str:
        """ "bob", "bob and carol", "bob, carol and 3 others": the names, and
        how many rows more there are than names."""
        names = self.actors or [str(self.notification.actor)]
        others = self.count - len(names)
        if others > 0:
            return ngettext("%(names)s and %(count)d other", "%(names)s and %(count)d others", others) % {
                "names": ", ".join(names),
                "count": others,
            }
        if len(names) == 1:
            return names[0]
        return gettext("%(names)s and %(last)s") % {"names": ", ".join(names[:-1]), "last": names[-1]}

    def as_group(self) -> dict[str, Any]:
        return group_object(key=self.key, count=self.count, actors=self.actors, latest_id=self.latest_id)


def group_object(*, key: str, count: int, actors: list[str], latest_id: int) -> dict[str, Any]:
    """The ``group`` field of a ``notification`` frame and a ``sync`` item;
    each name cut as a stub's text is, so the group fits beside its item."""
    names = [name[: protocol.STUB_TEXT] for name in actors]
    return {"key": key, "count": count, "actors": names, "latest_id": latest_id}


def _keyed_unread(queryset: QuerySet) -> QuerySet:
    # ``unread = true`` rather than Django's bare ``unread`` for True: SQLite
    # then seeks the (recipient, group_key, unread, timestamp) index on all
    # four columns instead of scanning every row of the key.
    return queryset.filter(unread=Value(True)).exclude(group_key="")


def group_entries(*, user: Any, unread_only: bool, offset: int, limit: int, request: Any = None) -> list[Entry]:
    """A page of entries, newest first: ``limit`` entries from ``offset``
    (ask for one more to learn whether a next page exists).

    One query finds the page's entries with their counts and actors
    (``_entry_rows``), compiled once per process. Then one query per actor
    type loads the actors (the heads' and the others named) and the targets
    and action objects load as on the ungrouped page: a fixed number of
    queries in all, whatever the number of groups.
    """
    model = load_notification_model()
    using = router.db_for_read(model)
    statement = None
    if request is None or not has_queryset_filters():
        statement = _ENTRY_ROWS[unread_only].statement(user.pk, using=using)
    if statement is None:
        rows = _entry_rows(notifications_of(user=user, request=request), unread_only=unread_only)
        page = list(rows.using(using).prefetch_related(*_RELATED_BUT_ACTOR)[offset : offset + limit])
    else:
        sql, params = statement
        raw = model.objects.raw(f"{sql} LIMIT %s OFFSET %s", [*params, limit, offset], using=using)
        page = list(raw.prefetch_related(*_RELATED_BUT_ACTOR))
    named = [(n.actor_content_type_id, n.actor_object_id) for n in page]
    for n in page:
        named += [_parse_actor_key(key) for key in (n.second_actor, n.third_actor) if key]
    actors = _actor_objects(named)
    fields = {name: model._meta.get_field(name) for name in ("actor", *_CONTENT_TYPES)}
    for n in page:
        # What with_related would have loaded, so rendering costs no query.
        for name in _CONTENT_TYPES:
            type_id = getattr(n, f"{name}_id")
            if type_id is not None:
                fields[name].set_cached_value(n, ContentType.objects.get_for_id(type_id))
        fields["actor"].set_cached_value(n, actors.get((n.actor_content_type_id, str(n.actor_object_id))))
    return [_entry_of(n, actors) for n in page]


def _entry_of(row: Any, actors: dict[tuple[int, str], Any]) -> Entry:
    """The entry of a row of ``_entry_rows``, its actors loaded."""
    if not row.is_head:
        return Entry(notification=row, key=single_key(row.pk), actors=[str(row.actor)])
    names: list[str] = []
    others = [actors.get(_parse_actor_key(key)) for key in (row.second_actor, row.third_actor) if key]
    for found in (row.actor, *others):
        if found is not None and str(found) not in names:
            names.append(str(found))
    return Entry(notification=row, key=row.group_key, count=row.group_count, actors=names)


def _entry_rows(mine: QuerySet, *, unread_only: bool) -> QuerySet:
    """The entries of ``mine`` (a recipient's rows), newest first, each row
    with ``is_head``, ``group_count``, ``second_actor`` and ``third_actor``.

    A row is left out when a newer unread row of its key exists and it lies
    within the window of its key's newest, so the database walks the rows
    newest first and stops after the page instead of grouping all of them.
    Only for a head (the newest unread row of its key) do subqueries count
    the rows within its window and find the next two actors: each an index
    range over that one group's rows.
    """
    same_key = _keyed_unread(mine).filter(group_key=OuterRef("group_key"))
    # The range on timestamp alone lets the index seek; the tie on id filters.
    newer = same_key.filter(timestamp__gte=OuterRef("timestamp")).filter(
        Q(timestamp__gt=OuterRef("timestamp")) | Q(id__gt=OuterRef("id"))
    )
    window = group_window()
    beyond_window = same_key.filter(timestamp__gt=Shifted(OuterRef("timestamp"), window))
    in_group = Q(unread=True) & ~Q(group_key="")
    head = in_group & ~Exists(newer)
    members = _members(mine, OuterRef)
    # COUNT(*) as a plain function: an aggregate would add a GROUP BY, and
    # COUNT("id") would read every row on PostgreSQL, the index lacking ids.
    count = members.order_by().annotate(n=Func(template="COUNT(*)", output_field=IntegerField())).values("n")
    second = _other_actors(mine, OuterRef)[:1]
    # The second actor found again one level down: naming the outer
    # ``second_actor`` would repeat its head test for every row looked at.
    second_again = _other_actors(mine, lambda name: OuterRef(OuterRef(name)))[:1]
    third = _other_actors(mine, OuterRef).exclude(actor_key=Subquery(second_again))[:1]
    rows = mine.filter(unread=True) if unread_only else mine
    return (
        rows.exclude(in_group & Exists(newer) & ~Exists(beyond_window))
        .annotate(
            is_head=ExpressionWrapper(head, output_field=BooleanField()),
            group_count=Case(When(head, then=Subquery(count)), default=Value(1)),
            second_actor=Case(When(head, then=Subquery(second)), default=Value(None), output_field=CharField()),
        )
        .annotate(
            third_actor=Case(When(head, then=Subquery(third)), default=Value(None), output_field=CharField()),
        )
        .order_by("-timestamp", "-id")
    )


def _members(mine: QuerySet, head: Callable[[str], Any]) -> QuerySet:
    """The rows in the group of a head, whose fields ``head(name)`` refers to."""
    return _keyed_unread(mine).filter(
        group_key=head("group_key"), timestamp__gte=Shifted(head("timestamp"), -group_window())
    )


def _other_actors(mine: QuerySet, head: Callable[[str], Any]) -> QuerySet:
    """The actors (``_actor_key``) of the rows in a head's group other than
    the head's actor, newest first."""
    return (
        _members(mine, head)
        .exclude(actor_content_type=head("actor_content_type"), actor_object_id=head("actor_object_id"))
        .annotate(actor_key=_actor_key())
        .order_by("-timestamp", "-id")
        .values("actor_key")
    )


def _entry_rows_of(unread_only: bool) -> PreparedQuery:
    return PreparedQuery.by_id(
        lambda user_id: _entry_rows(notifications_of(user=user_id), unread_only=unread_only),
        key=lambda: (load_notification_model()._meta.label, conf.soft_delete, conf.group_window_seconds),
    )


# A page's query costs several times more to build than to run.
_ENTRY_ROWS = {unread_only: _entry_rows_of(unread_only) for unread_only in (False, True)}
_CONTENT_TYPES = ("actor_content_type", "target_content_type", "action_object_content_type")
# group_entries loads the actors itself, together with the others its
# entries name.
_RELATED_BUT_ACTOR = tuple(name for name in RELATED if name != "actor")


class Shifted(Func):
    """A datetime ``by`` later (earlier if negative). On SQLite, where Django
    computes date arithmetic in a Python function per row, SQLite's own
    ``datetime()`` shifts the whole seconds of Django's stored text and the
    fraction is put back unchanged, which is exact for a whole number of
    seconds."""

    output_field = DateTimeField()

    def __init__(self, expression: Any, by: timedelta):
        super().__init__(expression, expression + by)
        self.by = by

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return compiler.compile(self.source_expressions[1])

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        if self.by.microseconds:
            return self.as_sql(compiler, connection, **extra)
        sql, params = compiler.compile(self.source_expressions[0])
        modifier = f"{int(self.by.total_seconds()):+d} seconds"
        return f"(datetime(substr({sql}, 1, 19), %s) || substr({sql}, 20))", [*params, modifier, *params]


def _actor_key() -> Concat:
    """A row's actor as one string, "<content type id>:<object id>"."""
    return Concat(
        Cast("actor_content_type_id", output_field=CharField()),
        Value(":"),
        "actor_object_id",
        output_field=CharField(),
    )


def _parse_actor_key(key: str) -> tuple[int, str]:
    type_id, object_id = key.split(":", 1)
    return int(type_id), object_id


def _actor_objects(actors: list[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    """The actor objects by (content type id, object id): one query per
    actor type (content types come from Django's cache)."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for type_id, object_id in actors:
        wanted[type_id].add(str(object_id))
    found: dict[tuple[int, str], Any] = {}
    for type_id, object_ids in wanted.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        if model is None:
            continue
        for obj in model._default_manager.filter(pk__in=object_ids):
            found[type_id, str(obj.pk)] = obj
    return found


@dataclass(frozen=True)
class Row:
    """What grouping needs of a row; ``actor`` is its actor's name."""

    id: int
    recipient_id: int
    group_key: str
    unread: bool
    timestamp: Any
    actor: str


def row_of(notification: Any) -> Row:
    return Row(
        notification.pk,
        notification.recipient_id,
        notification.group_key,
        notification.unread,
        notification.timestamp,
        str(notification.actor),
    )


def copy_rows(event: dict[str, Any], copies: list[tuple[int, int]]) -> list[Row]:
    """The Rows of some of a bulk send's copies, (recipient, id) pairs, from
    its protocol.CREATED_EVENT. The event's stored ``timestamp`` counts, not
    the payload's, which is cut to milliseconds: a group measured from that
    looks newer than its row, and costs three queries more."""
    shared = event["shared"]
    timestamp = event.get("timestamp") or shared["timestamp"]
    if isinstance(timestamp, str):
        timestamp = datetime.fromisoformat(timestamp)
    key, unread, actor = event.get("group_key", ""), bool(shared.get("unread", True)), shared.get("actor", "")
    return [Row(pk, user_id, key, unread, timestamp, actor) for user_id, pk in copies]


def groups_of(rows: list[Row]) -> dict[int, dict[str, Any]]:
    """The current ``group`` object of each row (of any recipients), by id,
    in a fixed number of queries whatever their number.

    The window is first taken from the newest listed row of each (recipient,
    key): for a push, that row is the group's newest, and one query counts
    the group and finds its actors. A group with a newer row than the
    listed ones (a sync of older rows) takes one query more for its newest
    time, and another for its rows."""
    keyed = [r for r in rows if r.unread and r.group_key]
    listed: dict[tuple[int, str], Any] = {}
    for r in keyed:
        group = (r.recipient_id, r.group_key)
        if group not in listed or r.timestamp > listed[group]:
            listed[group] = r.timestamp
    # A row whose actor is gone is named "None" (row_of): its group asks the
    # database, which leaves it out, as for any other row.
    stats = _group_stats(listed, {r.id: r.actor for r in keyed if r.actor not in ("", "None")})
    newest = {group: listed[group] for group, found in stats.items() if found.pop("newest") <= listed[group]}
    later = [group for group in listed if group not in newest]
    if later:
        by_key: dict[str, set[int]] = defaultdict(set)
        for user_id, key in later:
            by_key[key].add(user_id)
        pairs = Q()
        for key, user_ids in by_key.items():
            pairs |= Q(group_key=key, recipient_id__in=user_ids)
        queryset = _live(load_notification_model().objects.filter(pairs).filter(unread=True))
        found_newest = {
            (row["recipient_id"], row["group_key"]): row["newest"]
            for row in queryset.order_by().values("recipient_id", "group_key").annotate(newest=Max("timestamp"))
        }
        newest.update(found_newest)
        later_stats = _group_stats(found_newest)
        for found in later_stats.values():
            found.pop("newest")
        stats.update(later_stats)
    window = group_window()
    groups: dict[int, dict[str, Any]] = {}
    for r in rows:
        group = (r.recipient_id, r.group_key)
        member = r.unread and r.group_key and group in newest and r.timestamp >= newest[group] - window
        found = stats.get(group) if member else None
        if found is None:
            groups[r.id] = group_object(key=single_key(r.id), count=1, actors=[r.actor], latest_id=r.id)
        else:
            groups[r.id] = group_object(key=r.group_key, **found)
    return groups


def _live(queryset: QuerySet) -> QuerySet:
    return queryset.filter(deleted=False) if conf.soft_delete else queryset


def _group_stats(
    newest: dict[tuple[int, str], Any], known: dict[int, str] | None = None
) -> dict[tuple[int, str], dict[str, Any]]:
    """Count, latest id, actors and newest time of each (recipient, key)
    group, given the time its window is measured from. ``known``: actor
    names by row id, which save the names query for those rows' actors."""
    if not newest:
        return {}
    rows = _actor_rows(newest)
    known = known or {}
    # An actor whose newest row here is a listed one is named by that row:
    # a push into a group of one actor asks for no names.
    named = {
        (type_id, object_id): known[last] for (_, _, type_id, object_id), (_, last, _) in rows.items() if last in known
    }
    names = _actor_names({found: at for found, at in rows.items() if (found[2], found[3]) not in named})
    names.update(named)
    stats: dict[tuple[int, str], dict[str, Any]] = {}
    for (user_id, key, type_id, object_id), (count, last, time) in sorted(rows.items(), key=lambda item: -item[1][1]):
        group = stats.setdefault((user_id, key), {"count": 0, "actors": [], "latest_id": last, "newest": time})
        group["count"] += count
        group["newest"] = max(group["newest"], time)
        name = names.get((type_id, object_id))
        if name is not None and len(group["actors"]) < GROUP_ACTORS and name not in group["actors"]:
            group["actors"].append(name)
    return stats


def _actor_rows(newest: dict[tuple[int, str], Any]) -> dict[tuple[int, str, int, str], tuple[int, int, Any]]:
    """(recipient, key, actor type, actor id) -> (rows, newest id, newest
    time), for the
    rows within each group's window: one query. Groups that share a key and
    a cutoff (a bulk send's) share one condition."""
    window = group_window()
    if len(newest) == 1:
        [((user_id, key), time)] = newest.items()
        return _one_group_rows(user_id, key, time - window)
    by_cutoff: dict[tuple[str, Any], set[int]] = defaultdict(set)
    for (user_id, key), time in newest.items():
        by_cutoff[key, time - window].add(user_id)
    condition = Q()
    for (key, cutoff), user_ids in by_cutoff.items():
        condition |= Q(group_key=key, timestamp__gte=cutoff, recipient_id__in=user_ids)
    values = _actor_values(load_notification_model().objects.filter(condition))
    return {(u, k, t, o): (n, last, time) for u, k, t, o, n, last, time in values}


def _actor_values(queryset: QuerySet) -> QuerySet:
    return (
        _live(queryset.filter(unread=True))
        .order_by()
        .values("recipient_id", "group_key", "actor_content_type_id", "actor_object_id")
        .annotate(n=Count("id"), last=Max("id"), time=Max("timestamp"))
        .values_list("recipient_id", "group_key", "actor_content_type_id", "actor_object_id", "n", "last", "time")
    )


def _one_group_rows(user_id: int, key: str, cutoff: Any) -> dict[tuple[int, str, int, str], tuple[int, int, Any]]:
    """``_actor_rows`` of one group, in a query compiled once: every personal
    push asks it, and building it was half the push's cost."""
    db = router.db_for_read(load_notification_model())
    statement = _one_group.statement(user_id, key, cutoff, using=db)
    if statement is None:
        values: Any = _one_group.build(user_id, key, cutoff).using(db)
    else:
        with connections[db].cursor() as cursor:
            cursor.execute(*statement)
            values = [(*row[:6], _from_db_datetime(row[6], connections[db])) for row in cursor.fetchall()]
    return {(u, k, t, o): (n, last, time) for u, k, t, o, n, last, time in values}


_one_group = PreparedQuery(
    lambda user_id, key, cutoff: _actor_values(
        load_notification_model().objects.filter(group_key=key, timestamp__gte=cutoff, recipient_id=user_id)
    ),
    stand_ins=lambda: (STAND_IN_ID, "\x00stand-in group key", stand_in_datetime()),
    adapt=(as_id, as_id, as_datetime),
    key=lambda: (load_notification_model(), conf.soft_delete),
)

_DATETIME_VALUE = Value(None, output_field=DateTimeField())


def _from_db_datetime(value: Any, connection: Any) -> Any:
    """A DateTimeField's value as the cursor gave it, converted as the ORM
    converts it (SQLite returns text)."""
    for converter in connection.ops.get_db_converters(_DATETIME_VALUE):
        value = converter(value, _DATETIME_VALUE, connection)
    return value


def _actor_names(rows: dict[tuple[int, str, int, str], tuple[int, int, Any]]) -> dict[tuple[int, str], str]:
    """str() of each actor, one query per actor type."""
    actors = _actor_objects([(type_id, object_id) for _, _, type_id, object_id in rows])
    return {found: str(obj) for found, obj in actors.items()}


def group_rows(*, user: Any, notification_id: int) -> QuerySet:
    """The rows of the group that the row ``notification_id`` belongs to:
    the unread rows of its key within the window of the newest, or that row
    alone when it is not in a group."""
    mine = notifications_of(user=user)
    row = mine.filter(id=notification_id).values("id", "unread", "group_key", "timestamp").first()
    if row is None:
        return mine.none()
    if not row["unread"] or not row["group_key"]:
        return mine.filter(id=notification_id)
    keyed = _keyed_unread(mine).filter(group_key=row["group_key"])
    newest = keyed.aggregate(m=Max("timestamp"))["m"]
    if newest is None or row["timestamp"] < newest - group_window():
        # None: the group was read meanwhile (another tab, another process).
        return mine.filter(id=notification_id)
    return keyed.filter(timestamp__gte=newest - group_window())
