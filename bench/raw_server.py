"""The raw baseline: a minimal `websockets` server that broadcasts one
pre-encoded frame to all of its sockets whenever a trigger arrives on a Redis
pub/sub channel. The practical floor for Python. With a third argument,
``hello``, it greets each socket with ``{"type":"hello"}`` (the connect
storm's baseline)."""

import asyncio
import sys

import redis.asyncio as redis
import websockets
from connect import raise_open_file_limit


async def main(port: int, redis_url: str, greet: bool = False) -> None:
    raise_open_file_limit()
    sockets: set = set()

    async def handler(connection: websockets.ServerConnection) -> None:
        if greet:
            await connection.send('{"type":"hello"}')
        sockets.add(connection)
        try:
            await connection.wait_closed()
        finally:
            sockets.discard(connection)

    async with websockets.serve(handler, "127.0.0.1", port, backlog=4096, ping_interval=None, compression=None):
        client = redis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe("bench:raw")
        print("listening", flush=True)
        async for message in pubsub.listen():
            if message["type"] == "message":
                websockets.broadcast(sockets, message["data"].decode())


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["hello"]))
