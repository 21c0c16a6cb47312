"""A test client that follows the delivery rules of notifications/static/
notifications/client.js: dedupe by id, sync after a reconnect or when a
heartbeat shows an id it lacks, page through an incomplete or cut sync, and
sync again below a recent id it lacks."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets


class Follower:
    def __init__(self, socket: Any):
        self.socket = socket
        self.seen: list[int] = []  # every id received, duplicates included
        self.pushed: list[int] = []  # ids of live pushes, in order of arrival
        self.ids: set[int] = set()
        self.cursor: int | None = None
        self.frames: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.unread_count: int | None = None
        self.last_sync: int | None = None
        self.pushed_at: dict[int, float] = {}  # id -> when its first push arrived (monotonic)
        self.announcements: list[int] = []

    def start(self) -> Follower:
        self.task = asyncio.create_task(self.run())
        return self

    def add(self, notification_id: int) -> None:
        self.seen.append(notification_id)
        self.ids.add(notification_id)
        if self.cursor is None or notification_id > self.cursor:
            self.cursor = notification_id

    async def run(self) -> None:
        try:
            async for text in self.socket.connection:
                frame = json.loads(text)
                kind = frame["type"]
                self.frames[kind] = self.frames.get(kind, 0) + 1
                if kind == "hello":
                    self.unread_count = frame["unread_count"]
                    if self.cursor is None:
                        self.cursor = frame["last_id"]
                    else:
                        await self.sync(self.cursor)
                elif kind == "notification":
                    # As client.js: a count that rises by more than this push
                    # reveals a dropped push in between.
                    item = frame["notification"]
                    self.pushed_at.setdefault(item["id"], time.monotonic())
                    fresh = item["id"] not in self.ids
                    self.pushed.append(item["id"])
                    self.add(item["id"])
                    expected = None if self.unread_count is None else self.unread_count + int(item["unread"])
                    if fresh and expected is not None and frame["unread_count"] > expected:
                        await self.sync(self.cursor)
                    self.unread_count = frame["unread_count"]
                elif kind == "announcement":
                    self.announcements.append(frame["announcement"]["id"])
                elif kind == "sync":
                    for item in frame["notifications"]:
                        self.add(item["id"])
                    missing = [i for i in frame.get("recent", []) if i not in self.ids]
                    if not frame["complete"] and frame["notifications"]:
                        # A page of a longer gap: ask for the next one.
                        await self.sync(frame["notifications"][-1]["id"])
                    elif frame.get("more"):
                        # The page was cut to fit one frame.
                        await self.sync(self.cursor)
                    elif missing:
                        # A late commit below the cursor: from just below it.
                        await self.sync(min(missing) - 1)
                elif kind == "error" and frame["code"] == "rate_limited" and self.last_sync is not None:
                    # Paging faster than the frame rate limit: slow down.
                    await asyncio.sleep(0.5)
                    await self.sync(self.last_sync)
                elif kind == "heartbeat":
                    # A newest id we lack, or a count we were never told
                    # about, means a push was dropped: sync. The sync also
                    # lists recent ids below the cursor (docs/protocol.md).
                    last = frame["last_id"]
                    missed_newest = last is not None and last not in self.ids
                    if missed_newest or frame["unread_count"] != self.unread_count:
                        await self.sync(self.cursor)
                    self.unread_count = frame["unread_count"]
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.socket.connection.close_code

    async def sync(self, after: int | None) -> None:
        self.last_sync = after
        await self.socket.send({"type": "sync", "after": after})

    def shown(self) -> list[int]:
        """The ids as client.js lists them: each once, in order of first arrival."""
        return list(dict.fromkeys(self.seen))

    async def until(self, expected: set[int], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not expected <= self.ids:
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.socket.close()
        if self.task is not None:
            await self.task
