"""The /ws/notifications/ consumer: protocol v1, thin.

Auth, limits, decoding and revocation come from RealtimeConsumer; this class
joins the user's group, sends ``hello``, and turns client frames into
service and selector calls through ``database_sync_to_async``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from notifications import protocol, selectors, services
from notifications.conf import conf
from notifications.realtime.consumer import ErrorCode, FrameError, RealtimeConsumer
from notifications.realtime.frames import encode
from notifications.realtime.hub import Hub


async def publish_due_announcements(hub: Hub) -> None:
    """Every SCHEDULE_SECONDS, in every server process: claim and push the
    announcements whose time has come (the claim makes each push happen once)."""
    await database_sync_to_async(services.announcements_publish_due)()


# Heartbeats written between two yields to the event loop.
HEARTBEAT_YIELD_EVERY = 100


async def send_heartbeats(hub: Hub) -> None:
    """Every HEARTBEAT_SECONDS, tell each local user their newest id and unread
    count, with one grouped query for the whole process. A client that sees an
    id it lacks, or a count it did not expect, syncs: a push the layer dropped
    arrives within one heartbeat."""
    user_ids = [uid for g in list(hub.members) if (uid := protocol.user_id_of(g)) is not None]
    if not user_ids:
        return
    snapshots = await database_sync_to_async(selectors.heartbeat_snapshots)(user_ids=user_ids)
    for index, (user_id, snapshot) in enumerate(snapshots.items()):
        if index % HEARTBEAT_YIELD_EVERY == 0:
            # A write does not suspend, so without this the loop would be
            # blocked for the whole round: 0.6 s of delay for pushes at
            # 5,000 users a process (bench/personal.py at 10,000 users).
            await asyncio.sleep(0)
        text = encode(protocol.heartbeat(**snapshot))
        for member in tuple(hub.local_members(protocol.user_group(user_id))):
            await member.send_encoded(text)


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
        await self._own(services.notification_mark_read, frame)

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
