"""Connect-storm clients: each socket connects at its own scheduled moment,
spread evenly over a window, and records how long until its first frame.

Reads one JSON spec on stdin: {"targets": [[url, cookie], ...], "origin":
str, "start": epoch seconds, "spread": seconds, "offset": int, "total":
int}. Socket i of this process connects at start + spread * (offset + i) /
total. Prints "ready <n>" at once, then one JSON line: per socket
[seconds from its moment to its first frame or null, error or null].
"""

import asyncio
import json
import sys
import time

import websockets
from connect import origin_of, raise_open_file_limit


async def main() -> None:
    spec = json.loads(sys.stdin.readline())
    raise_open_file_limit()
    print(f"ready {len(spec['targets'])}", flush=True)
    connections = []

    async def storm(index: int, url: str, cookie: str) -> list:
        moment = spec["start"] + spec["spread"] * (spec["offset"] + index) / spec["total"]
        await asyncio.sleep(max(0.0, moment - time.time()))
        try:
            connection = await websockets.connect(
                url,
                additional_headers={"Origin": origin_of(url), "Cookie": cookie},
                open_timeout=30,
                ping_interval=None,
                max_queue=None,
            )
            connections.append(connection)
            frame = json.loads(await asyncio.wait_for(connection.recv(), 30))
            if frame.get("type") != "hello":
                return [None, f"first frame {frame.get('type')}"]
            return [time.time() - moment, None]
        except websockets.InvalidStatus as exc:
            return [None, f"HTTP {exc.response.status_code}"]
        except websockets.ConnectionClosed as exc:
            return [None, f"closed {exc.rcvd.code if exc.rcvd else 1006}"]
        except Exception as exc:
            return [None, type(exc).__name__]

    results = await asyncio.gather(*(storm(i, url, cookie) for i, (url, cookie) in enumerate(spec["targets"])))
    print(json.dumps(results), flush=True)
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
