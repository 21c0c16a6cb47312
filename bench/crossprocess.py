"""A `notify.send` from another process (the shell, cron, a worker): how long
until the recipient's socket has it, on the in-memory layer, where the server
process finds it in the database (WATCH_SECONDS) and the client syncs after
the heartbeat that follows, against Redis, where it is pushed.

    python bench/crossprocess.py --users 20 --rate 5 --seconds 10

One daphne process on SQLite, or on PostgreSQL with
BENCH_DATABASE_URL=postgresql://.../bench, where the commit also wakes the
watch through LISTEN/NOTIFY; this process sends and holds the sockets. Each
socket behaves as the page's client does: it takes a `notification`, and
answers a heartbeat that shows an id it lacks with a `sync`. Latency runs from
the commit to the receipt. Writes bench/results/crossprocess-<database>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import threading
import time

from fanout import DATABASE_URL, REDIS_URL, RESULTS, daphnes, prepare_database, ratio, summarize


async def hold(url: str, cookies: list[str], origin: str, received: dict[int, float], ready: threading.Event, stop):
    import websockets

    async def one(cookie: str) -> None:
        async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": origin}) as socket:
            last_id = 0
            while not stop.is_set():
                try:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), 0.5))
                except TimeoutError:
                    continue
                if frame["type"] == "hello":
                    last_id = frame["last_id"] or 0
                    holding.append(1)
                    if len(holding) == len(cookies):
                        ready.set()
                items = []
                if frame["type"] == "notification":
                    items = [frame["notification"]]
                elif frame["type"] == "sync":
                    items = frame["notifications"]
                elif frame["type"] == "heartbeat" and (frame["last_id"] or 0) > last_id:
                    await socket.send(json.dumps({"type": "sync", "after": last_id}))
                for item in items:
                    received.setdefault(item["id"], time.time())
                    last_id = max(last_id, item["id"])

    holding: list[int] = []
    await asyncio.gather(*(one(cookie) for cookie in cookies))


def run(variant: str, cookies: list[str], args: argparse.Namespace) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.test import override_settings

    from notifications.signals import notify

    users = list(get_user_model().objects.order_by("pk")[: args.users])
    if variant == "in-memory":
        os.environ["BENCH_NO_REDIS"] = "1"
    try:
        servers = daphnes(1, "project.asgi:application")
        ports = servers.__enter__()
    finally:
        os.environ.pop("BENCH_NO_REDIS", None)
    try:
        received: dict[int, float] = {}
        ready, stop = threading.Event(), threading.Event()
        url, origin = f"ws://127.0.0.1:{ports[0]}/ws/notifications/", f"http://127.0.0.1:{ports[0]}"
        thread = threading.Thread(
            target=asyncio.run, args=(hold(url, cookies[: args.users], origin, received, ready, stop),), daemon=True
        )
        thread.start()
        if not ready.wait(60):
            raise RuntimeError("the sockets did not all get hello")
        committed: dict[int, float] = {}
        picks = random.Random(1).choices(users, k=int(args.rate * args.seconds))
        # The sender is a process of a site without Redis too.
        layers = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}} if variant == "in-memory" else None
        with override_settings(CHANNEL_LAYERS=layers) if layers else contextlib.nullcontext():
            start = time.monotonic()
            for n, user in enumerate(picks):
                time.sleep(max(0.0, start + n / args.rate - time.monotonic()))
                at: dict[str, float] = {}
                with transaction.atomic():
                    transaction.on_commit(lambda at=at: at.setdefault("t", time.time()))
                    [(_, [created])] = notify.send(users[0], recipient=user, verb="bench")
                committed[created.id] = at["t"]
        deadline = time.monotonic() + 30
        while set(committed) - set(received) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        thread.join(10)
    finally:
        servers.__exit__(None, None, None)
    latencies = sorted((received[i] - t) * 1000 for i, t in committed.items() if i in received)
    return {**summarize(latencies, len(set(committed) - set(received))), "sent": len(committed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5, help="notifications per second")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(args.users)
    database = DATABASE_URL.partition(":")[0]
    row = {"database": database, "users": args.users, "rate": args.rate, "seconds": args.seconds}
    for variant in ("redis", "in-memory"):
        row[variant] = run(variant, cookies, args)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"crossprocess-{database}.json").write_text(json.dumps(report_of(row), indent=2))
    lines = [
        "| database | layer | users | rate/s | p50 ms | p99 ms | max ms | sent | lost | p50 vs Redis |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant in ("redis", "in-memory"):
        r = row[variant]
        lines.append(
            f"| {database} | {variant} | {args.users} | {args.rate:g} | {r['p50']} | {r['p99']} | {r['max']} "
            f"| {r['sent']} | {r['missing']} | {ratio(r['p50'], row['redis']['p50'])} |"
        )
    print("\n" + "\n".join(lines))
    if any(row[variant]["missing"] for variant in ("redis", "in-memory")):
        print("a notification was lost", file=sys.stderr)
        raise SystemExit(1)


def report_of(row: dict) -> dict:
    """The results in the shape bench/report.py renders."""
    database = row["database"]
    rows = []
    for variant in ("redis", "in-memory"):
        r = row[variant]
        against = ratio(r["p50"], row["redis"]["p50"]) if r["p50"] is not None else "-"
        rows.append([variant, r["p50"], r["p99"], r["max"], r["sent"], r["missing"], against])
    command = f"python bench/crossprocess.py --users {row['users']} --rate {row['rate']:g} --seconds {row['seconds']:g}"
    if database != "sqlite":
        command = f"BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench {command}"
    watch = "LISTEN/NOTIFY wakes the watch" if database == "postgresql" else "the watch looks every second"
    return {
        "title": f"A send from another process ({database})",
        "about": (
            f"`notify.send` from a process with no sockets (a shell, cron) to {row['users']} connected users, "
            f"{row['rate']:g} a second for {row['seconds']:g} s, one daphne process; from the commit to the "
            f"receipt. On Redis the push goes through the layer; on the in-memory layer {watch}."
        ),
        "command": command,
        "table": {"columns": ["layer", "p50 ms", "p99 ms", "max ms", "sent", "lost", "p50 vs Redis"], "rows": rows},
        "targets": [
            {
                "target": f"a send from another process: nothing lost ({database})",
                "result": f"{row['redis']['missing'] + row['in-memory']['missing']} lost",
                "met": row["redis"]["missing"] + row["in-memory"]["missing"] == 0,
            }
        ],
        "raw": row,
    }


if __name__ == "__main__":
    main()
