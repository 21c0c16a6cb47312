"""Announcement fan-out over Server-Sent Events against the same over
WebSockets: the same users, servers and run.

    python bench/sse.py --users 2000 --processes 2 --rounds 3

N users with real sessions and P daphne processes serving project.asgi,
as in bench/fanout.py. Each round connects the N users over one transport
(WebSocket: bench/clients.py; Server-Sent Events from
/notifications/api/events/: bench/sse_clients.py), publishes ``broadcasts``
announcements a second apart and measures, for every client, the time from
announcement_publish returning to the frame's arrival; it closes them and
does the same over the other transport. Which goes first swaps each round,
so neither always meets the servers fresher. Before the rounds (unless
--no-memory), fresh servers measure the RSS each open client of either
transport adds, and the threads they run while the clients are open.

It prints p50, p99, max and lost per transport over all rounds and the SSE /
WebSocket ratios of p50 and p99, and writes bench/results/sse.json. It exits
non-zero if a frame was lost.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from fanout import (
    REDIS_URL,
    RESULTS,
    SERVERS,
    SOCKETS_PER_CLIENT,
    daphnes,
    launch_clients,
    prepare_database,
    ratio,
    summarize,
)

from tests.live import rss_bytes  # fanout put the repository on sys.path

APP = "project.asgi:application"
TRANSPORTS = ("websocket", "sse")
MARKER = '"type":"announcement"'
# After the last client is ready: the connect burst's work (snapshots, group
# joins, the collector's freeze of the new clients) ends before the first
# announcement, for either transport.
SETTLE_SECONDS = 3.0
# After the clients go: the servers drop them (leave the hub's groups)
# before the other transport connects the same users.
DRAIN_SECONDS = 3.0


def open_clients(transport: str, ports: list[int], cookies: list[str], broadcasts: int, timeout: float) -> list:
    """Client processes holding one ``transport`` client per cookie, spread
    over ``ports``, ready and told to start timing (bench/clients.py)."""
    if transport == "sse":
        script, url, extra = "sse_clients.py", "http://127.0.0.1:{}/notifications/api/events/", {}
    else:
        script, url = "clients.py", "ws://127.0.0.1:{}/ws/notifications/"
        extra = {"origin": f"http://127.0.0.1:{ports[0]}", "greeting": True}
    targets = [[url.format(ports[i % len(ports)]), cookie] for i, cookie in enumerate(cookies)]
    # As bench/fanout.py spreads its sockets: a client process per core, and
    # as many handshakes at a time in all.
    per_client = min(SOCKETS_PER_CLIENT, math.ceil(len(targets) / (os.cpu_count() or 1)))
    spec = {
        **extra,
        "marker": MARKER,
        "rounds": broadcasts,
        "timeout": timeout,
        "handshakes": max(1, 100 * per_client // SOCKETS_PER_CLIENT),
        "go": True,
    }
    return launch_clients(script, targets, spec, per_client)


def receipts(clients: list, triggers: list[float]) -> tuple[list[float], int]:
    """Each client's delay after each trigger, in ms, and how many frames never came."""
    latencies, missing = [], 0
    for process in clients:
        stamps = json.loads(process.stdout.readline())
        process.wait(timeout=30)
        for received, trigger in zip(stamps, triggers, strict=True):
            missing += received.count(None)
            latencies += [(stamp - trigger) * 1000 for stamp in received if stamp is not None]
    return latencies, missing


def block(transport: str, ports: list[int], cookies: list[str], broadcasts: int, name: str) -> tuple[list[float], int]:
    """Connect every user over ``transport``, time ``broadcasts`` announcements, disconnect."""
    from notifications import services

    clients = open_clients(transport, ports, cookies, broadcasts, SETTLE_SECONDS + 30 + broadcasts * 3)
    time.sleep(SETTLE_SECONDS)
    triggers = []
    for n in range(broadcasts):
        time.sleep(1.0)
        services.announcement_publish(announcement=services.announcement_create(title=f"{name} {n}"))
        triggers.append(time.time())
    result = receipts(clients, triggers)
    time.sleep(DRAIN_SECONDS)
    return result


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Threads for {pid}")


