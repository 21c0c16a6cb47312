"""Writes of the delivery channels: plan a send's deliveries, claim the due
ones exactly once, send them, and record the outcome; preferences, push
subscriptions and socket presence."""

from __future__ import annotations

import contextlib
import functools
import logging
import operator
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.layers import get_channel_layer
from django.db import connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from notifications import delivery, protocol
from notifications.conf import conf
from notifications.outbound import registry
from notifications.outbound.base import Outgoing, Skip
from notifications.outbound.constants import COALESCED, DIGESTS, ChannelName, Frequency, Rule, State
from notifications.outbound.models import ChannelPreference, Delivery, PushSubscription, SocketPresence
from notifications.outbound.push_endpoints import MAX_SUBSCRIPTIONS_PER_USER, check_endpoint
from notifications.outbound.selectors import frequencies_of, frequency_choices, preferences_of, users_last_seen
from notifications.realtime.publish import live_groups
from notifications.realtime.redis_store import is_channels_redis
from notifications.swappable import load_notification_model

logger = logging.getLogger("notifications.outbound")

# Ids per IN (...) list, under every backend's parameter limit.
ID_CHUNK = 5000


@dataclass(frozen=True)
class Plan:
    """Which channels one send goes out on, and how."""

    category: str
    rules: dict[str, str]
    critical: bool = False


def delivery_plan(*, verb: str, channels: Any = None, category: str | None = None, critical: bool = False) -> Plan:
    """Validate a send's ``channels`` and ``category`` (ValueError when
    unknown) before anything is stored."""
    resolved = registry.category_of(str(verb), category)
    return Plan(
        category=resolved,
        rules=registry.rules_for(verb=str(verb), category=resolved, channels=channels),
        critical=bool(critical),
    )


def deliveries_create(*, notifications: list[Any], plan: Plan, using: str) -> int:
    """One pending row per notification and channel of ``plan``, in the
    caller's transaction. All but two columns are the same for every row of
    a channel, so the database copies the notification ids and recipients
    from the rows just stored, by ``INSERT ... SELECT ... WHERE id IN``: a
    send to 10,000 users would otherwise build and prepare 10,000 model
    instances per channel (``bulk_create``), about as long as storing the
    notifications themselves."""
    if not plan.rules or not notifications:
        return 0
    now = timezone.now()
    delay = timedelta(seconds=conf.fallback_delay_seconds)
    connection = connections[using]
    quote = connection.ops.quote_name
    meta, source = Delivery._meta, load_notification_model()._meta
    copied = ["notification_id", "recipient_id"]
    fixed = [f for f in meta.concrete_fields if f is not meta.pk and f.attname not in copied]
    columns = (
        ", ".join(quote(meta.get_field(name).column) for name in copied)
        + ", "
        + ", ".join(quote(f.column) for f in fixed)
    )
    select = f"{quote(source.pk.column)}, {quote(source.get_field('recipient').column)}"
    # One send shares one timestamp, so usually one group per channel.
    by_timestamp: dict[Any, list[int]] = defaultdict(list)
    for n in notifications:
        by_timestamp[n.timestamp].append(n.pk)
    with connection.cursor() as cursor:
        for channel, rule in plan.rules.items():
            for timestamp, ids in by_timestamp.items():
                template = Delivery(
                    channel=channel,
                    category=plan.category,
                    fallback=rule == Rule.FALLBACK,
                    critical=plan.critical,
                    due_at=timestamp + delay if rule == Rule.FALLBACK else now,
                    created_at=now,
                )
                constants = [f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fixed]
                for start in range(0, len(ids), ID_CHUNK):
                    chunk = ids[start : start + ID_CHUNK]
                    cursor.execute(
                        f"INSERT INTO {quote(meta.db_table)} ({columns}) "
                        f"SELECT {select}, {', '.join(['%s'] * len(constants))} FROM {quote(source.db_table)} "
                        f"WHERE {quote(source.pk.column)} IN ({', '.join(['%s'] * len(chunk))})",
                        [*constants, *chunk],
                    )
    return len(notifications) * len(plan.rules)


