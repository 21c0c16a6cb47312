"""The notifications app's hub jobs: what each server process does on a
timer or on a hub event, apart from any one socket. ``schedule`` starts them
on a hub; the consumer calls it when a socket joins.

Jobs: due announcements, heartbeats, presence recording, due deliveries
(notifications.outbound.background), a bulk send's rows, and, on a layer
that reaches only this process, the database watch.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from notifications import delivery, protocol, selectors, services, users
from notifications.conf import conf
from notifications.outbound.background import send_due_deliveries
from notifications.outbound.services import presence_record
from notifications.realtime import dbwatch, redis_store
from notifications.realtime.hub import Hub
from notifications.realtime.publish import Event, apublish, process_local

logger = logging.getLogger("notifications.realtime")


async def schedule(hub: Hub) -> None:
    """Start this app's jobs on the hub; starting one twice is a no-op."""
    heartbeat = conf.heartbeat_seconds
    hub.every("notifications.heartbeat", heartbeat, send_heartbeats)
    hub.every("notifications.schedule", conf.schedule_seconds, publish_due_announcements)
    hub.every("notifications.presence", heartbeat, record_presence)
    hub.every("notifications.deliver", conf.deliver_seconds, send_due_deliveries)
    hub.on(protocol.CREATED_EVENT, push_created)
    if process_local(hub.layer) and hub not in _watches:
        # The first look takes the marks; the caller takes its snapshot
        # after this, so a row stored by another process after it is caught.
        await watch_other_processes(hub)
        hub.every("notifications.watch", conf.watch_seconds, watch_other_processes)
        if dbwatch.on_postgresql():
            hub.every("notifications.listen", LISTEN_RETRY_SECONDS, listen_for_other_processes, at_once=True)


async def publish_due_announcements(hub: Hub) -> None:
    """Every SCHEDULE_SECONDS, in every server process: claim and push the
    announcements whose time has come (the claim makes each push happen once)."""
    await database_sync_to_async(services.announcements_publish_due)()


def _local_user_ids(hub: Hub) -> set[Any]:
    """The users with a notifications socket in this process."""
    parse = users.pk_parser()
    return {parse(text) for group in list(hub.members) if (text := protocol.user_id_of(group)) is not None}


# Users per heartbeat query.
HEARTBEAT_CHUNK = 500


async def send_heartbeats(hub: Hub) -> None:
    """Every HEARTBEAT_SECONDS, tell each local user their newest id and unread
    count, with grouped queries for HEARTBEAT_CHUNK users at a time. A client
    that sees an id it lacks, or a count it did not expect, syncs: a push the
    layer dropped arrives within one heartbeat."""
    user_ids = sorted(_local_user_ids(hub))
    # In chunks, each its own trip to the database thread: a push waits
    # behind one chunk's query, not the whole round's.
    for start in range(0, len(user_ids), HEARTBEAT_CHUNK):
        chunk = user_ids[start : start + HEARTBEAT_CHUNK]
        snapshots = await database_sync_to_async(selectors.heartbeat_snapshots)(user_ids=chunk)
        await hub.write_frames(
            (protocol.user_group(user_id), protocol.heartbeat(**snapshot)) for user_id, snapshot in snapshots.items()
        )


# The users each hub had at its last presence round.
_present: weakref.WeakKeyDictionary[Hub, set[int]] = weakref.WeakKeyDictionary()


async def record_presence(hub: Hub) -> None:
    """Every heartbeat round, note who had a socket here, so an email or
    push fallback is not sent to someone who was online. With channels-redis
    the sender asks Redis who is connected at that moment, so only users
    who left since the last round are written; another layer cannot tell,
    so every user here is."""
    here = _local_user_ids(hub)
    left = _present.get(hub, set()) - here
    _present[hub] = here
    user_ids = left if redis_store.is_channels_redis(hub.layer) else left | here
    if user_ids:
        await database_sync_to_async(presence_record)(user_ids=user_ids)


