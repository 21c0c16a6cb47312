"""Idle cost: N users hold notification sockets over P daphne processes and
do nothing; against polling django-notifications' unread-count endpoint
every 15 s (its live updater's default) for the same users.

    python bench/idle.py --users 10000 --processes 2 --seconds 60

Reports, per daphne process, the RSS added per connected socket and the CPU
used per minute while idle (server heartbeats included, every 25 s by
default). For polling it measures the CPU each unread-count request costs
the same daphne processes, over real sessions and keep-alive connections,
and reports what N users polling every 15 s would cost. Writes
bench/results/idle.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from pathlib import Path

from fanout import REDIS_URL, RESULTS, SERVERS, daphnes, launch_clients, prepare_database

from tests.live import rss_bytes  # fanout put the repository on sys.path

TICKS = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 15


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def run_idle(cookies: list[str], args: argparse.Namespace) -> dict:
    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        pids = [SERVERS[port].pid for port in ports]
        # Warm each process up (imports, hub, database connection) with one
        # socket, so the baseline RSS is a running server's.
        warm = launch_clients(
            "clients.py",
            [[f"ws://127.0.0.1:{port}/ws/notifications/", cookies[-1 - i]] for i, port in enumerate(ports)],
            {"origin": f"http://127.0.0.1:{ports[0]}", "marker": "never", "rounds": 1, "timeout": 1, "greeting": True},
        )
        for process in warm:
            process.communicate(timeout=30)
        time.sleep(2)
        rss_before = [rss_bytes(pid) for pid in pids]
        targets = [
            [f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/notifications/", cookie]
            for i, cookie in enumerate(cookies[: args.users])
        ]
        started = time.monotonic()
        spec = {"origin": f"http://127.0.0.1:{ports[0]}", "marker": "never", "rounds": 1, "greeting": True}
        clients = launch_clients("clients.py", targets, {**spec, "timeout": args.seconds + 15})
        connect_seconds = time.monotonic() - started
        time.sleep(5)  # let the connect work finish
        cpu_before = [cpu_seconds(pid) for pid in pids]
        time.sleep(args.seconds)
        cpu_after = [cpu_seconds(pid) for pid in pids]
        rss_after = [rss_bytes(pid) for pid in pids]
        for process in clients:
            process.communicate(timeout=60)
    per_process = args.users / args.processes
    return {
        "connect_seconds": round(connect_seconds, 1),
        "rss_mib_before": [round(r / 2**20, 1) for r in rss_before],
        "rss_mib_after": [round(r / 2**20, 1) for r in rss_after],
        "kib_per_socket": [round((a - b) / per_process / 1024, 1) for a, b in zip(rss_after, rss_before, strict=True)],
        "cpu_percent": [round((a - b) / args.seconds * 100, 2) for a, b in zip(cpu_after, cpu_before, strict=True)],
    }


def run_polling(cookies: list[str], args: argparse.Namespace) -> dict:
    """CPU per unread-count request on the same servers, at a steady rate."""
    rate, seconds, threads = args.poll_rate, args.poll_seconds, 16
    done = []
    failures = []
    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        pids = [SERVERS[port].pid for port in ports]

        def poller(index: int) -> None:
            port = ports[index % len(ports)]
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            interval = threads / rate
            next_at = time.monotonic()
            deadline = next_at + seconds
            n = index
            while time.monotonic() < deadline:
                cookie = cookies[n % len(cookies)]
                n += threads
                connection.request("GET", "/notifications/api/unread_count/", headers={"Cookie": cookie})
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or b"unread_count" not in body:
                    failures.append((response.status, body[:200]))
                done.append(1)
                next_at += interval
                time.sleep(max(0, next_at - time.monotonic()))

        cpu_before = [cpu_seconds(pid) for pid in pids]
        workers = [threading.Thread(target=poller, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        cpu_used = sum(cpu_seconds(pid) for pid in pids) - sum(cpu_before)
    requests = len(done)
    cpu_per_request = cpu_used / requests
    needed_rate = args.users / POLL_SECONDS
    return {
        "requests": requests,
        "failures": len(failures),
        "first_failure": repr(failures[0]) if failures else None,
        "achieved_rate": round(requests / seconds, 1),
        "cpu_ms_per_request": round(cpu_per_request * 1000, 2),
        "rate_for_users": round(needed_rate, 1),
        "cpu_percent_for_users": round(needed_rate * cpu_per_request * 100, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60, help="idle window measured")
    parser.add_argument("--poll-rate", type=float, default=100, help="unread-count requests per second")
    parser.add_argument("--poll-seconds", type=float, default=20)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(args.users + args.processes)
    row = {"users": args.users, "processes": args.processes, "seconds": args.seconds, "server": args.server}
    row["idle"] = run_idle(cookies, args)
    row["polling"] = run_polling(cookies[: args.users], args)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "idle.json").write_text(json.dumps(row, indent=2))

    idle, poll = row["idle"], row["polling"]
    lines = [
        "| users | processes | way | RSS per socket KiB | CPU, % of one core | notes |",
        "|---|---|---|---|---|---|",
        f"| {args.users} | {args.processes} | ours on {args.server}, idle sockets "
        f"| {' / '.join(map(str, idle['kib_per_socket']))} "
        f"| {' / '.join(map(str, idle['cpu_percent']))} | per process, over {args.seconds:g} s with heartbeats; "
        f"connecting took {idle['connect_seconds']} s |",
        f"| {args.users} | {args.processes} | polling unread_count every {POLL_SECONDS} s, {args.server} | - "
        f"| {poll['cpu_percent_for_users']} (both processes) | {poll['cpu_ms_per_request']} ms CPU per request, "
        f"measured at {poll['achieved_rate']}/s, {poll['failures']} failed; {poll['rate_for_users']}/s needed |",
    ]
    table = "\n".join(lines)
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if poll["failures"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
