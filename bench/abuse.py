"""Abuse and stalled clients: what they cost everyone else, on one daphne process.

    python bench/abuse.py

One daphne process serves `project.asgi` on Redis and SQLite, as in the other
scenarios. Three measurements, each with its target:

- **flood**: ten users hold a socket; the bench times `notify.send` to the
  frame's arrival for 3 s, then again while `tests/system/security/flood_client.py`
  sends 1,000 frames a second on another user's socket (reconnecting after
  each 4429). The p99 during the flood stays within 2x of the p99 without it
  (plus 5 ms of scheduling noise), and the server's RSS grows by less than
  32 MiB.
- **stalled reader**: a client that never reads while 5,000 frames of about
  1.2 KB are due to it, and as many to a client that reads. daphne drops the
  stalled one past its send backlog (1 MiB), so the server's RSS grows by
  less than 24 MiB.
- **no route**: a handshake to a WebSocket path with no route is refused
  (HTTP 403) within 2 s, ten times: the last route refuses it at once.

The tests in tests/system/security and tests/system/reliability prove the outcomes (the
flood is closed with 4429, nothing is lost); this measures what they cost.
Writes bench/results/abuse.json in the report's generic format.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket as sockets
import statistics
import sys
import time

from fanout import REDIS_URL, RESULTS, ROOT, SERVERS, daphnes, prepare_database

from tests.live import rss_bytes  # fanout put the repository on sys.path

FRAMES = 5_000


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def open_socket(port: int, cookie: str, **options):
    import websockets

    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/notifications/",
        additional_headers={"Origin": f"http://127.0.0.1:{port}", "Cookie": cookie},
        **options,
    )


async def frame(socket, kind: str) -> dict:
    while True:
        got = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if got["type"] == kind:
            return got


async def flood(port: int, cookies: list[str], users: list) -> dict:
    from asgiref.sync import sync_to_async

    from notifications.signals import notify

    actor, victims = users[0], users[2:12]  # users[1] floods
    sockets_by_user = {
        user.pk: await open_socket(port, cookie) for user, cookie in zip(victims, cookies[2:12], strict=True)
    }
    for socket in sockets_by_user.values():
        await frame(socket, "hello")

    async def latencies(seconds: float) -> list[float]:
        samples, deadline = [], time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            user = victims[len(samples) % len(victims)]
            started = time.perf_counter()
            await sync_to_async(notify.send)(actor, recipient=user, verb="pinged")
            await frame(sockets_by_user[user.pk], "notification")
            samples.append(time.perf_counter() - started)
        return samples

    await latencies(0.5)  # warm up
    quiet = await latencies(3)
    rss_before = rss_bytes(SERVERS[port].pid)
    flooder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.system.security.flood_client",
        f"ws://127.0.0.1:{port}/ws/notifications/",
        f"http://127.0.0.1:{port}",
        cookies[1],
        "6",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.3)  # the flood under way
    loud = await latencies(5.5)
    out, _ = await flooder.communicate()
    rss_after = rss_bytes(SERVERS[port].pid)
    for socket in sockets_by_user.values():
        await socket.close()
    flooded = json.loads(out)
    return {
        "quiet_ms": round(p99(quiet) * 1000, 1),
        "loud_ms": round(p99(loud) * 1000, 1),
        "quiet_samples": len(quiet),
        "loud_samples": len(loud),
        "rss_growth_mib": round((rss_after - rss_before) / 2**20, 1),
        "flood_sockets": len(flooded),
        "flood_frames": sum(s["sent"] for s in flooded),
    }


async def stalled_reader(port: int, cookies: list[str], users: list) -> dict:
    import websockets
    from asgiref.sync import sync_to_async

    from notifications.signals import notify

    actor, slow, other = users[0], users[12], users[13]
    raw = sockets.socket()
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    raw.setblocking(False)
    stalled = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/notifications/",
        sock=raw,
        additional_headers={"Origin": f"http://127.0.0.1:{port}", "Cookie": cookies[12]},
        max_queue=1,
    )
    reader = await open_socket(port, cookies[13], max_queue=None)
    await frame(reader, "hello")
    rss_before = rss_bytes(SERVERS[port].pid)

    async def read_all() -> int:
        count = 0
        while count < FRAMES:
            count += (await frame(reader, "notification"))["type"] == "notification"
        return count

    reading = asyncio.create_task(read_all())
    for _ in range(FRAMES // 500):
        await sync_to_async(notify.send)(actor, recipient=[slow] * 500, verb="bulk", description="x" * 1000)
        await sync_to_async(notify.send)(actor, recipient=[other] * 500, verb="bulk", description="x" * 1000)
    received = await asyncio.wait_for(reading, 60)
    rss_after = rss_bytes(SERVERS[port].pid)
    dropped = False
    try:
        async with asyncio.timeout(10):
            async for _ in stalled:
                pass
    except websockets.ConnectionClosed:
        dropped = True
    except TimeoutError:
        pass
    dropped = dropped or stalled.close_code is not None
    await reader.close()
    return {"rss_growth_mib": round((rss_after - rss_before) / 2**20, 1), "dropped": dropped, "received": received}


async def no_route(port: int, attempts: int = 10) -> dict:
    import websockets

    times, statuses = [], []
    for _ in range(attempts):
        started = time.perf_counter()
        try:
            socket = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/nowhere/", additional_headers={"Origin": f"http://127.0.0.1:{port}"}
            )
            await socket.close()
            statuses.append(101)
        except websockets.InvalidStatus as refused:
            statuses.append(refused.response.status_code)
        times.append(time.perf_counter() - started)
    return {
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "statuses": sorted(set(statuses)),
    }


async def run(port: int, cookies: list[str]) -> dict:
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    users = await sync_to_async(lambda: list(get_user_model().objects.order_by("pk")))()
    return {
        "flood": await flood(port, cookies, users),
        "stalled": await stalled_reader(port, cookies, users),
        "no_route": await no_route(port),
    }


def report(data: dict) -> dict:
    """The results in the generic format bench/report.py shows."""
    f, s, n = data["flood"], data["stalled"], data["no_route"]
    loud_ok = f["loud_ms"] <= 2 * f["quiet_ms"] + 5
    rows = [
        [
            "flood",
            "push p99 without / with the flood",
            f"{f['quiet_ms']} / {f['loud_ms']} ms",
            f"{f['loud_ms'] / f['quiet_ms']:.2f}x",
            f"{f['quiet_samples']} / {f['loud_samples']} pushes; "
            f"{f['flood_frames']} flood frames on {f['flood_sockets']} sockets",
        ],
        ["flood", "RSS growth", f"{f['rss_growth_mib']} MiB", "", ""],
        [
            "stalled reader",
            "RSS growth while 6 MB are due",
            f"{s['rss_growth_mib']} MiB",
            "",
            f"dropped: {s['dropped']}; the reading client got {s['received']} of {FRAMES}",
        ],
        [
            "no route",
            "handshake refused, p50 / max",
            f"{n['p50_ms']} / {n['max_ms']} ms",
            "",
            f"HTTP {', '.join(map(str, n['statuses']))}",
        ],
    ]
    return {
        "title": "Abuse and stalled clients",
        "about": "One daphne process on Redis. A client flooding 1,000 frames a second (closed with 4429, and "
        "held in the handshake on each return), against ten users' pushes timed from `notify.send` to "
        "arrival; a client that never reads while 5,000 frames are due to it; and handshakes to a path with no "
        "route. The tests prove the outcomes; this measures what they cost the others.",
        "command": "python bench/abuse.py",
        "table": {"columns": ["case", "measure", "value", "ratio", "notes"], "rows": rows},
        "targets": [
            {
                "target": "push p99 during a flood at most 2x without it (+5 ms)",
                "result": f"{f['loud_ms'] / f['quiet_ms']:.2f}x",
                "met": loud_ok,
            },
            {
                "target": "RSS under a flood grows less than 32 MiB",
                "result": f"{f['rss_growth_mib']} MiB",
                "met": f["rss_growth_mib"] < 32,
            },
            {
                "target": "a stalled reader is dropped; RSS grows less than 24 MiB",
                "result": f"{s['rss_growth_mib']} MiB, dropped: {s['dropped']}",
                "met": s["dropped"] and s["rss_growth_mib"] < 24,
            },
            {
                "target": "a handshake to no route is refused within 2 s",
                "result": f"max {n['max_ms']} ms",
                "met": n["max_ms"] < 2000 and n["statuses"] == [403],
            },
        ],
        "raw": data,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(14)
    with daphnes(1, "project.asgi:application") as ports:
        data = asyncio.run(run(ports[0], cookies))
    result = report(data)
    print(json.dumps(data), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "abuse.json").write_text(json.dumps(result, indent=2))
    missed = [t["target"] for t in result["targets"] if not t["met"]]
    if missed:
        print("missed: " + "; ".join(missed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