def memory(transport: str, cookies: list[str], processes: int) -> dict:
    """What each open ``transport`` client adds to a fresh server, per
    process: KiB of RSS, and the threads the process runs while they are open."""
    with daphnes(processes, APP) as ports:
        pids = [SERVERS[port].pid for port in ports]
        # One client per process first, so the baseline is a running
        # server's (imports, hub, database connection), as bench/idle.py does.
        for process in open_clients(transport, ports, cookies[:processes], 1, 1):
            process.communicate(timeout=30)
        time.sleep(2)
        before = [rss_bytes(pid) for pid in pids]
        clients = open_clients(transport, ports, cookies, 1, SETTLE_SECONDS + 2)
        time.sleep(SETTLE_SECONDS)
        after = [rss_bytes(pid) for pid in pids]
        running = [threads(pid) for pid in pids]
        for process in clients:
            process.communicate(timeout=30)
    per_process = len(cookies) / processes
    return {
        "kib_per_client": [round((a - b) / per_process / 1024, 1) for a, b in zip(after, before, strict=True)],
        "threads": running,
    }


def run(cookies: list[str], args: argparse.Namespace) -> dict:
    pooled: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    lost = {t: 0 for t in TRANSPORTS}
    per_round: dict[str, list[dict]] = {t: [] for t in TRANSPORTS}
    order = []
    with daphnes(args.processes, APP) as ports:
        for round_index in range(args.rounds):
            for transport in TRANSPORTS if round_index % 2 else TRANSPORTS[::-1]:
                latencies, missing = block(transport, ports, cookies, args.broadcasts, f"{transport} {round_index}")
                latencies.sort()
                per_round[transport].append(summarize(latencies, missing))
                pooled[transport] += latencies
                lost[transport] += missing
                order.append(transport)
                print(f"round {round_index + 1} {transport}: {json.dumps(per_round[transport][-1])}", flush=True)
    row: dict = {"order": order}
    for transport in TRANSPORTS:
        row[transport] = {**summarize(sorted(pooled[transport]), lost[transport]), "rounds": per_round[transport]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="each measures both transports")
    parser.add_argument("--broadcasts", type=int, default=1, help="announcements per transport a round")
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the RSS per client of each transport on fresh servers first",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    load_before = [round(x, 2) for x in os.getloadavg()]
    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(args.users)
    row = {
        "users": args.users,
        "processes": args.processes,
        "rounds": args.rounds,
        "broadcasts": args.broadcasts,
        "server": "daphne",
    }
    if args.memory:
        row["memory"] = {t: memory(t, cookies, args.processes) for t in TRANSPORTS}
    row.update(run(cookies, args))
    sse, websocket = row["sse"], row["websocket"]
    row["ratio"] = {
        key: round(sse[key] / websocket[key], 2) if sse[key] and websocket[key] else None for key in ("p50", "p99")
    }
    row["load_average"] = {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps({k: v for k, v in row.items() if k not in TRANSPORTS}), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sse.json").write_text(json.dumps(row, indent=2))

    lines = [
        "| transport | clients | processes | p50 ms | p99 ms | max ms | lost | p50 / p99 vs WebSocket |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for transport in TRANSPORTS:
        r = row[transport]
        versus = f"{ratio(r['p50'], websocket['p50'])} / {ratio(r['p99'], websocket['p99'])}"
        lines.append(
            f"| {transport} | {args.users} | {args.processes} | {r['p50']} | {r['p99']} | {r['max']} "
            f"| {r['missing']} | {versus} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    for transport, used in row.get("memory", {}).items():
        print(f"{transport}: {used['kib_per_client']} KiB of RSS per client, {used['threads']} threads, per process")
    print(f"load average before / after: {row['load_average']['before']} / {row['load_average']['after']}")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    lost = sse["missing"] + websocket["missing"]
    if lost:
        print(f"lost {sse['missing']} frames over SSE, {websocket['missing']} over WebSockets", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
