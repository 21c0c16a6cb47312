"""A flooding client, run as its own process by test_input.py so that its
work does not slow the test's own latency measurements.

    python -m tests.system.security.flood_client WS_URL ORIGIN COOKIE SECONDS

Sends 1,000 frames a second on one socket; when the server closes it,
connects again at once. Prints, as JSON, one entry per socket: its close code,
how long its handshake took, and how many frames it sent.
"""

import asyncio
import json
import sys
import time

import websockets


async def flood(url: str, origin: str, cookie: str, seconds: float) -> list[dict]:
    sockets: list[dict] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        headers = {"Origin": origin, "Cookie": cookie}
        started, sent = time.monotonic(), 0
        # max_queue=None: read everything, so the close code is seen.
        async with websockets.connect(url, additional_headers=headers, max_queue=None) as socket:
            handshake = time.monotonic() - started
            try:
                while time.monotonic() < deadline:
                    for _ in range(10):
                        await socket.send('{"type": "ping"}')
                        sent += 1
                    await asyncio.sleep(0.01)
            except websockets.ConnectionClosed:
                pass
        sockets.append({"code": socket.close_code, "handshake": handshake, "sent": sent})
    return sockets


if __name__ == "__main__":
    url, origin, cookie, seconds = sys.argv[1:5]
    print(json.dumps(asyncio.run(flood(url, origin, cookie, float(seconds)))))
