"""Pushing stored changes to sockets. The only notifications code that talks
to the channel layer, always from ``transaction.on_commit``: a rolled-back
write never reaches a socket, and a layer failure never fails the write.

Delivery sits between ``services``, which call it after each write, and
``selectors``, which it reads frames from (``notifications.services``
describes the layers); it never writes and never imports the services.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from channels.layers import get_channel_layer
from django.db import DatabaseError, transaction

from notifications import protocol, selectors, users
from notifications.conf import conf
from notifications.realtime import dbwatch
from notifications.realtime.publish import MULTICAST_THRESHOLD, Event, live_groups, process_local, publish
from notifications.realtime.wire import MULTICAST_GROUP

logger = logging.getLogger("notifications.delivery")

# Ids per read/unread/deleted frame.
IDS_PER_FRAME = 500
# From this many recipients on, a push whose rows are not copies of one (a
# list of users) first asks Redis which of them have a socket open anywhere,
# and builds frames only for those.
LIVE_CHECK_MIN_RECIPIENTS = 100
# Recipients per protocol.CREATED_EVENT.
RECIPIENTS_PER_EVENT = 10_000


def _frame_event(user_id: int, frame: dict[str, Any]) -> Event:
    return (protocol.user_group(user_id), {"type": "notifications.frame", "frame": frame})


def notifications_created(notifications: list[Any], *, using: str, alike: bool = False) -> None:
    """After commit, push each new notification to its recipient. ``alike``:
    they differ only in id and recipient (selectors.notification_payloads)."""
    _wake_other_processes(using)
    transaction.on_commit(lambda: _push_created(notifications, alike), using=using, robust=True)


def _wake_other_processes(using: str) -> None:
    """On a layer that reaches only this process, the server processes find
    this write with their database watch; on PostgreSQL, wake them at commit."""
    if process_local(get_channel_layer()):
        try:
            dbwatch.wake_watchers(using=using)
        except DatabaseError:
            # Only a speed-up: the watch's next tick finds the row anyway.
            logger.warning("could not wake the server processes' database watch", exc_info=True)


class PushedHere:
    """What this process pushed itself: a server process that watches for
    other processes' writes (jobs.watch_other_processes, on a layer
    that reaches only its own process) leaves these alone."""

    last_id = 0
    announcement_ids: deque[int] = deque(maxlen=1000)


def _push_created(notifications: list[Any], alike: bool = False) -> None:
    if notifications:
        PushedHere.last_id = max(PushedHere.last_id, max(n.pk for n in notifications))
    shared = selectors.shared_payload(notifications) if alike and len(notifications) > MULTICAST_THRESHOLD else None
    # A notification lost to a Redis outage comes back by the heartbeat's
    # sync, so a failed push is not retried.
    if shared is not None:
        publish(_created_events(protocol.fitted(shared, conf.max_frame_bytes), notifications), retry=False)
        return
    notifications = _connected_only(notifications)
    if not notifications:
        return
    counts = selectors.badges(user_ids={n.recipient_id for n in notifications})
    limit = conf.max_frame_bytes
    payloads = [
        protocol.fitted(payload, limit) for payload in selectors.notification_payloads(notifications, alike=alike)
    ]
    groups = selectors.groups_of([selectors.row_of(n) for n in notifications])
    events = [
        _frame_event(
            n.recipient_id,
            protocol.notification(payload=payload, group=groups[n.pk], **counts[n.recipient_id]._asdict()),
        )
        for n, payload in zip(notifications, payloads, strict=True)
    ]
    publish(events, retry=False)


def _created_events(shared: dict[str, Any], notifications: list[Any]) -> list[Event]:
    """A bulk send's rows are copies of one, so every server process gets the
    payload they share, the recipients and the ids, and builds the frames of
    the recipients it holds sockets of, counting their unread in one query
    (jobs.push_created). Nothing here is per recipient but two integers:
    no asking Redis who is connected, no count query and no frame. Two flat
    lists, not pairs: unpacking pairs makes a list per recipient for the
    garbage collector to track in every process."""
    events: list[Event] = []
    for start in range(0, len(notifications), RECIPIENTS_PER_EVENT):
        chunk = notifications[start : start + RECIPIENTS_PER_EVENT]
        event = {
            "type": protocol.CREATED_EVENT,
            "shared": shared,
            "group_key": chunk[0].group_key,
            "timestamp": chunk[0].timestamp.isoformat(),
            "recipients": [users.pk_to_wire(n.recipient_id) for n in chunk],
            "ids": [n.pk for n in chunk],
        }
        events.append((MULTICAST_GROUP, event))
    return events


def _connected_only(notifications: list[Any]) -> list[Any]:
    """For a large send, the notifications whose recipient's group some
    server has joined. A socket that joins after this check gets the rows
    from its `hello` and `sync`, as one that joins after the push does."""
    user_ids = {n.recipient_id for n in notifications}
    if len(user_ids) < LIVE_CHECK_MIN_RECIPIENTS:
        return notifications
    live = live_groups([protocol.user_group(user_id) for user_id in user_ids])
    if live is None:
        return notifications
    parse = users.pk_parser()
    live_ids = {parse(protocol.user_id_of(group)) for group in live}
    return [n for n in notifications if n.recipient_id in live_ids]


def notifications_changed(kind: str, rows: list[tuple[int, int]], *, everything: bool = False, using: str) -> None:
    """After commit, tell each affected user's sockets which ids became
    ``read``, ``unread`` or ``deleted``. ``rows`` are (id, recipient_id)."""
    by_user: dict[int, list[int]] = defaultdict(list)
    for notification_id, user_id in rows:
        by_user[user_id].append(notification_id)
    transaction.on_commit(lambda: _push_changed(kind, by_user, everything), using=using, robust=True)


def _push_changed(kind: str, by_user: dict[int, list[int]], everything: bool) -> None:
    counts = selectors.badges(user_ids=by_user)
    events: list[Event] = []
    for user_id, ids in by_user.items():
        if everything:
            events.append(_frame_event(user_id, protocol.changed(kind, ids=None, **counts[user_id]._asdict())))
            continue
        ids.sort()
        for start in range(0, len(ids), IDS_PER_FRAME):
            frame = protocol.changed(kind, ids=ids[start : start + IDS_PER_FRAME], **counts[user_id]._asdict())
            events.append(_frame_event(user_id, frame))
    publish(events)


def notifications_seen(up_to: dict[int, int], *, using: str) -> None:
    """After commit, tell every socket of each user (user id -> newest id
    seen) that the badge's unseen count changed."""
    transaction.on_commit(lambda: _push_seen(up_to), using=using, robust=True)


