"""A load-generating client process for Server-Sent Events: bench/clients.py
for event streams. Holds many ``GET`` streams of the notifications' events
endpoint, on raw connections read as a browser's EventSource reads them,
reports when they are all open, then records when each one receives each
broadcast.

Reads one JSON spec on stdin: {"targets": [[http_url, cookie], ...],
"marker": str, "rounds": int, "timeout": float, and optionally "handshakes"
(streams opening at a time, 100 by default) and "go"}. Prints "ready <n>"
once every stream has sent its ``hello`` event, with "go" waits for a line on
stdin, then prints one JSON line: receipt times (time.time()) per round, per
stream, null where nothing arrived. A stream that cannot open ends the
process with a line saying why instead of "ready".
"""

import asyncio
import contextlib
import json
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator

from connect import raise_open_file_limit

HELLO = b'"type":"hello"'
# A hello carries the user's recent notifications: more than asyncio's
# default line limit allows.
LINE_LIMIT = 2**20


class Stream:
    """One event stream: its events' data, as bytes, in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunked: bool):
        self.reader, self.writer, self.chunked = reader, writer, chunked
        self.buffer = b""

    @classmethod
    async def open(cls, url: str, cookie: str) -> "Stream":
        parts = urllib.parse.urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port, limit=LINE_LIMIT)
        request = [
            f"GET {parts.path} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
            f"Cookie: {cookie}",
        ]
        writer.write(("\r\n".join(request) + "\r\n\r\n").encode())
        status = await reader.readline()
        headers = {}
        while line := (await reader.readline()).strip():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if status.split()[1:2] != [b"200"] or not headers.get("content-type", "").startswith("text/event-stream"):
            writer.close()
            raise ConnectionError(f"{url} answered {status.strip()!r} {headers.get('content-type')!r}")
        return cls(reader, writer, headers.get("transfer-encoding") == "chunked")

    async def _read(self) -> bytes:
        """The next piece of the body."""
        if not self.chunked:
            data = await self.reader.read(65536)
        else:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            data = await self.reader.readexactly(size + 2)
            data = data[:-2]
            if size == 0:
                data = b""
        if not data:
            raise ConnectionError("the event stream ended")
        return data

    async def events(self) -> AsyncIterator[bytes]:
        """Each event's data (comments and field names left out), as it completes."""
        while True:
            while b"\n\n" not in self.buffer:
                self.buffer += await self._read()
            event, self.buffer = self.buffer.split(b"\n\n", 1)
            data = [line[5:].removeprefix(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
            if data:
                yield b"\n".join(data)

    def close(self) -> None:
        self.writer.close()


async def open_all(targets: list[list], handshakes: int) -> list[Stream]:
    """Open each [url, cookie], ``handshakes`` at a time, each past its ``hello``."""
    gate = asyncio.Semaphore(handshakes)

    async def open_one(url: str, cookie: str) -> Stream:
        async with gate:
            stream = await asyncio.wait_for(Stream.open(url, cookie), 120)
            async with asyncio.timeout(60):
                async for data in stream.events():
                    if HELLO in data:
                        return stream
            raise ConnectionError("the event stream ended before its hello")

    return await asyncio.gather(*(open_one(url, cookie) for url, cookie in targets))


async def main() -> None:
    spec = json.loads(sys.stdin.readline())
    raise_open_file_limit()
    marker = spec["marker"].encode()
    rounds = spec["rounds"]

    try:
        streams = await open_all(spec["targets"], spec.get("handshakes", 100))
    except Exception as exc:  # the parent reads this line instead of "ready"
        print(f"failed {exc!r}", flush=True)
        return
    print(f"ready {len(streams)}", flush=True)
    if spec.get("go"):
        # As in bench/clients.py: the timeout runs from "go".
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    stamps: list[list[float | None]] = [[None] * len(streams) for _ in range(rounds)]

    ended = 0

    async def read(index: int, stream: Stream) -> None:
        nonlocal ended
        seen = 0
        try:
            async for data in stream.events():
                if marker in data:
                    stamps[seen][index] = time.time()
                    seen += 1
                    if seen == rounds:
                        return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            # What it did not get counts as lost; the others read on.
            ended += 1

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(read(i, s) for i, s in enumerate(streams))), spec["timeout"])
    print(json.dumps(stamps), flush=True)
    if ended:
        print(f"sse_clients: {ended} streams ended early", file=sys.stderr, flush=True)
    for stream in streams:
        stream.close()


if __name__ == "__main__":
    asyncio.run(main())
