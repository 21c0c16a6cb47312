"""The /ws/notifications/ consumer: protocol v1, thin.

Auth, limits, decoding and revocation come from RealtimeConsumer; this class
joins the user's group, sends ``hello``, and turns client frames into
service and selector calls through ``database_sync_to_async``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from django.db import DatabaseError
from django.utils import timezone

from notifications import jobs, protocol, selectors, services
from notifications.conf import conf
from notifications.outbound.services import presence_record
from notifications.realtime.batch import Batched
from notifications.realtime.consumer import RealtimeConsumer
from notifications.realtime.frames import ENVELOPE_BYTES, encode, fitting
from notifications.realtime.publish import process_local
from notifications.realtime.wire import ErrorCode, FrameError

logger = logging.getLogger("notifications.realtime")

# The sockets waiting for their hello while a snapshot is taken take theirs
# together in the next (selectors.hello_snapshots).
_hellos: Batched[Any] = Batched(lambda users: selectors.hello_snapshots(users))


class NotificationConsumer(RealtimeConsumer):
    app_conf = conf

    async def groups_for_user(self) -> list[str]:
        # Announcements that arrive before the snapshot has told us the
        # user's audience wait here and are filtered right after `hello`.
        self.audience: dict[str, Any] | None = None
        self.held: list[dict[str, Any]] = []
        return [protocol.user_group(self.user.pk), protocol.ANNOUNCEMENTS_GROUP]

    async def joined(self) -> None:
        """Groups are joined, so anything created from here on is pushed; the
        snapshot therefore cannot miss a row created in between."""
        self.opened_at = time.monotonic()
        await jobs.schedule(self.hub)
        if process_local(self.hub.layer):
            # A fallback due before the next presence round must know this
            # tab is open; an in-memory layer cannot be asked who is.
            await self.record_presence()
        snapshot = await _hellos(self.user)
        self.audience = snapshot.pop("audience")
        # The announcements that do not fit in the hello frame follow it, each
        # in its own frame, already counted in the hello's counts.
        listed = snapshot["announcements"]
        fits = fitting(listed, self.socket_limits.max_frame_bytes - ENVELOPE_BYTES)
        snapshot["announcements"], following = listed[:fits], listed[fits:]
        await self.send_now(
            protocol.hello(
                user_id=self.user.pk,
                heartbeat=conf.heartbeat_seconds,
                server_time=timezone.now().isoformat(),
                **snapshot,
            )
        )
        for payload in following:
            await self.send_now(protocol.announcement(payload=payload, counted=True))
        held, self.held = self.held, []
        listed = {a["id"] for a in listed}
        for event in held:
            if event["announcement"]["id"] not in listed:
                await self.notifications_announcement(event)

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes: a tab that came and went between two
        presence rounds is still recorded as having been here."""
        await super().disconnect(code)
        opened_at = getattr(self, "opened_at", None)
        if opened_at is not None and time.monotonic() - opened_at < conf.heartbeat_seconds:
            await self.record_presence()

    async def record_presence(self) -> None:
        try:
            await database_sync_to_async(presence_record)(user_ids={self.user.pk})
        except DatabaseError:
            logger.warning("could not record that user %s had a socket open", self.user.pk, exc_info=True)

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
            user=self.user, after=after, limit=conf.sync_page_size, max_bytes=self.socket_limits.max_frame_bytes
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

    async def handle_get(self, frame: dict[str, Any]) -> None:
        """The whole of a notification that frames carry as a stub
        (``truncated``). Only over HTTP (realtime.http.answer), where no
        message limit applies."""
        if self.scope.get("type") != "http":
            raise FrameError(ErrorCode.UNKNOWN_TYPE, "Unknown frame type.")
        notification_id = protocol.notification_id(frame)
        item = await database_sync_to_async(selectors.notification_item)(
            user=self.user, notification_id=notification_id
        )
        if item is None:
            raise FrameError(ErrorCode.NOT_FOUND, "No such notification.")
        await self.send_frame(protocol.item(payload=item))

    async def handle_dismiss(self, frame: dict[str, Any]) -> None:
        announcement_id = protocol.announcement_id(frame)
        try:
            await database_sync_to_async(services.announcement_dismiss)(user=self.user, announcement_id=announcement_id)
        except services.AnnouncementNotFound:
            raise FrameError(ErrorCode.NOT_FOUND, "No such announcement.") from None
