"""The /ws/notifications/ consumer: protocol v1, thin.

Auth, limits, decoding and revocation come from RealtimeConsumer; this class
joins the user's group, sends ``hello``, and turns client frames into
service and selector calls through ``database_sync_to_async``.
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

from notifications import delivery, protocol, selectors, services
from notifications.conf import conf
from notifications.outbound.background import send_due_deliveries
from notifications.outbound.services import presence_record
from notifications.realtime import dbwatch, redis_store
from notifications.realtime.consumer import ErrorCode, FrameError, RealtimeConsumer
from notifications.realtime.frames import encode
from notifications.realtime.hub import Hub
from notifications.realtime.publish import Event, apublish, process_local


async def publish_due_announcements(hub: Hub) -> None:
    """Every SCHEDULE_SECONDS, in every server process: claim and push the
    announcements whose time has come (the claim makes each push happen once)."""
    await database_sync_to_async(services.announcements_publish_due)()


def _local_user_ids(hub: Hub) -> set[int]:
    """The users with a notifications socket in this process."""
    return {user_id for group in list(hub.members) if (user_id := protocol.user_id_of(group)) is not None}


async def send_heartbeats(hub: Hub) -> None:
    """Every HEARTBEAT_SECONDS, tell each local user their newest id and unread
    count, with one grouped query for the whole process. A client that sees an
    id it lacks, or a count it did not expect, syncs: a push the layer dropped
    arrives within one heartbeat."""
    user_ids = _local_user_ids(hub)
    if not user_ids:
        return
    snapshots = await database_sync_to_async(selectors.heartbeat_snapshots)(user_ids=user_ids)
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
    local = [(user_id, pk) for user_id, pk in zip(event["recipients"], event["ids"], strict=True) if user_id in here]
    if not local:
        return
    shared = event["shared"]
    rows = [selectors.copy_row(shared, event.get("group_key", ""), user_id, pk) for user_id, pk in local]
    counts, groups = await database_sync_to_async(selectors.badges_and_groups)(rows)
    payloads = selectors.payload_copies(shared, [pk for _, pk in local])
    await hub.write_frames(
        (
            protocol.user_group(user_id),
            protocol.notification(payload=payload, group=groups[pk], **counts[user_id]._asdict()),
        )
        for (user_id, pk), payload in zip(local, payloads, strict=True)
    )


logger = logging.getLogger("notifications.realtime")

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
            self.announced_at = timezone.now()
            self.last_id = selectors.newest_activity(announced_after=self.announced_at)["last_id"] or 0
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


class NotificationConsumer(RealtimeConsumer):
    def settings(self) -> None:
        self.max_frame_bytes = conf.max_frame_bytes
        self.rate_per_second = conf.frames_per_second
        self.rate_burst = conf.frame_burst
        self.max_sockets_per_user = conf.max_sockets_per_user
        self.abuse_cooldown_seconds = conf.abuse_cooldown_seconds

    async def groups_for_user(self) -> list[str]:
        # Announcements that arrive before the snapshot has told us the
        # user's audience wait here and are filtered right after `hello`.
        self.audience: dict[str, Any] | None = None
        self.held: list[dict[str, Any]] = []
        return [protocol.user_group(self.user.pk), protocol.ANNOUNCEMENTS_GROUP]

    async def joined(self) -> None:
        """Groups are joined, so anything created from here on is pushed; the
        snapshot therefore cannot miss a row created in between."""
        heartbeat = conf.heartbeat_seconds
        self.hub.every("notifications.heartbeat", heartbeat, send_heartbeats)
        self.hub.every("notifications.schedule", conf.schedule_seconds, publish_due_announcements)
        self.hub.every("notifications.presence", heartbeat, record_presence)
        self.hub.every("notifications.deliver", conf.deliver_seconds, send_due_deliveries)
        self.hub.on(protocol.CREATED_EVENT, push_created)
        if process_local(self.hub.layer) and self.hub not in _watches:
            # The first look takes the marks; take them before the snapshot,
            # so a row stored by another process after it is caught.
            await watch_other_processes(self.hub)
            self.hub.every("notifications.watch", conf.watch_seconds, watch_other_processes)
            if dbwatch.on_postgresql():
                self.hub.every("notifications.listen", LISTEN_RETRY_SECONDS, listen_for_other_processes, at_once=True)
        snapshot = await database_sync_to_async(selectors.hello_snapshot)(user=self.user)
        self.audience = snapshot.pop("audience")
        await self.send_now(
            protocol.hello(
                user_id=self.user.pk, heartbeat=heartbeat, server_time=timezone.now().isoformat(), **snapshot
            )
        )
        held, self.held = self.held, []
        listed = {a["id"] for a in snapshot["announcements"]}
        for event in held:
            if event["announcement"]["id"] not in listed:
                await self.notifications_announcement(event)

    async def notifications_announcement(self, event: dict[str, Any]) -> None:
        """An announcement for every process: sent to this socket only when
        the user is in its audience. The frame is encoded once per process."""
        if self.audience is None:
            self.held.append(event)
            return
        if not selectors.in_audience(event["audience"], self.audience):
            return
        text = event.get("_encoded")
        if text is None:
            text = event["_encoded"] = encode(protocol.announcement(payload=event["announcement"]))
        await self.send_encoded(text)

    async def notifications_audience(self, event: dict[str, Any]) -> None:
        """The user's staff flag or groups changed: re-read the audience."""
        self.audience = await database_sync_to_async(selectors.audience_of)(user=self.user)

    # Client frames ---------------------------------------------------------------------

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame(protocol.PONG)

    async def handle_sync(self, frame: dict[str, Any]) -> None:
        after = protocol.sync_after(frame)
        result = await database_sync_to_async(selectors.notifications_after)(
            user=self.user, after=after, limit=conf.sync_page_size
        )
        await self.send_frame(protocol.sync(**result))

    async def _own(self, service: Any, frame: dict[str, Any]) -> None:
        notification_id = protocol.notification_id(frame)
        try:
            await database_sync_to_async(service)(user=self.user, notification_id=notification_id)
        except services.NotificationNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "No such notification.") from None

    async def handle_mark_read(self, frame: dict[str, Any]) -> None:
        if protocol.whole_group(frame):
            await self._own(services.notification_group_mark_read, frame)
        else:
            await self._own(services.notification_mark_read, frame)

    async def handle_mark_seen(self, frame: dict[str, Any]) -> None:
        up_to = protocol.up_to(frame)
        await database_sync_to_async(services.notifications_mark_seen)(user=self.user, up_to=up_to)

    async def handle_mark_unread(self, frame: dict[str, Any]) -> None:
        await self._own(services.notification_mark_unread, frame)

    async def handle_delete(self, frame: dict[str, Any]) -> None:
        await self._own(services.notification_delete, frame)

    async def handle_mark_all_read(self, frame: dict[str, Any]) -> None:
        await database_sync_to_async(services.notifications_mark_all_read)(user=self.user)

    async def handle_dismiss(self, frame: dict[str, Any]) -> None:
        announcement_id = protocol.announcement_id(frame)
        try:
            await database_sync_to_async(services.announcement_dismiss)(user=self.user, announcement_id=announcement_id)
        except services.AnnouncementNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "No such announcement.") from None
