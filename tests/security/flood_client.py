"""A flooding client, run as its own process by test_input.py so that its
work does not slow the test's own latency measurements.

    python -m tests.security.flood_client WS_URL ORIGIN COOKIE SECONDS

Sends 1,000 frames a second on one socket; when the server closes it,
connects again. Prints the close codes it saw as JSON.
"""

import asyncio
import json
import sys
import time

import websockets


async def flood(url: str, origin: str, cookie: str, seconds: float) -> list[int | None]:
    codes: list[int | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        headers = {"Origin": origin, "Cookie": cookie}
        # max_queue=None: read everything, so the close code is seen.
        async with websockets.connect(url, additional_headers=headers, max_queue=None) as socket:
            try:
                while time.monotonic() < deadline:
                    for _ in range(10):
                        await socket.send('{"type": "ping"}')
                    await asyncio.sleep(0.01)
            except websockets.ConnectionClosed:
                pass
            codes.append(socket.close_code)
    return codes


if __name__ == "__main__":
    url, origin, cookie, seconds = sys.argv[1:5]
    print(json.dumps(asyncio.run(flood(url, origin, cookie, float(seconds)))))
