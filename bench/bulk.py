"""Bulk notify: `notify.send` to a Group of N users, M of them connected
over P daphne processes, against django-notifications-community storing the
same rows (it stores and does not push; its users poll).

    python bench/bulk.py --users 10000 --connected 2000 --processes 2 --rounds 3

For ours it measures, per round, the time from calling `notify.send` to the
commit of all rows (store) and to the last connected recipient receiving its
frame (store and deliver), and checks that every connected recipient got its
notification. For the baseline it installs django-notifications-community
into bench/.venv-dnc (once) and times its `notify.send` to a Group of the same
size on the same SQLite settings. Writes bench/results/bulk.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import venv
from importlib import metadata
from pathlib import Path

from fanout import REDIS_URL, RESULTS, ROOT, daphnes, label, launch_clients, prepare_database

DNC = "django-notifications-community==1.12.3"
DNC_VENV = ROOT / "bench" / ".venv-dnc"
DNC_DATABASE = ROOT / "bench" / ".bench-dnc.sqlite3"


def dnc_python() -> Path:
    """The baseline's virtualenv: the same Django as ours, and DNC from PyPI."""
    python = DNC_VENV / "bin" / "python"
    marker = DNC_VENV / ".installed"
    wanted = f"{DNC} Django=={metadata.version('Django')}"
    if not marker.exists() or marker.read_text() != wanted:
        print(f"bulk: installing {wanted} into {DNC_VENV}", file=sys.stderr, flush=True)
        venv.create(DNC_VENV, with_pip=True, clear=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *wanted.split()], check=True)
        marker.write_text(wanted)
    return python


def run_dnc(users: int, rounds: int) -> dict:
    out = subprocess.run(
        [dnc_python(), ROOT / "bench" / "dnc_store.py", DNC_DATABASE, str(users), str(rounds)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    DNC_DATABASE.unlink(missing_ok=True)
    store = json.loads(out.splitlines()[-1])["store_ms"]
    return {"store_ms": store, "store_median": statistics.median(store)}


def run_ours(cookies: list[str], args: argparse.Namespace) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from notifications.signals import notify

    User = get_user_model()
    group = Group.objects.create(name="everyone")
    group.user_set.add(*User.objects.values_list("pk", flat=True))
    actor = User.objects.create(username="actor", password="!")
    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        targets = [
            [f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/notifications/", cookie]
            for i, cookie in enumerate(cookies[: args.connected])
        ]
        spec = {"origin": f"http://127.0.0.1:{ports[0]}", "marker": "bulk-", "rounds": args.rounds}
        clients = launch_clients("clients.py", targets, {**spec, "timeout": 30 + 10 * args.rounds, "greeting": True})
        started, committed, returned = [], [], []
        for round_index in range(args.rounds):
            time.sleep(1)  # the previous round's frames are delivered
            started.append(time.time())
            with transaction.atomic():
                # Registered first, so it runs first after the commit: before
                # notify.send's own on_commit push.
                transaction.on_commit(lambda: committed.append(time.time()))
                notify.send(actor, recipient=group, verb=f"bulk-{round_index}")
            returned.append(time.time())
        deliveries = [[] for _ in range(args.rounds)]
        missing = 0
        for process in clients:
            stamps = json.loads(process.stdout.readline())
            process.wait(timeout=30)
            for round_index, received in enumerate(stamps):
                missing += received.count(None)
                deliveries[round_index] += [stamp for stamp in received if stamp is not None]
    store = [(c - s) * 1000 for s, c in zip(started, committed, strict=True)]
    total = [(max(d) - s) * 1000 if d else None for s, d in zip(started, deliveries, strict=True)]
    push = [(t - (c - s) * 1000) if t is not None else None for s, c, t in zip(started, committed, total, strict=True)]
    return {
        "store_ms": [round(x, 1) for x in store],
        "total_ms": [round(x, 1) if x is not None else None for x in total],
        "push_ms": [round(x, 1) if x is not None else None for x in push],
        "send_returned_ms": [round((r - s) * 1000, 1) for s, r in zip(started, returned, strict=True)],
        "store_median": statistics.median(store),
        "total_median": statistics.median([t for t in total if t is not None] or [0]),
        "push_median": statistics.median([p for p in push if p is not None] or [0]),
        "missing": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="members of the Group")
    parser.add_argument("--connected", type=int, default=2000, help="members holding a socket")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="what serves ours")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    row = {"users": args.users, "connected": args.connected, "processes": args.processes, "rounds": args.rounds}
    row["dnc"] = run_dnc(args.users, args.rounds)
    cookies = prepare_database(args.users)
    row["ours"] = run_ours(cookies, args)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bulk.json").write_text(json.dumps(row, indent=2))

    dnc, ours = row["dnc"]["store_median"], row["ours"]
    lines = [
        "| recipients | connected | processes | server | store ms | store + deliver ms | push over store "
        "| push over community's store | lost | vs community's store |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {args.users} | 0 | - | django-notifications-community | {dnc:.0f} | - | - | - | - | 1.00x |",
        f"| {args.users} | {args.connected} | {args.processes} | {label('ours', args.server)} "
        f"| {ours['store_median']:.0f} "
        f"| {ours['total_median']:.0f} | {ours['push_median'] / ours['store_median']:.2f}x "
        f"| {ours['push_median'] / dnc:.2f}x | {ours['missing']} | {ours['total_median'] / dnc:.2f}x |",
    ]
    table = "\n".join(lines)
    print("\n" + table + "\n\n(medians over the rounds)")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if ours["missing"]:
        print(f"ours lost {ours['missing']} frames", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
