"""The base JSON consumer that both apps' consumers build on.

It owns everything that is the same for every socket: authentication, frame
size and rate limits, JSON decoding, error frames, the ``closing`` frame and
revocation, and hub membership. A subclass declares its groups, what to send
once joined, and one ``handle_<type>`` coroutine per client frame type.

In the real-time layering (docs/architecture.md) it sits above the wire
(``wire``, ``frames``) with the hub and the limits (``socket_limit``), and
below the apps' consumers; nothing below it imports it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from . import daphne_compat, socket_limit
from .frames import JSONDecodeError, decode, encode
from .hub import Hub, get_hub
from .socket_limit import SocketLimits, TokenBucket, keep_sockets_alive
from .wire import CONTROL_GROUP_PREFIX, CloseCode, ErrorCode, FrameError, control_group

if TYPE_CHECKING:
    from .appconf import AppConf

# Also importable from here.
__all__ = [
    "CONTROL_GROUP_PREFIX",
    "CloseCode",
    "ErrorCode",
    "FrameError",
    "RealtimeConsumer",
    "TokenBucket",
    "control_group",
    "keep_sockets_alive",
]

logger = logging.getLogger("notifications.realtime")


async def refuse_unknown_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The last WebSocket route: a handshake to a path no route serves is
    refused (HTTP 403) with one short log line, where Channels' router
    raises and daphne logs a traceback for every attempt."""
    logger.info("refused a WebSocket handshake to %.200s: no route", scope.get("path", ""))
    await receive()  # websocket.connect
    await send({"type": "websocket.close"})


_logged: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        logger.warning(message)


