"""The chat sockets: /ws/chat/<room>/ for one room, /ws/chat/ for the room
list. Thin: auth, limits, decoding and revocation come from RealtimeConsumer;
these classes turn client frames into service and selector calls through
``database_sync_to_async``."""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from typing import Any

from channels.db import database_sync_to_async

from chat import delivery, jobs, protocol, selectors, services
from chat.conf import conf
from notifications.realtime.consumer import RealtimeConsumer
from notifications.realtime.frames import ENVELOPE_BYTES, fitting
from notifications.realtime.socket_limit import TokenBucket
from notifications.realtime.wire import CloseCode, ErrorCode, FrameError, wire_key

# One message bucket per user per process, shared by the user's sockets, so
# opening more tabs does not raise the limit. An entry lives while a socket
# of that user holds it.
_message_buckets: weakref.WeakValueDictionary[int, TokenBucket] = weakref.WeakValueDictionary()


# How long a closed room socket still counts as present: a reconnect within
# it announces neither the leave nor the join.
LEAVE_GRACE_SECONDS = 2.0
# The pending leaves, kept from the garbage collector until they run.
_leaving: set[asyncio.Task[None]] = set()


def _message_bucket(user_id: int) -> TokenBucket:
    bucket = _message_buckets.get(user_id)
    if bucket is None:
        bucket = _message_buckets[user_id] = TokenBucket(conf.messages_per_second, conf.message_burst)
    return bucket


class ChatConsumer(RealtimeConsumer):
    """The base of both chat sockets: chat's limits, and ``ping`` answered."""

    app_conf = conf

    async def handle_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame(protocol.PONG)