# Claiming ---------------------------------------------------------------------------


def _due(now: datetime, ignore_delays: bool) -> Q:
    pending = Q(state=State.PENDING)
    if not ignore_delays:
        pending &= Q(due_at__lte=now)
    # A claim whose process died mid-send is taken over after its lease.
    return pending | Q(state=State.SENDING, claimed_until__lt=now)


def deliveries_claim(*, size: int, now: datetime | None = None, ignore_delays: bool = False) -> list[Delivery]:
    """Claim up to ``size`` due deliveries for this caller alone.

    On PostgreSQL (and any database that has it) the candidates are read with
    ``FOR UPDATE SKIP LOCKED``, so concurrent claimers take different rows
    without waiting. Everywhere, the claim itself is a conditional UPDATE
    that only takes rows still due and stamps them with this claim's token:
    a row another claimer took in between no longer matches, so no row is
    claimed twice even where rows cannot be locked (SQLite)."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    due = _due(now, ignore_delays)
    db = router.db_for_write(Delivery)
    claim = {
        "state": State.SENDING,
        "claim": token,
        "claimed_until": now + timedelta(seconds=conf.delivery_lease_seconds),
        "attempts": F("attempts") + 1,
    }
    # Where rows cannot be locked, each statement stands alone: on SQLite a
    # transaction that reads and then writes fails at once ("database is
    # locked") when another claimer read first, while a lone UPDATE waits
    # its turn. The conditional UPDATE is what makes the claim exclusive.
    locking = connections[db].features.has_select_for_update_skip_locked
    with transaction.atomic(using=db) if locking else contextlib.nullcontext():
        # With every delay over, the rows that may still join a digest go
        # first, alone, so that each digest goes out once, whole.
        phases = [due & Q(digest=""), due] if ignore_delays else [due]
        for phase in phases:
            candidates = Delivery.objects.using(db).filter(phase).order_by("due_at", "id")
            if locking:
                candidates = candidates.select_for_update(skip_locked=True)
            ids = list(candidates.values_list("id", flat=True)[:size])
            if ids:
                break
        if not ids:
            return []
        Delivery.objects.using(db).filter(due, id__in=ids).update(**claim)
        # A digest goes out whole: the rest of its recipients' due digest rows too.
        digests = Delivery.objects.using(db).filter(claim=token).exclude(digest="")
        owners = [Q(recipient_id=r, channel=c) for r, c in digests.values_list("recipient_id", "channel").distinct()]
        if owners:
            Delivery.objects.using(db).filter(due, functools.reduce(operator.or_, owners)).exclude(digest="").update(
                **claim
            )
    claimed = list(Delivery.objects.using(db).filter(claim=token).select_related("recipient").order_by("id"))
    notifications = (
        load_notification_model()
        .objects.using(db)
        .filter(pk__in={d.notification_id for d in claimed})
        .prefetch_related("actor", "target", "action_object")
    )
    by_id = {n.pk: n for n in notifications}
    for d in claimed:
        d.notification = by_id.get(d.notification_id)
    return claimed


# Sending ------------------------------------------------------------------------------


@dataclass
class Report:
    """What one run did, for ``notifications_deliver`` and the logs."""

    sent: list[Delivery] = field(default_factory=list)
    failed: list[tuple[Delivery, str]] = field(default_factory=list)
    retrying: list[tuple[Delivery, str]] = field(default_factory=list)
    # Of those, put back without an attempt (_check_again).
    waiting: int = 0
    skipped: list[tuple[Delivery, str]] = field(default_factory=list)
    deferred: list[Delivery] = field(default_factory=list)
    # (claim, values) -> ids, not yet written
    outcomes: dict[tuple[str, tuple[tuple[str, Any], ...]], list[int]] = field(
        default_factory=lambda: defaultdict(list)
    )

    @property
    def claimed(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.retrying) + len(self.skipped) + len(self.deferred)


def deliveries_send_due(
    *, now: datetime | None = None, ignore_delays: bool = False, max_batches: int | None = None
) -> Report:
    """Claim and send due deliveries in batches until none is due. With
    ``ignore_delays`` every pending delay (fallback, digest period, retry
    backoff) counts as over."""
    report = Report()
    batches = 0
    while max_batches is None or batches < max_batches:
        claimed = deliveries_claim(size=conf.delivery_batch_size, now=now, ignore_delays=ignore_delays)
        if not claimed:
            break
        batches += 1
        waiting = report.waiting
        deliveries_send(deliveries=claimed, report=report, now=now)
        if report.waiting - waiting == len(claimed):
            # Everything claimed was put back to wait (with every delay
            # ignored it would be claimed again at once): stop here.
            break
    return report


def deliveries_send(*, deliveries: list[Delivery], report: Report, now: datetime | None = None) -> None:
    """Send claimed deliveries: skip what is read, seen live or turned off,
    defer what the user wants as a digest, and send the rest, a batch per
    channel."""
    now = now or timezone.now()
    for d in [d for d in deliveries if d.notification is None]:
        _skip(d, "the notification was deleted", report)
    deliveries = [d for d in deliveries if d.notification is not None]
    frequencies = frequencies_of(keys={(d.recipient_id, d.category, d.channel) for d in deliveries if not d.critical})
    waiting = {d.recipient_id for d in deliveries if d.fallback and not d.digest}
    last_seen = users_last_seen(user_ids=waiting)
    live = _live_now(waiting)
    singles: dict[str, list[Outgoing]] = defaultdict(list)
    digests: dict[tuple[str, int], Outgoing] = {}
    sent_recently = _sent_recently(deliveries, now)
    for d in deliveries:
        frequency = Frequency.IMMEDIATE if d.critical else frequencies.get((d.recipient_id, d.category, d.channel))
        if not d.notification.unread:
            _skip(d, "read before it was due", report)
        elif getattr(d.notification, "deleted", False):
            _skip(d, "the notification was deleted", report)
        elif d.fallback and not d.digest and _was_online(d, last_seen, live):
            _skip(d, "a socket of the recipient was open", report)
        elif d.fallback and not d.digest and live is None:
            _check_again(d, "the channel layer could not tell whether a socket is open", now, report)
        elif frequency == Frequency.NEVER:
            _skip(d, "turned off in the recipient's preferences", report)
        elif frequency in DIGESTS and not d.digest and registry.get_channel(d.channel).supports_digest:
            _defer_to_digest(d, frequency, now, report)
        elif not d.digest and not d.critical and _over_limit(d, sent_recently, now):
            _coalesce(d, now, report)
        elif d.digest:
            key = (d.channel, d.recipient_id)
            if key not in digests:
                digests[key] = Outgoing(recipient=d.recipient, category=d.category, notifications=[], digest=d.digest)
                singles[d.channel].append(digests[key])
            digests[key].notifications.append(d.notification)
            digests[key].deliveries.append(d)
        else:
            singles[d.channel].append(
                Outgoing(recipient=d.recipient, category=d.category, notifications=[d.notification], deliveries=[d])
            )
    for channel_name, batch in singles.items():
        try:
            results: list[BaseException | None] = registry.get_channel(channel_name).send_many(batch)
        except Exception as exc:
            logger.exception("channel %s failed a whole batch", channel_name)
            results = [exc] * len(batch)
        for outgoing, result in zip(batch, results, strict=True):
            for d in outgoing.deliveries:
                _record(d, result, report, now)
    emailed = [d.notification_id for d in deliveries if d.channel == ChannelName.EMAIL and d.state == State.SENT]
    _write_outcomes(report)
    if emailed:
        # django-notifications' own flag, for its unsent() and sent().
        load_notification_model().objects.filter(pk__in=emailed, emailed=False).update(emailed=True)


def _was_online(d: Delivery, last_seen: dict[int, datetime], live: set[int] | None) -> bool:
    """Whether the recipient had a socket open since ``d``'s notification."""
    seen_at = last_seen.get(d.recipient_id)
    return (seen_at is not None and seen_at >= d.notification.timestamp) or (
        live is not None and d.recipient_id in live
    )


