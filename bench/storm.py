"""Connect storm: N clients with real sessions connect within a window, as
after a deploy, to P daphne (or, with --server uvicorn, uvicorn) processes.

    python bench/storm.py --users 5000 --processes 2 --spread 10

Reports failed handshakes by cause (HTTP status, close code, timeout), the
time from each client's moment to its `hello` (p50, p99, max), and the
handshakes per second per process, for ours and, first, for raw: a bare
`websockets` server that greets each socket with a `hello` frame, with no
session, user or snapshot (bench/raw_server.py). Writes
bench/results/storm.json. The targets: no failures, p99 `hello` within 5 s,
and at least a third of raw's handshake rate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from fanout import REDIS_URL, RESULTS, daphnes, label, launch_clients, prepare_database, ratio, raw_servers, summarize


def storm(targets: list[list], ports: list[int], args: argparse.Namespace) -> dict:
    """Connect every [url, cookie] at its moment; what the clients saw."""
    start = time.time() + 3  # time for the client processes to start
    spec = {"origin": f"http://127.0.0.1:{ports[0]}", "start": start, "spread": args.spread}
    clients = []
    for offset in range(0, len(targets), 1000):
        clients += launch_clients(
            "storm_clients.py", targets[offset : offset + 1000], {**spec, "offset": offset, "total": len(targets)}
        )
    results = []
    for process in clients:
        results += json.loads(process.stdout.readline())
        process.wait(timeout=60)
    finished = time.time()
    errors = Counter(error for _, error in results if error)
    waits = sorted(wait * 1000 for wait, _ in results if wait is not None)
    return {
        "hello": summarize(waits, sum(errors.values())),
        "errors": dict(errors),
        "per_process_per_second": round(len(waits) / args.processes / (finished - start), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--spread", type=float, default=10, help="seconds over which the clients connect")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="what serves ours")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(args.users)
    row = {"users": args.users, "processes": args.processes, "server": args.server, "spread": args.spread}
    with raw_servers(args.processes, "raw_server.py", REDIS_URL, "hello") as ports:
        row["raw"] = storm([[f"ws://127.0.0.1:{ports[i % len(ports)]}/", ""] for i in range(args.users)], ports, args)
    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/notifications/", c] for i, c in enumerate(cookies)]
        row["ours"] = storm(targets, ports, args)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "storm.json").write_text(json.dumps(row, indent=2))
    lines = [
        "| clients | processes | server | window s | failed | to hello p50 / p99 / max ms "
        "| handshakes/s per process | rate vs raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("raw", "ours"):
        r, hello = row[name], row[name]["hello"]
        failed = sum(r["errors"].values())
        rate = r["per_process_per_second"]
        lines.append(
            f"| {args.users} | {args.processes} | {label(name, args.server)} | {args.spread:g} "
            f"| {failed} {r['errors'] or ''} | {hello['p50']} / {hello['p99']} / {hello['max']} "
            f"| {rate} | {ratio(rate, row['raw']['per_process_per_second'])} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    ours = row["ours"]
    if (
        ours["errors"]
        or (ours["hello"]["p99"] or 0) > 5_000
        or ours["per_process_per_second"] * 3 < row["raw"]["per_process_per_second"]
    ):
        print("the storm targets were missed", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
