"""The chat room's load: holds every member's socket in one process, has
some of them send messages at a steady total rate, and records when each
member receives each message.

Reads one JSON spec on stdin: {"targets": [[url, cookie_or_null], ...],
"origin": str, "senders": int, "rate": float, "seconds": float,
"greeting": int (frames to read after connecting)}. Prints "ready <n>",
waits for a line on stdin, sends, then prints one JSON line:
{"sent": {client_id: time}, "received": {client_id: [time per member]}}.
"""

import asyncio
import json
import sys
import time

import websockets
from connect import open_all, raise_open_file_limit


async def main() -> None:
    spec = json.loads(sys.stdin.readline())
    raise_open_file_limit()

    connections = await open_all(spec["targets"], spec["origin"], spec.get("greeting", 0))
    received: dict[str, list[float]] = {}
    total = int(spec["rate"] * spec["seconds"])

    async def read(connection: websockets.ClientConnection) -> None:
        while True:
            frame = json.loads(await connection.recv())
            if frame.get("type") == "message":
                stamp = time.time()
                message = frame.get("message", frame)
                received.setdefault(message["client_id"], []).append(stamp)

    readers = [asyncio.create_task(read(c)) for c in connections]
    print(f"ready {len(connections)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    sent: dict[str, float] = {}
    start = time.monotonic()
    for n in range(total):
        await asyncio.sleep(max(0.0, start + n / spec["rate"] - time.monotonic()))
        client_id = f"bench-{n}"
        sent[client_id] = time.time()
        sender = connections[n % spec["senders"]]
        await sender.send(json.dumps({"type": "message", "body": f"message {n}", "client_id": client_id}))
    await asyncio.sleep(3)
    for reader in readers:
        reader.cancel()
    print(json.dumps({"sent": sent, "received": received}), flush=True)
    await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