def _push_seen(up_to: dict[int, int]) -> None:
    counts = selectors.badges(user_ids=up_to)
    publish(
        [
            _frame_event(user_id, protocol.seen(up_to=newest, unseen_count=counts[user_id].unseen_count))
            for user_id, newest in up_to.items()
        ]
    )


def announcement_event(announcement: Any) -> Event:
    """One event for every server process; each sends it to its own sockets
    whose audience matches (protocol.ANNOUNCEMENTS_GROUP)."""
    event = {
        "type": "notifications.announcement",
        "audience": selectors.audience_spec(announcement),
        "announcement": selectors.announcement_payload(announcement),
    }
    return (protocol.ANNOUNCEMENTS_GROUP, event)


def announcement_published(announcement: Any) -> None:
    event = announcement_event(announcement)
    _wake_other_processes("default")

    def push() -> None:
        PushedHere.announcement_ids.append(announcement.pk)
        publish([event])

    transaction.on_commit(push, robust=True)


def announcement_dismissed(*, user_id: int, announcement_id: int) -> None:
    def push() -> None:
        counts = selectors.badges(user_ids=[user_id])[user_id]
        frame = protocol.dismissed(announcement_id=announcement_id, **counts._asdict())
        publish([_frame_event(user_id, frame)])

    transaction.on_commit(push, robust=True)


def audience_changed(*, user_ids: list[int]) -> None:
    events = [(protocol.user_group(uid), {"type": "notifications.audience"}) for uid in user_ids]
    transaction.on_commit(lambda: publish(events), robust=True)


def preferences_changed(*, user_id: int, preferences: Callable[[], dict[str, Any]]) -> None:
    """After commit, send the user's delivery preferences, as ``preferences()``
    then reads them, to their open tabs."""

    def push() -> None:
        frame = protocol.preferences(preferences=preferences())
        publish([_frame_event(user_id, frame)])

    transaction.on_commit(push, robust=True)