class RealtimeConsumer(AsyncWebsocketConsumer):
    """Auth, limits, validation and hub membership for a JSON socket."""

    # The hub does all channel-layer traffic for the process. An alias that
    # is never configured makes get_channel_layer() return None, so Channels
    # does not give each socket its own channel and receive() loop, which
    # would cost a task per socket and contend for the process inbox.
    channel_layer_alias = "realtime.hub-only"

    # The app's settings (realtime.appconf.AppConf), which give the limits;
    # without one, SocketLimits' defaults apply.
    app_conf: ClassVar[AppConf | None] = None

    user: Any
    hub: Hub
    socket_limits: SocketLimits

    # Hooks for subclasses ---------------------------------------------------------

    def limits(self) -> SocketLimits:
        """Called at connect: this socket's limits, read live from the app's conf."""
        return self.app_conf.socket_limits() if self.app_conf is not None else SocketLimits()

    async def groups_for_user(self) -> list[str]:
        """The hub groups this socket joins, before ``joined`` runs."""
        return []

    async def joined(self) -> None:
        """Called once every group is joined; send the snapshot here."""

    # Channels hooks -----------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' loop, without the channel layer it never has here.
        Channels' own waits on every ``receive`` through a new Task and an
        ``asyncio.wait``, for a second source this consumer does not have:
        about a third of an idle socket's tracked objects, and more for every
        full garbage collection to walk (docs/benchmarks.md)."""
        if get_channel_layer(self.channel_layer_alias) is not None:
            await super().__call__(scope, receive, send)  # a subclass that uses one
            return
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels 4.2+ runs aclose_old_connections() through the process-wide
        # sync thread before every message, which slows every broadcast.
        # These consumers reach the ORM only through
        # database_sync_to_async, which closes old connections itself.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        """Called on the handshake. Anonymous users are accepted and then
        closed with 4401, so that browsers see the code and stop retrying."""
        self.socket_limits = self.limits()
        self.user = self.scope.get("user")
        self.joined_groups: list[str] = []
        self.closed = False
        self.bucket = TokenBucket(self.socket_limits.frames_per_second, self.socket_limits.frame_burst)
        self.strikes = 0
        authenticated = self.user is not None and self.user.is_authenticated
        if authenticated:
            await self.wait_out_cooldown()
        await self.accept()
        if not authenticated:
            await self.close_with(CloseCode.NOT_LOGGED_IN, "not_logged_in")
            return
        refusal = await self.refuse()
        if refusal is not None:
            await self.close_with(*refusal)
            return
        try:
            self.hub = await get_hub()
        except RuntimeError:  # no channel layer
            _log_once("no channel layer is configured: WebSockets close with 4503 (set CHANNEL_LAYERS)")
            await self.close_with(CloseCode.UNAVAILABLE, "unavailable")
            return
        # scope["user"] is a lazy object: every attribute read goes through
        # it, a real share of an idle server's CPU in keep_sockets_alive.
        self.user_id = self.user.pk
        if self.sockets_of_user() >= self.socket_limits.max_sockets_per_user:
            await self.close_with(CloseCode.RATE_LIMITED, "too_many_sockets")
            return
        # Frames the hub delivers between joining and the snapshot wait here,
        # so that the snapshot (`hello`) is always a socket's first frame.
        self.held_frames: list[str] | None = []
        # The control group first: Hub.join adds the member before its first
        # await, which is what makes the process's own count above exact.
        self.joined_groups.append(control_group(self.user.pk))
        await self.hub.join(self.joined_groups[0], self)
        # Then the count across processes (with Redis).
        self.socket_id = uuid.uuid4().hex
        async with self.hub.ops:
            admitted = await socket_limit.admit(
                self.hub.layer,
                kind=self.socket_kind(),
                user_id=self.user.pk,
                socket_id=self.socket_id,
                limit=self.socket_limits.max_sockets_per_user,
            )
        if not admitted:
            self.socket_id = None
            await self.close_with(CloseCode.RATE_LIMITED, "too_many_sockets")
            return
        self.hub.every("realtime.sockets", socket_limit.ENTRY_SECONDS / 3, keep_sockets_alive)
        for group in await self.groups_for_user():
            await self.hub.join(group, self)
            self.joined_groups.append(group)
        await self.joined()
        held, self.held_frames = self.held_frames or [], None
        for text in held:
            await self.send_encoded(text)

    def socket_kind(self) -> str:
        return type(self).__qualname__

    async def wait_out_cooldown(self) -> None:
        """Hold the handshake (before accept, so the client cannot send yet)
        while this user is cooling down after an abuse close."""
        hold = socket_limit.cooldown_hold(self.socket_kind(), self.user.pk)
        if hold > 0:
            await asyncio.sleep(hold)

    def start_cooldown(self) -> None:
        socket_limit.cooldown_start(self.socket_kind(), self.user.pk, self.socket_limits.abuse_cooldown_seconds)

    def sockets_of_user(self) -> int:
        """This user's open sockets of this kind in this process. Counting and
        joining happen with no await in between, so concurrent connects
        cannot both slip under the limit."""
        members = self.hub.local_members(control_group(self.user.pk))
        return sum(1 for member in members if type(member) is type(self))

    async def refuse(self) -> tuple[int, str] | None:
        """Return (close code, reason) to refuse an authenticated user."""
        return None

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes, for any reason."""
        self.closed = True
        hub = getattr(self, "hub", None)
        if hub is not None:
            for group in self.joined_groups:
                hub.leave(group, self)
            socket_id, self.socket_id = getattr(self, "socket_id", None), None
            if socket_id is not None:
                # Within the hub's bound on layer operations: every socket of
                # a process can close at once, and redis-py's pool raises
                # rather than waits when that many ask for a connection.
                async with hub.ops:
                    await socket_limit.release(
                        hub.layer, kind=self.socket_kind(), user_id=self.user_id, socket_id=socket_id
                    )
        self.joined_groups = []

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Called for every client frame: limit, decode, validate, handle."""
        if self.closed or not self.joined_groups:
            return
        if not self.bucket.take():
            await self.strike(ErrorCode.RATE_LIMITED, "Too many frames; slow down.")
            return
        if text_data is None:
            await self.strike(ErrorCode.BINARY, "Frames must be JSON text.")
            return
        limit = self.socket_limits.max_frame_bytes
        if len(text_data) > limit or len(text_data.encode()) > limit:
            await self.close_too_large()
            return
        try:
            frame = decode(text_data)
        except JSONDecodeError:
            await self.strike(ErrorCode.BAD_JSON, "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self.strike(ErrorCode.BAD_FRAME, "A frame must be a JSON object.")
            return
        kind = frame.get("type")
        handler = getattr(self, f"handle_{kind}", None) if isinstance(kind, str) and kind.isidentifier() else None
        if handler is None:
            await self.strike(ErrorCode.UNKNOWN_TYPE, "Unknown frame type.")
            return
        try:
            await handler(frame)
        except FrameError as exc:
            await self.strike(exc.code, exc.message)
        except Exception:
            logger.exception("handling a %s frame failed", kind)
            await self.send_error(ErrorCode.SERVER_ERROR, "The server could not handle that frame.")

    # Sending ----------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send_encoded(encode(frame))

    async def send_now(self, frame: dict[str, Any]) -> None:
        """Send ahead of frames held since joining: the `hello` snapshot, `closing`."""
        text = encode(frame)
        if not self.closed and self.fits(text):
            await self.send(text_data=text)

    def fits(self, text: str) -> bool:
        """Whether a frame fits the server's message limit (MAX_FRAME_BYTES,
        the same as daphne's --websocket-max-message-size). autobahn fails a
        frame over it; the apps cut what they send to fit (a sync page, a
        notification's stub), so one that does not is logged and skipped:
        the heartbeat and sync bring the client what it lacks."""
        limit = self.socket_limits.max_frame_bytes
        if len(text) * 4 <= limit or len(text.encode()) <= limit:
            return True
        logger.warning("skipped a %s-byte frame over MAX_FRAME_BYTES (%s): %.80s", len(text.encode()), limit, text)
        return False

    async def send_encoded(self, text: str) -> None:
        """Write an already-encoded frame; the hub calls this for broadcasts."""
        if self.closed or not self.fits(text):
            return
        if getattr(self, "held_frames", None) is not None:
            self.held_frames.append(text)
            return
        # Under daphne, a shortcut past the ASGI send chain (daphne_compat).
        shortcut = self.scope.get("extensions", {}).get(daphne_compat.SEND_TEXT_EXTENSION)
        if shortcut is None or not shortcut["send"](text):
            await self.send(text_data=text)

    async def send_error(self, code: str, message: str) -> None:
        await self.send_frame({"type": "error", "code": code, "message": message})

    async def strike(self, code: str, message: str) -> None:
        """Answer a refused frame, and close a client that keeps sending them."""
        self.strikes += 1
        if self.strikes > self.socket_limits.max_strikes:
            close = CloseCode.RATE_LIMITED if code == ErrorCode.RATE_LIMITED else CloseCode.BAD_FRAMES
            self.start_cooldown()
            await self.close_with(close, code)
            return
        await self.send_error(code, message)

    async def close_with(self, code: int, reason: str) -> None:
        if self.closed:
            return
        await self.send_now({"type": "closing", "reason": reason})
        self.closed = True
        await self.close(code=code)

    async def close_too_large(self) -> None:
        self.start_cooldown()
        self.closed = True
        try:
            await self.close(code=CloseCode.TOO_LARGE)
        except Exception:
            await self.close(code=CloseCode.TOO_LARGE_FALLBACK)

    # Events from the hub -----------------------------------------------------------

    async def realtime_revoke(self, event: dict[str, Any]) -> None:
        """A session ended (logout) or a user lost access (password change,
        deactivation): close the matching sockets with 4408."""
        session_key = event.get("session_key")
        if session_key is not None:
            session = self.scope.get("session")
            if session is None or session.session_key != session_key:
                return
        await self.close_with(CloseCode.SESSION_ENDED, event.get("reason", "session_ended"))
