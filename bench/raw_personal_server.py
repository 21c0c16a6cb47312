"""The raw baseline for personal notifications: a minimal `websockets`
server that keeps each socket under the user id in its path (/u/<id>), and
forwards each message of a Redis pub/sub channel to the sockets of the user
it names. The same path as ours, done by hand, with no auth or storage."""

import asyncio
import json
import sys
from collections import defaultdict

import redis.asyncio as redis
import websockets
from connect import raise_open_file_limit


async def main(port: int, redis_url: str) -> None:
    raise_open_file_limit()
    users: dict[str, set] = defaultdict(set)

    async def handler(connection: websockets.ServerConnection) -> None:
        user = connection.request.path.rsplit("/", 1)[-1]
        users[user].add(connection)
        try:
            await connection.wait_closed()
        finally:
            users[user].discard(connection)

    async with websockets.serve(handler, "127.0.0.1", port, backlog=4096, ping_interval=None, compression=None):
        pubsub = redis.Redis.from_url(redis_url).pubsub()
        await pubsub.subscribe("bench:personal")
        print("listening", flush=True)
        async for message in pubsub.listen():
            if message["type"] == "message":
                text = message["data"].decode()
                websockets.broadcast(users.get(str(json.loads(text)["user"]), ()), text)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
