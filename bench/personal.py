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
again each time, from no notifications and an empty Redis),
bench/results/personal-runs.json: the tail moves from run to run, so a
target on it is judged over several.
"""

from __future__ import annotations

import argparse
import contextlib
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
    hub_times,
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


class RolledBack(Exception):
    """Raised to roll a warm-up send back."""


def send_steadily(rate: float, seconds: float, send, warm=None) -> list:
    """Call ``send(n)`` `rate` times a second, each call at its scheduled
    time, from SENDERS forked processes (one call waits for its commit and
    publish, so one sender alone cannot keep the rate); returns what each
    call returned, in the order they were scheduled, None for a call that
    failed. Processes, not threads: two sender threads queue for one GIL
    behind each other's ORM work (a push from the sending process then took
    11 ms at the median against 2 ms alone), which would measure the load
    generator. ``warm()`` runs in each sender before the clock starts: a
    new process's first send opens its connections (10-23 ms, two or three
    of the twenty slowest sends of 2,000), which is not the steady state
    measured here."""
    from django.db import connections

    total = int(rate * seconds)
    sent: list = [None] * total
    connections.close_all()  # each process opens its own
    start = time.monotonic() + 1.0
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def sender(first: int) -> None:
        done = []
        try:
            if warm is not None:
                warm()
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
    receipts: dict[int, float] | None = None,
) -> dict:
    """Every id arrived once? Latency runs from the commit (``committed``, by
    id; for raw, the publish) to the receipt, and also from the call and, for
    ours, from the end of the push (``pushed``: when ``notify.send``, whose
    push runs in it after the commit, returned), which leaves the servers'
    share. ``receipts``, if given, is filled with each id's receipt time."""
    time.sleep(3)  # let the last frames arrive
    for process in clients:
        process.stdin.write("stop\n")
        process.stdin.flush()
    committed = committed or {}
    received: dict[tuple[int, int], int] = {}
    latencies, from_call, from_push = [], [], []
    receipts = {} if receipts is None else receipts
    for base, process in enumerate(clients):
        for index, item_id, sent_at, received_at in json.loads(process.stdout.readline()):
            key = (base * SOCKETS_PER_CLIENT + index + offset, item_id)
            received[key] = received.get(key, 0) + 1
            latencies.append((received_at - committed.get(item_id, sent_at)) * 1000)
            from_call.append((received_at - sent_at) * 1000)
            if pushed and item_id in pushed:
                from_push.append((received_at - pushed[item_id]) * 1000)
            receipts[item_id] = received_at
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


def segments(committed: dict[int, float], hub: dict[int, tuple[float, float]], receipts: dict[int, float]) -> dict:
    """Where each frame's time went, p50 and p99 in ms: from the commit to
    the hub getting the event (the sender's push, Redis, the hub's wake-up),
    in the hub until written, and from there to the client's receipt."""
    parts: dict[str, list[float]] = {"to_hub": [], "in_hub": [], "to_client": []}
    for item_id, received in receipts.items():
        if item_id in committed and item_id in hub:
            got, written = hub[item_id]
            parts["to_hub"].append((got - committed[item_id]) * 1000)
            parts["in_hub"].append((written - got) * 1000)
            parts["to_client"].append((received - written) * 1000)
    return {
        name: {k: v for k, v in summarize(sorted(values), 0).items() if k in ("p50", "p99")}
        for name, values in parts.items()
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

        def warm() -> None:
            # The sender's database connection, insert and compiled queries
            # (a send rolled back, so nothing is pushed), and its Redis
            # connection and script, through a publish to nobody.
            from django.utils import timezone

            from notifications import selectors
            from notifications.realtime.publish import publish
            from notifications.selectors.groups import Row

            with contextlib.suppress(RolledBack), transaction.atomic():
                notify.send(actor, recipient=actor, verb="bench", sent=time.time())
                raise RolledBack
            selectors.badges(user_ids=[actor.pk])
            selectors.groups_of([Row(0, actor.pk, "bench warm-up", True, timezone.now(), "")])
            publish([("bench.nobody", {"type": "bench.nothing"})], retry=False)

        started = time.monotonic()
        calls = send_steadily(args.rate, args.seconds, send, warm)
        # check() gives the last frames 3 s, then stops the clients, whose
        # disconnects are not part of the measurement.
        window = (window, time.time() + 3)
        print(f"ours: sending took {time.monotonic() - started:.1f} s", file=sys.stderr)
        committed = {call[1]: call[2] for call in calls if call}
        pushed = {call[1]: call[3] for call in calls if call}
        sent = [call[:2] if call else None for call in calls]
        receipts: dict[int, float] = {}
        result = check(clients, sent, 0, committed, pushed, receipts)
    if args.server == "daphne":
        # The collections from the first send to the last receipt.
        result["gc"] = gc_summary(ports, *window)
        result["segments"] = segments(committed, hub_times(ports), receipts)
        print(f"ours, where the time went: {result['segments']}")
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

        sent = send_steadily(args.rate, args.seconds, send, client.ping)
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
    RESULTS.mkdir(exist_ok=True)
    results = RESULTS / ("personal.json" if args.runs == 1 else "personal-runs.json")
    results.unlink(missing_ok=True)  # a run that fails leaves no older figures behind
    runs = []
    for run in range(args.runs):
        if run:
            print(f"run {run + 1} of {args.runs}", file=sys.stderr, flush=True)
            # Each run from the same start: the last run's rows would make
            # every user's group bigger (and leave their pending emails).
            from notifications.models import Delivery, Notification

            Notification.objects.all().delete()
            Delivery.objects.all().delete()
        # Emptied each time: a finished run's hubs stay members of the
        # users' groups, and every send would also go to their inboxes.
        redis.Redis.from_url(REDIS_URL).flushdb()
        row = {**common, "raw": run_raw(args.users, args), "ours": run_ours(cookies, user_ids, args)}
        print(json.dumps(row), flush=True)
        runs.append(row)
        # Written after each run: a later run that fails keeps these.
        if args.runs == 1:
            results.write_text(json.dumps(row, indent=2))
        else:
            stored = {**common, "runs": [{"raw": r["raw"], "ours": r["ours"]} for r in runs]}
            results.write_text(json.dumps(stored, indent=2))
    lines = [
        "| run | users | processes | rate/s | server | p50 ms | p99 ms | max ms | p99 from the call ms | sent | lost "
        "| duplicates | p99 vs raw |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run, row in enumerate(runs, 1):
        for name in ("raw", "ours"):
            r = row[name]
            lines.append(
                f"| {run} | {args.users} | {args.processes} | {args.rate:g} | {label(name, args.server)} "
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