def _live_now(user_ids: set[int]) -> set[int] | None:
    """The users with a notifications socket open right now, where the
    channel layer can tell (channels-redis; other layers answer with the
    presence rows alone). None when the layer could not be asked (Redis
    unreachable)."""
    if not user_ids:
        return set()
    groups = live_groups([protocol.user_group(uid) for uid in user_ids])
    if groups is None:
        # channels-redis could not be asked (Redis unreachable): unknown.
        # Another layer never can tell: the presence rows answer alone.
        return None if is_channels_redis(get_channel_layer()) else set()
    return {uid for uid in user_ids if protocol.user_group(uid) in groups}


def _check_again(d: Delivery, reason: str, now: datetime, report: Report) -> None:
    """Put ``d`` back for the next backoff without using up an attempt: a
    fallback sent while the user may be online cannot be taken back."""
    due = now + timedelta(seconds=conf.delivery_backoff_seconds)
    _finish(d, report, state=State.PENDING, last_error=reason, due_at=due, attempts=d.attempts - 1)
    report.retrying.append((d, reason))
    report.waiting += 1


def _finish(d: Delivery, report: Report, **values: Any) -> None:
    """Release ``d``'s claim with these values; written by _write_outcomes,
    one UPDATE per distinct set of values."""
    values = {"claim": "", "claimed_until": None, **values}
    report.outcomes[(d.claim, tuple(sorted(values.items())))].append(d.pk)
    for name, value in values.items():
        setattr(d, name, value)


