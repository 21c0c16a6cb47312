"""Holds many sockets and records every personal notification they receive.

Reads one JSON spec on stdin: {"targets": [[url, cookie_or_null], ...],
"origin": str, "greeting": int}. Prints "ready <n>", then, when a line
arrives on stdin, one JSON line: [[socket index, id, sent, received], ...],
where `sent` is the time the sender stamped in the frame.
"""

import asyncio
import contextlib
import json
import sys
import time

import websockets
from connect import open_all, raise_open_file_limit


async def main() -> None:
    spec = json.loads(sys.stdin.readline())
    raise_open_file_limit()

    connections = await open_all(spec["targets"], spec["origin"], spec.get("greeting", 0))
    got: list[list] = []

    async def read(index: int, connection: websockets.ClientConnection) -> None:
        while True:
            try:
                frame = json.loads(await connection.recv())
            except websockets.ConnectionClosed as closed:
                # The bench does not reconnect: say so, or the ids this socket
                # then misses look lost.
                print(f"socket {index} closed at {time.time():.3f}: {closed!r}", file=sys.stderr, flush=True)
                return
            if frame.get("type") == "notification":
                item = frame["notification"]
                got.append([index, item["id"], item["data"]["sent"], time.time()])

    readers = [asyncio.create_task(read(i, c)) for i, c in enumerate(connections)]
    print(f"ready {len(connections)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for reader in readers:
        reader.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*readers, return_exceptions=True)
    print(json.dumps(got), flush=True)
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
