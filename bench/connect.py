"""Opening many WebSockets from one client process, shared by the client scripts."""

import asyncio
import resource
from urllib.parse import urlsplit

import websockets


def origin_of(url: str) -> str:
    """The page origin a browser would send to ``url``: its scheme, host and
    port (the server checks all three, as Django's CSRF check does)."""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def raise_open_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def open_all(
    targets: list[list], origin: str, greeting: int, handshakes: int = 100
) -> list[websockets.ClientConnection]:
    """Connect to each [url, cookie_or_null], ``handshakes`` at a time, and
    read ``greeting`` frames on each (servers that send a snapshot first).
    Each socket sends its own server's origin; ``origin`` is kept for the
    callers that pass one."""
    gate = asyncio.Semaphore(handshakes)

    async def open_socket(url: str, cookie: str | None) -> websockets.ClientConnection:
        headers = {"Origin": origin_of(url)}
        if cookie:
            headers["Cookie"] = cookie
        async with gate:
            connection = await websockets.connect(
                url, additional_headers=headers, open_timeout=120, ping_interval=None, max_queue=None
            )
            for _ in range(int(greeting)):
                await asyncio.wait_for(connection.recv(), 60)
            return connection

    return await asyncio.gather(*(open_socket(url, cookie) for url, cookie in targets))