def _write_outcomes(report: Report) -> None:
    for (claim, values), ids in report.outcomes.items():
        Delivery.objects.filter(pk__in=ids, claim=claim).update(**dict(values))
    report.outcomes.clear()


def _skip(d: Delivery, reason: str, report: Report) -> None:
    _finish(d, report, state=State.SKIPPED, last_error=reason)
    report.skipped.append((d, reason))


def _sent_recently(deliveries: list[Delivery], now: datetime) -> dict[tuple[Any, str, str], list[datetime]]:
    """When each (recipient, channel, category) of ``deliveries`` was last
    sent a message of its own, within its DELIVERY_LIMITS window, in one
    query. Held messages that went out together, digests and critical sends
    do not count."""
    windows = [limit[1] for d in deliveries if (limit := conf.delivery_limit(d.category)) is not None]
    if not windows:
        return {}
    sent = Delivery.objects.filter(
        recipient_id__in={d.recipient_id for d in deliveries},
        state=State.SENT,
        digest="",
        critical=False,
        sent_at__gte=now - timedelta(seconds=max(windows)),
    ).values_list("recipient_id", "channel", "category", "sent_at")
    found: dict[tuple[Any, str, str], list[datetime]] = defaultdict(list)
    for recipient_id, channel, category, sent_at in sent:
        found[(recipient_id, channel, category)].append(sent_at)
    return found


def _over_limit(d: Delivery, sent_recently: dict[tuple[Any, str, str], list[datetime]], now: datetime) -> bool:
    """Whether sending ``d`` now would pass its recipient's limit; if not,
    it counts from now on."""
    limit = conf.delivery_limit(d.category)
    if limit is None or not registry.get_channel(d.channel).coalesces:
        return False
    count, seconds = limit
    key = (d.recipient_id, d.channel, d.category)
    recent = [at for at in sent_recently.get(key, []) if at >= now - timedelta(seconds=seconds)]
    if len(recent) >= count:
        return True
    sent_recently[key] = [*recent, now]
    return False