class RoomConsumer(ChatConsumer):
    presence_connection: str | None = None

    async def refuse(self) -> tuple[int, str] | None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self.room = await database_sync_to_async(selectors.room_for_user)(user=self.user, slug=slug)
        if self.room is None:
            # The same answer for a missing room and a private one.
            return CloseCode.FORBIDDEN, "forbidden"
        return None

    async def groups_for_user(self) -> list[str]:
        self.who = protocol.user(user_id=self.user.pk, username=self.user.get_username())
        self.messages = _message_bucket(self.user.pk)
        self.last_typing = 0.0
        return [protocol.room_group(self.room.pk)]

    async def joined(self) -> None:
        """Joined the room's group: send history and who is online, then
        announce this user if they just came online."""
        await jobs.schedule(self.hub)
        connection = uuid.uuid4().hex
        came_online = await database_sync_to_async(services.presence_enter)(
            room=self.room, user=self.user, connection=connection
        )
        self.presence_connection = connection
        page = await database_sync_to_async(selectors.message_history)(
            room=self.room, max_bytes=self.socket_limits.max_frame_bytes
        )
        await self.send_now(protocol.history(**page, before=None))
        online = await database_sync_to_async(selectors.online_users)(room=self.room)
        await self.send_now(protocol.presence(online=online))
        if came_online:
            await delivery.presence_changed(self.room.pk, protocol.joined(who=self.who))

    async def disconnect(self, code: int) -> None:
        """The socket closed: leave the group and, after LEAVE_GRACE_SECONDS,
        say so if this was the user's last socket in the room. A tab that
        reloads, or a client that reconnects in a loop, is back within the
        grace: its presence entry is still there, so neither its return nor
        its going is announced, and a room's members hear no join/leave churn."""
        await super().disconnect(code)
        connection, self.presence_connection = self.presence_connection, None
        if connection is None:
            return
        leaving = asyncio.get_running_loop().create_task(self.leave_after_grace(connection))
        _leaving.add(leaving)
        leaving.add_done_callback(_leaving.discard)

    async def leave_after_grace(self, connection: str) -> None:
        await asyncio.sleep(LEAVE_GRACE_SECONDS)
        went = await database_sync_to_async(services.presence_leave)(connection=connection)
        if went is not None:
            await delivery.presence_changed(self.room.pk, protocol.left(who=self.who))

    # Client frames ---------------------------------------------------------------------

    async def handle_message(self, frame: dict[str, Any]) -> None:
        body = protocol.message_body(
            frame, max_length=conf.max_message_length, max_bytes=self.socket_limits.max_frame_bytes
        )
        client_id = protocol.client_id(frame)
        if not self.messages.take():
            raise FrameError(ErrorCode.RATE_LIMITED, "Too many messages; slow down.")
        try:
            message, created = await database_sync_to_async(services.message_post)(
                room=self.room, author=self.user, body=body, client_id=client_id
            )
        except services.RoomNotFound:
            await self.close_with(CloseCode.FORBIDDEN, "forbidden")
            return
        if not created:
            # A resend: confirm with the stored message, to this socket only.
            payload = await database_sync_to_async(selectors.message_payload)(message)
            await self.send_frame(protocol.message(payload=payload))

    async def handle_typing(self, frame: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last_typing < conf.typing_interval_seconds:
            return  # throttled; the indicator is still showing
        self.last_typing = now
        await delivery.typing(self.room.pk, self.who)

    async def handle_history(self, frame: dict[str, Any]) -> None:
        before = protocol.message_id(frame, "before")
        page = await database_sync_to_async(selectors.message_history)(
            room=self.room, before=before, max_bytes=self.socket_limits.max_frame_bytes
        )
        await self.send_frame(protocol.history(**page, before=before))

    async def handle_read(self, frame: dict[str, Any]) -> None:
        last_id = protocol.message_id(frame, "last_id")
        try:
            await database_sync_to_async(services.read_mark)(room=self.room, user=self.user, last_id=last_id)
        except services.RoomNotFound:
            await self.close_with(CloseCode.FORBIDDEN, "forbidden")

    # Events from the hub -----------------------------------------------------------

    async def chat_access_removed(self, event: dict[str, Any]) -> None:
        """Members were removed, or the room became private: close this socket
        if its user may no longer use the room."""
        user_ids = event.get("user_ids")
        if user_ids is not None and wire_key(self.user.pk) not in user_ids:
            return
        if not await database_sync_to_async(selectors.can_use)(user=self.user, room=self.room):
            await self.close_with(CloseCode.FORBIDDEN, "forbidden")


class RoomListConsumer(ChatConsumer):
    """The room list: every visible room's last message and unread count, live."""

    async def groups_for_user(self) -> list[str]:
        room_ids = await database_sync_to_async(selectors.room_ids_visible_to)(user=self.user)
        return [
            protocol.user_group(self.user.pk),
            protocol.ROOMS_GROUP,
            *(protocol.room_group(room_id) for room_id in room_ids),
        ]

    async def joined(self) -> None:
        rooms = await database_sync_to_async(selectors.room_list)(user=self.user)
        # Rooms past what one frame holds follow as `room` frames.
        fits = fitting(rooms, self.socket_limits.max_frame_bytes - ENVELOPE_BYTES)
        await self.send_now(protocol.rooms(rooms=rooms[:fits], user_id=self.user.pk))
        for payload in rooms[fits:]:
            await self.send_now(protocol.room(payload=payload))

    async def chat_room_added(self, event: dict[str, Any]) -> None:
        group = protocol.room_group(event["room_id"])
        if group in self.joined_groups:
            return
        await self.hub.join(group, self)
        self.joined_groups.append(group)
        await self.send_frame(protocol.room(payload=event["payload"]))

    async def chat_access_removed(self, event: dict[str, Any]) -> None:
        """Stop following a room the user may no longer use."""
        user_ids = event.get("user_ids")
        if user_ids is not None and wire_key(self.user.pk) not in user_ids:
            return
        room = await database_sync_to_async(selectors.room_for_user)(user=self.user, slug=event["room"])
        if room is not None:
            return
        group = event["group"]
        self.hub.leave(group, self)
        if group in self.joined_groups:
            self.joined_groups.remove(group)
        await self.send_frame(protocol.room_removed(slug=event["room"]))
