"""Chat room: one room, its members split over daphne processes, some of
them sending at a steady total rate; ours against a raw `websockets` room.

    python bench/chat.py --members 200 --senders 50 --rate 10 --seconds 10 --processes 2

For each message it measures the time from the sender's send to its arrival
at the last member (and at every member), and reports p50, p99 and max in
ms, with ours as a ratio against raw. Writes bench/results/chat.json.
Ours stores every message (SQLite here), takes the room's row lock, and
publishes through Redis; raw does none of that, on one process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fanout import REDIS_URL, RESULTS, ROOT, daphnes, label, prepare_database, ratio, raw_servers, summarize


def run(targets: list[list], origin: str, args: argparse.Namespace, greeting: int) -> dict:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "chat_clients.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    spec = {
        "targets": targets,
        "origin": origin,
        "senders": args.senders,
        "rate": args.rate,
        "seconds": args.seconds,
        "greeting": greeting,
    }
    process.stdin.write(json.dumps(spec) + "\n")
    process.stdin.flush()
    line = process.stdout.readline()
    if not line.startswith("ready"):
        raise RuntimeError(f"the client process failed to connect: {line!r}")
    # Let the members' join announcements (one per member, to every member)
    # settle, so the figures are of steady chat rather than of the join storm.
    time.sleep(args.settle)
    process.stdin.write("go\n")
    process.stdin.flush()
    result = json.loads(process.stdout.readline())
    process.wait(timeout=30)
    members = len(targets)
    to_last, to_each, missing = [], [], 0
    for client_id, sent in result["sent"].items():
        stamps = result["received"].get(client_id, [])
        missing += members - len(stamps)
        if stamps:
            to_each.extend((stamp - sent) * 1000 for stamp in stamps)
            if len(stamps) == members:
                to_last.append((max(stamps) - sent) * 1000)
    to_last.sort()
    to_each.sort()
    return {"to_last": summarize(to_last, missing), "to_each": summarize(to_each, missing)}


def run_ours(cookies: list[str], args: argparse.Namespace) -> dict:
    from chat.services import room_create

    room_create(name="Bench", slug="bench")
    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/chat/bench/", c] for i, c in enumerate(cookies)]
        # Skip history and presence (join frames of later members are not
        # messages, so the reader ignores them).
        return run(targets, f"http://127.0.0.1:{ports[0]}", args, greeting=2)


def run_raw(args: argparse.Namespace) -> dict:
    with raw_servers(1, "raw_chat_server.py") as [port]:
        targets = [[f"ws://127.0.0.1:{port}/", None] for _ in range(args.members)]
        return run(targets, f"http://127.0.0.1:{port}", args, greeting=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10, help="messages per second, all senders together")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--settle", type=float, default=3, help="seconds between connecting and sending")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="what serves ours")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(args.members)
    row = {"members": args.members, "processes": args.processes, "rate": args.rate, "senders": args.senders}
    row["raw"] = run_raw(args)
    row["ours"] = run_ours(cookies, args)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chat.json").write_text(json.dumps(row, indent=2))
    lines = [
        "| members | processes | server | to the last member p50 / p99 / max ms | to each member p50 / p99 ms "
        "| lost | p99 vs raw |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, processes in (("raw", 1), ("ours", args.processes)):
        last, each = row[name]["to_last"], row[name]["to_each"]
        vs_raw = ratio(last["p99"], row["raw"]["to_last"]["p99"])
        lines.append(
            f"| {args.members} | {processes} | {label(name, args.server)} "
            f"| {last['p50']} / {last['p99']} / {last['max']} "
            f"| {each['p50']} / {each['p99']} | {last['missing']} | {vs_raw} |"
        )
    table = "\n".join(lines)
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if row["ours"]["to_last"]["missing"]:
        print(f"ours lost {row['ours']['to_last']['missing']} deliveries", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