async def push_created(hub: Hub, event: dict[str, Any]) -> None:
    """A bulk send's rows (protocol.CREATED_EVENT), in every server process:
    a frame for each recipient with a socket here, and one query for their
    unread counts. A socket that joins after this gets the rows from its
    ``hello`` and ``sync``."""
    here = _local_user_ids(hub)
    recipients = event["recipients"]
    if recipients and type(recipients[0]) is not int:
        parse = users.pk_parser()
        recipients = [parse(text) for text in recipients]
    local = [(user_id, pk) for user_id, pk in zip(recipients, event["ids"], strict=True) if user_id in here]
    if not local:
        return
    shared = event["shared"]
    counts, groups = await database_sync_to_async(selectors.badges_and_groups)(selectors.copy_rows(event, local))
    payloads = selectors.payload_copies(shared, [pk for _, pk in local])
    await hub.write_frames(
        (
            protocol.user_group(user_id),
            protocol.notification(payload=payload, group=groups[pk], **counts[user_id]._asdict()),
        )
        for (user_id, pk), payload in zip(local, payloads, strict=True)
    )


# How long after its LISTEN connection failed the database watch listens again.
LISTEN_RETRY_SECONDS = 5.0
# An announcement claimed in one transaction can commit after a later one:
# look this far behind the newest publication time already seen.
WATCH_OVERLAP = timedelta(seconds=10)


@dataclass
class _Watch:
    last_id: int | None = None
    announced_at: datetime | None = None
    announced: dict[int, datetime] = field(default_factory=dict)

    def look(self) -> tuple[bool, list[Event]]:
        """On the database thread: whether another process stored a newer
        notification, and the events of announcements it published."""
        if self.announced_at is None:
            # What is already published, this process's sockets get in their
            # hello: only a later publication is pushed.
            self.announced_at = timezone.now()
            activity = selectors.newest_activity(announced_after=self.announced_at - WATCH_OVERLAP)
            self.last_id = activity["last_id"] or 0
            self.announced = {a.pk: a.published_at for a in activity["announcements"]}
            return False, []
        activity = selectors.newest_activity(announced_after=self.announced_at - WATCH_OVERLAP)
        last_id = activity["last_id"] or 0
        newer = last_id > max(self.last_id or 0, delivery.PushedHere.last_id)
        self.last_id = max(self.last_id or 0, last_id)
        events = []
        for announcement in activity["announcements"]:
            self.announced_at = max(self.announced_at, announcement.published_at)
            if announcement.pk in self.announced or announcement.pk in delivery.PushedHere.announcement_ids:
                continue
            self.announced[announcement.pk] = announcement.published_at
            events.append(delivery.announcement_event(announcement))
        horizon = self.announced_at - WATCH_OVERLAP
        self.announced = {pk: at for pk, at in self.announced.items() if at > horizon}
        return newer, events


_watches: weakref.WeakKeyDictionary[Hub, _Watch] = weakref.WeakKeyDictionary()


async def watch_other_processes(hub: Hub) -> None:
    """On a channel layer that reaches only this process (the in-memory
    one), a notify.send or an announcement from another process (a shell,
    cron, a worker, ``manage.py announce``) reaches no socket here by push.
    Every WATCH_SECONDS, look at the database: a newer notification runs the
    heartbeat round at once (a client that lacks it syncs), and a newly
    published announcement is sent to this process's sockets."""
    watch = _watches.setdefault(hub, _Watch())
    newer, events = await database_sync_to_async(watch.look)()
    if newer:
        await send_heartbeats(hub)
    if events:
        await apublish(events, layer=hub.layer)


async def listen_for_other_processes(hub: Hub) -> None:
    """On PostgreSQL, look as soon as another process commits a write that
    woke the watchers (realtime.dbwatch), instead of at the next tick. Runs
    while its LISTEN connection lives; the hub runs it again after a failure."""
    try:
        await dbwatch.listen(lambda: watch_other_processes(hub))
    except DatabaseError as exc:
        # The watch's ticks go on meanwhile; the hub listens again later.
        logger.warning(
            "the database watch's LISTEN connection failed (%s); retrying in %s s", exc, LISTEN_RETRY_SECONDS
        )
