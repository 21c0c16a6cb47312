"""The raw chat baseline: a minimal `websockets` server that rebroadcasts
every message it receives, encoded once, to all of its sockets. No auth, no
storage: the practical floor for a Python chat room on one process."""

import asyncio
import json
import sys

import websockets
from connect import raise_open_file_limit


async def main(port: int) -> None:
    raise_open_file_limit()
    sockets: set = set()

    async def handler(connection: websockets.ServerConnection) -> None:
        sockets.add(connection)
        try:
            async for text in connection:
                frame = json.loads(text)
                websockets.broadcast(sockets, json.dumps({"type": "message", "message": frame}))
        finally:
            sockets.discard(connection)

    async with websockets.serve(handler, "127.0.0.1", port, backlog=4096, ping_interval=None, compression=None):
        print("listening", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
