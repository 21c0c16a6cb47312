"""Personal notification latency: while M users are connected over N daphne
processes, two sender processes commit `notify.send` calls at a steady rate
to random users; ours against the same path done by hand (a Redis publish to a
`websockets` server that forwards to the user's sockets).

    python bench/personal.py --users 2000 --processes 2 --rate 200 --seconds 10
    python bench/personal.py --users 10000 --processes 2 --rate 200 --seconds 10 --runs 5

Measures the time from the commit of each notification (for raw, the
publish) to the frame's arrival, and also from just before the
`notify.send` call, and checks that every id arrives exactly once. Writes
bench/results/personal.json, or, with ``--runs`` above 1 (raw and ours
again each time, on a Redis emptied first), bench/results/personal-runs.json:
the tail moves from run to run, so a target on it is judged over several.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

from fanout import (
    REDIS_URL,
    RESULTS,
    SOCKETS_PER_CLIENT,
    daphnes,
    gc_summary,
    label,
    launch_clients,
    prepare_database,
    ratio,
    raw_servers,
    summarize,
)


def start_collectors(targets: list[list], origin: str, greeting: int) -> list:
    return launch_clients("personal_clients.py", targets, {"origin": origin, "greeting": greeting})


SENDERS = 2


def send_steadily(rate: float, seconds: float, send) -> list:
    """Call ``send(n)`` `rate` times a second, each call at its scheduled
    time, from SENDERS forked processes (one call waits for its commit and
    publish, so one sender alone cannot keep the rate); returns what each
    call returned, in the order they were scheduled, None for a call that
    failed. Processes, not threads: two sender threads queue for one GIL
    behind each other's ORM work (a push from the sending process then took
    11 ms at the median against 2 ms alone), which would measure the load
    generator."""
    from django.db import connections

    total = int(rate * seconds)
    sent: list = [None] * total
    connections.close_all()  # each process opens its own
    start = time.monotonic() + 0.5
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def sender(first: int) -> None:
        done = []
        try:
            for n in range(first, total, SENDERS):
                time.sleep(max(0.0, start + n / rate - time.monotonic()))
                try:
                    done.append((n, send(n)))
                except Exception:
                    traceback.print_exc()  # counted as lost
        finally:
            connections.close_all()
            results.put(done)

    processes = [context.Process(target=sender, args=(i,)) for i in range(SENDERS)]
    for process in processes:
        process.start()
    for _ in processes:
        try:
            done = results.get(timeout=seconds + 120)
        except queue.Empty:
            raise RuntimeError(f"a sender process died: exit codes {[p.exitcode for p in processes]}") from None
        for n, value in done:
            sent[n] = value
    for process in processes:
        process.join()
    return sent


def check(
    clients: list,
    sent: list[tuple[int, int]],
    offset: int,
    committed: dict[int, float] | None = None,
    pushed: dict[int, float] | None = None,
) -> dict:
    """Every id arrived once? Latency runs from the commit (``committed``, by
    id; for raw, the publish) to the receipt, and also from the call and, for
    ours, from the end of the push (``pushed``: when ``notify.send``, whose
    push runs in it after the commit, returned), which leaves the servers'
    share."""
    time.sleep(3)  # let the last frames arrive
    for process in clients:
        process.stdin.write("stop\n")
        process.stdin.flush()
    committed = committed or {}
    received: dict[tuple[int, int], int] = {}
    latencies, from_call, from_push = [], [], []
    for base, process in enumerate(clients):
        for index, item_id, sent_at, received_at in json.loads(process.stdout.readline()):
            key = (base * SOCKETS_PER_CLIENT + index + offset, item_id)
            received[key] = received.get(key, 0) + 1
            latencies.append((received_at - committed.get(item_id, sent_at)) * 1000)
            from_call.append((received_at - sent_at) * 1000)
            if pushed and item_id in pushed:
                from_push.append((received_at - pushed[item_id]) * 1000)
        process.wait(timeout=30)
    expected = set(sent)
    missed = expected - received.keys()
    lost = len(missed)
    if missed:
        order = {key: n for n, key in enumerate(sent)}
        print(f"lost, by position in the send order: {sorted(order[k] for k in missed)[:20]}...", file=sys.stderr)
    duplicates = sum(count - 1 for count in received.values())
    stray = len(received.keys() - expected)
    latencies.sort()
    call = summarize(sorted(from_call), lost)
    push = summarize(sorted(from_push), lost) if from_push else {"p50": None, "p99": None}
    if from_push:
        print(f"ours, from the end of the push to the receipt: p50 {push['p50']} ms, p99 {push['p99']} ms")
    return {
        **summarize(latencies, lost),
        "p50_from_call": call["p50"],
        "p99_from_call": call["p99"],
        "p50_from_push": push["p50"],
        "p99_from_push": push["p99"],
        "duplicates": duplicates,
        "stray": stray,
        "sent": len(sent),
    }


def run_ours(cookies: list[str], user_ids: list[int], args: argparse.Namespace) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from notifications.signals import notify

    users = list(get_user_model().objects.filter(pk__in=user_ids).order_by("pk"))
    actor = users[0]
    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/notifications/", c] for i, c in enumerate(cookies)]
        clients = start_collectors(targets, f"http://127.0.0.1:{ports[0]}", 1)
        window = time.time()
        picks = random.Random(1).choices(range(len(users)), k=int(args.rate * args.seconds))

        def send(n: int) -> tuple[int, int, float, float]:
            index = picks[n]
            commit: dict[str, float] = {}
            with transaction.atomic():
                # Registered first, so it runs first after the commit, before
                # notify.send's own on_commit push.
                transaction.on_commit(lambda: commit.setdefault("at", time.time()))
                [(_, [created])] = notify.send(actor, recipient=users[index], verb="bench", sent=time.time())
            return index, created.id, commit["at"], time.time()

        started = time.monotonic()
        calls = send_steadily(args.rate, args.seconds, send)
        # check() gives the last frames 3 s, then stops the clients, whose
        # disconnects are not part of the measurement.
        window = (window, time.time() + 3)
        print(f"ours: sending took {time.monotonic() - started:.1f} s", file=sys.stderr)
        committed = {call[1]: call[2] for call in calls if call}
        pushed = {call[1]: call[3] for call in calls if call}
        sent = [call[:2] if call else None for call in calls]
        result = check(clients, sent, 0, committed, pushed)
    if args.server == "daphne":
        # The collections from the first send to the last receipt.
        result["gc"] = gc_summary(ports, *window)
        print(f"ours, garbage collections in the servers: {result['gc']}")
    return result


def run_raw(users: int, args: argparse.Namespace) -> dict:
    import redis

    with raw_servers(args.processes, "raw_personal_server.py", REDIS_URL) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % len(ports)]}/u/{i}", None] for i in range(users)]
        clients = start_collectors(targets, f"http://127.0.0.1:{ports[0]}", 0)
        client = redis.Redis.from_url(REDIS_URL)  # connects in each sender
        picks = random.Random(1).choices(range(users), k=int(args.rate * args.seconds))

        def send(n: int) -> tuple[int, int]:
            index = picks[n]
            frame = {"type": "notification", "user": index, "notification": {"id": n, "data": {"sent": time.time()}}}
            client.publish("bench:personal", json.dumps(frame, separators=(",", ":")))
            return index, n

        sent = send_steadily(args.rate, args.seconds, send)
        return check(clients, sent, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200, help="notifications per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="what serves ours")
    parser.add_argument("--runs", type=int, default=1, help="measure raw and ours this many times")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    import redis

    os.environ.setdefault("BENCH_GC_STATS", tempfile.mkdtemp(prefix="bench-gc-"))
    cookies = prepare_database(args.users)
    from django.contrib.auth import get_user_model

    user_ids = list(get_user_model().objects.order_by("pk").values_list("pk", flat=True))
    common = {"users": args.users, "processes": args.processes, "rate": args.rate, "seconds": args.seconds}
    runs = []
    for run in range(args.runs):
        if args.runs > 1:
            print(f"run {run + 1} of {args.runs}", file=sys.stderr, flush=True)
        # Emptied each time: a finished run's hubs stay members of the
        # users' groups, and every send would also go to their inboxes.
        redis.Redis.from_url(REDIS_URL).flushdb()
        row = {**common, "raw": run_raw(args.users, args), "ours": run_ours(cookies, user_ids, args)}
        print(json.dumps(row), flush=True)
        runs.append(row)
    RESULTS.mkdir(exist_ok=True)
    if args.runs == 1:
        (RESULTS / "personal.json").write_text(json.dumps(runs[0], indent=2))
    else:
        stored = {**common, "runs": [{"raw": row["raw"], "ours": row["ours"]} for row in runs]}
        (RESULTS / "personal-runs.json").write_text(json.dumps(stored, indent=2))
    lines = [
        "| users | processes | rate/s | server | p50 ms | p99 ms | max ms | p99 from the call ms | sent | lost "
        "| duplicates | p99 vs raw |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in runs:
        for name in ("raw", "ours"):
            r = row[name]
            lines.append(
                f"| {args.users} | {args.processes} | {args.rate:g} | {label(name, args.server)} "
                f"| {r['p50']} | {r['p99']} | {r['max']} "
                f"| {r['p99_from_call']} | {r['sent']} | {r['missing']} | {r['duplicates']} "
                f"| {ratio(r['p99'], row['raw']['p99'])} |"
            )
    table = "\n".join(lines)
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    for row in runs:
        ours = row["ours"]
        if ours["missing"] or ours["duplicates"] or ours["stray"]:
            print(
                f"ours lost {ours['missing']}, duplicated {ours['duplicates']}, misrouted {ours['stray']}",
                file=sys.stderr,
            )
            raise SystemExit(1)


if __name__ == "__main__":
    main()
