"""The chat app's hub jobs: what each server process does on a timer,
apart from any one socket. ``schedule`` starts them on a hub; the room
consumer calls it when a socket joins."""

from __future__ import annotations

from channels.db import database_sync_to_async

from chat import delivery, protocol, selectors, services
from chat.conf import conf
from notifications.realtime.hub import Hub


async def schedule(hub: Hub) -> None:
    """Start this app's jobs on the hub; starting one twice is a no-op.
    Async, like notifications.jobs.schedule, whose first look waits."""
    hub.every("chat.presence", conf.presence_refresh_seconds, keep_presence)


async def keep_presence(hub: Hub) -> None:
    """Every PRESENCE_REFRESH_SECONDS, in every server: refresh this server's
    presence entries, then expire entries that no server refreshes (a crashed
    one's) and tell those rooms who left."""
    connections = [
        member.presence_connection
        for group, members in list(hub.members.items())
        if group.startswith(protocol.ROOM_GROUP_PREFIX)
        for member in tuple(members)
        if getattr(member, "presence_connection", None)
    ]
    await database_sync_to_async(services.presence_refresh)(connections=connections)
    gone = await database_sync_to_async(services.presence_expire)()
    for room_id, user_id in gone:
        who = await database_sync_to_async(selectors.user_ref)(user_id=user_id)
        await delivery.presence_changed(room_id, protocol.left(who=who))
