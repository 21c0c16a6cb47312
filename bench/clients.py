"""A load-generating client process: holds many WebSockets, reports when they
are all open, then records when each one receives each broadcast.

Reads one JSON spec on stdin: {"targets": [[url, cookie_or_null], ...],
"origin": str, "marker": str, "rounds": int, "timeout": float, and optionally
"greeting": int, "handshakes": int (at a time, 100 by default) and "go"}.
Prints "ready <n>" once every socket is open (and past its first frame, for
servers that send one), with "go" waits for a line on stdin, then prints one
JSON line: receipt times (time.time()) per round,
per socket, null where nothing arrived.
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
    marker = spec["marker"].encode()
    rounds = spec["rounds"]

    connections = await open_all(spec["targets"], spec["origin"], spec.get("greeting", 0), spec.get("handshakes", 100))
    print(f"ready {len(connections)}", flush=True)
    if spec.get("go"):
        # The timeout runs from "go", sent once every client process is
        # ready: the first ready ones would otherwise run out of time while
        # 20,000 sockets connect.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stamps: list[list[float | None]] = [[None] * len(connections) for _ in range(rounds)]

    async def read(index: int, connection: websockets.ClientConnection) -> None:
        seen = 0
        while seen < rounds:
            message = await connection.recv(decode=False)
            if marker in message:
                stamps[seen][index] = time.time()
                seen += 1

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(read(i, c) for i, c in enumerate(connections))), spec["timeout"])
    print(json.dumps(stamps), flush=True)
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