def _coalesce(d: Delivery, now: datetime, report: Report) -> None:
    """Hold ``d`` to the next boundary of its limit's period (a whole number
    of periods since the epoch, as digests are), where everything held for
    its recipient and channel goes out as one message ("and 297 more")."""
    _count, period = conf.delivery_limit(d.category) or (0, 3600)
    boundary = datetime.fromtimestamp((now.timestamp() // period + 1) * period, tz=now.tzinfo or timezone.utc)
    _finish(d, report, state=State.PENDING, digest=COALESCED, due_at=boundary, attempts=d.attempts - 1)
    report.deferred.append(d)


def _defer_to_digest(d: Delivery, frequency: str, now: datetime, report: Report) -> None:
    period = DIGESTS[frequency]
    boundary = datetime.fromtimestamp((now.timestamp() // period + 1) * period, tz=now.tzinfo or timezone.utc)
    _finish(d, report, state=State.PENDING, digest=frequency, due_at=boundary, attempts=d.attempts - 1)
    report.deferred.append(d)


def _record(d: Delivery, result: BaseException | None, report: Report, now: datetime) -> None:
    if result is None:
        _finish(d, report, state=State.SENT, sent_at=now, last_error="")
        report.sent.append(d)
        return
    message = f"{type(result).__name__}: {result}"[:2000]
    if isinstance(result, Skip):
        _skip(d, str(result), report)
    elif d.attempts >= conf.delivery_max_attempts:
        _finish(d, report, state=State.FAILED, last_error=message)
        report.failed.append((d, message))
    else:
        backoff = conf.delivery_backoff_seconds * 2 ** (d.attempts - 1)
        _finish(d, report, state=State.PENDING, last_error=message, due_at=now + timedelta(seconds=backoff))
        report.retrying.append((d, message))


def deliveries_retry(*, queryset: Any) -> int:
    """Make deliveries due again now, with a fresh set of attempts."""
    return queryset.exclude(state=State.SENDING).update(
        state=State.PENDING, due_at=timezone.now(), attempts=0, last_error="", claim="", claimed_until=None
    )


# Preferences, subscriptions, presence ----------------------------------------------------


def preference_set(*, user: Any, category: str, channel: str, frequency: str) -> ChannelPreference:
    """Store one choice and tell the user's open tabs (a ``preferences`` frame)."""
    if category not in registry.known_categories():
        raise ValueError(f"Unknown category {category!r}.")
    if channel not in registry.configured_channels():
        raise ValueError(f"Unknown channel {channel!r}.")
    if frequency not in frequency_choices(channel):
        raise ValueError(f"{channel} cannot be set to {frequency!r}; choose one of {frequency_choices(channel)}.")
    with transaction.atomic():
        preference, _ = ChannelPreference.objects.update_or_create(
            user_id=user.pk, category=category, channel=channel, defaults={"frequency": frequency}
        )
        delivery.preferences_changed(user_id=user.pk, preferences=functools.partial(preferences_of, user_id=user.pk))
    return preference


class SubscriptionTaken(Exception):
    """The endpoint is another user's subscription, with other keys."""


def push_subscription_save(*, user: Any, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Store the user's browser's push subscription. An endpoint already
    stored for another user moves to this one only with the same keys (a
    shared browser, signed in as someone else): knowing an endpoint is not
    owning it. Past MAX_SUBSCRIPTIONS_PER_USER the user's oldest goes."""
    check_endpoint(endpoint)
    with transaction.atomic():
        existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
        if existing is not None and existing.user_id != user.pk and (existing.p256dh, existing.auth) != (p256dh, auth):
            raise SubscriptionTaken(endpoint)
        subscription, _ = PushSubscription.objects.update_or_create(
            endpoint=endpoint, defaults={"user_id": user.pk, "p256dh": p256dh, "auth": auth}
        )
        kept = PushSubscription.objects.filter(user_id=user.pk).order_by("-created_at", "-pk")
        stale = list(kept.values_list("pk", flat=True)[MAX_SUBSCRIPTIONS_PER_USER:])
        if stale:
            PushSubscription.objects.filter(pk__in=stale).delete()
    return subscription


def push_subscription_delete(*, endpoint: str, user: Any = None) -> int:
    queryset = PushSubscription.objects.filter(endpoint=endpoint)
    if user is not None:
        queryset = queryset.filter(user_id=user.pk)
    return queryset.delete()[0]


def presence_record(*, user_ids: set[int], now: datetime | None = None) -> None:
    """These users have a socket open now (one upsert per heartbeat round)."""
    if not user_ids:
        return
    now = now or timezone.now()
    SocketPresence.objects.bulk_create(
        [SocketPresence(user_id=uid, seen_at=now) for uid in user_ids],
        update_conflicts=True,
        unique_fields=["user"],
        update_fields=["seen_at"],
    )
