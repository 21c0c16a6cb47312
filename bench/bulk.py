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

With ``--receiver post_save`` (the default) each round also sends once with a
``post_save`` receiver connected to the notification model, as sites that hang
work on django-notifications' signals have, and checks that it got every
stored row, then deletes the rows it stored. The two sends of a round run one
after the other, their order swapped from round to round, so the ratio between
them comes from the same machine state. ``--receiver none`` sends only without
one.
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


def variants_of(args: argparse.Namespace) -> list[str]:
    """The sends of each round: without a receiver, and with one if asked."""
    return ["none", "post_save"] if getattr(args, "receiver", "none") == "post_save" else ["none"]


def summarize(started: list, committed: list, returned: list, deliveries: list, missing: int) -> dict:
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


def run_ours(cookies: list[str], args: argparse.Namespace) -> dict:
    """Ours' figures without a receiver; with ``args.receiver`` set to
    post_save, also those with one under the key ``post_save``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.db.models.signals import post_save

    from notifications.signals import notify
    from notifications.swappable import load_notification_model

    User = get_user_model()
    Notification = load_notification_model()
    group = Group.objects.create(name="everyone")
    group.user_set.add(*User.objects.values_list("pk", flat=True))
    actor = User.objects.create(username="actor", password="!")
    variants = variants_of(args)
    # Swapping the order each round keeps a growing table or a warming
    # process from always favouring the same variant.
    sends = [
        (variant, round_index)
        for round_index in range(args.rounds)
        for variant in (variants if round_index % 2 == 0 else variants[::-1])
    ]
    saved: list[tuple[int, int]] = []

    def on_saved(sender, instance, created, **kwargs):
        # What a site's receiver typically reads before queueing its own work.
        if created:
            saved.append((instance.pk, instance.recipient_id))

    with daphnes(args.processes, "project.asgi:application", args.server) as ports:
        targets = [
            [f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/notifications/", cookie]
            for i, cookie in enumerate(cookies[: args.connected])
        ]
        # Every send's verb starts with the marker, so the clients count each
        # send's frame in the order the sends were made.
        spec = {"origin": f"http://127.0.0.1:{ports[0]}", "marker": "bulk-", "rounds": len(sends)}
        clients = launch_clients("clients.py", targets, {**spec, "timeout": 30 + 10 * len(sends), "greeting": True})
        started, committed, returned, calls = [], [], [], []
        for variant, round_index in sends:
            time.sleep(1)  # the previous send's frames are delivered
            if variant == "post_save":
                saved.clear()
                post_save.connect(on_saved, sender=Notification, dispatch_uid="bench-bulk-post-save")
            # A distinct verb per send gives each its own group key: no send
            # joins the groups another opened.
            verb = f"bulk-{round_index}" if variant == "none" else f"bulk-{round_index}-{variant}"
            try:
                started.append(time.time())
                with transaction.atomic():
                    # Registered first, so it runs first after the commit:
                    # before notify.send's own on_commit push.
                    transaction.on_commit(lambda: committed.append(time.time()))
                    notify.send(actor, recipient=group, verb=verb)
                returned.append(time.time())
            finally:
                post_save.disconnect(on_saved, sender=Notification, dispatch_uid="bench-bulk-post-save")
            if variant == "post_save":
                calls.append(len(saved))
                # The store slows as the table grows, so the receiver's rows
                # go once delivered: each send without a receiver then meets
                # the table it meets with --receiver none, and its figures
                # stay comparable with runs that had no receiver rounds.
                time.sleep(1)
                Notification.objects.filter(verb=verb).delete()
        deliveries = [[] for _ in sends]
        missing = {variant: 0 for variant in variants}
        for process in clients:
            stamps = json.loads(process.stdout.readline())
            process.wait(timeout=30)
            for index, received in enumerate(stamps):
                missing[sends[index][0]] += received.count(None)
                deliveries[index] += [stamp for stamp in received if stamp is not None]

    def of(variant: str) -> dict:
        picked = [i for i, (v, _) in enumerate(sends) if v == variant]
        return summarize(
            [started[i] for i in picked],
            [committed[i] for i in picked],
            [returned[i] for i in picked],
            [deliveries[i] for i in picked],
            missing[variant],
        )

    result = of("none")
    if "post_save" in variants:
        hooked = of("post_save")
        hooked["post_save_calls"] = calls
        hooked["rows"] = args.users
        # Paired by round: both sends of a round ran back to back.
        hooked["store_vs_none_per_round"] = [
            round(h / n, 3) for h, n in zip(hooked["store_ms"], result["store_ms"], strict=True)
        ]
        hooked["store_vs_none"] = hooked["store_median"] / result["store_median"]
        hooked["order"] = [variant for variant, _ in sends]
        result["post_save"] = hooked
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="members of the Group")
    parser.add_argument("--connected", type=int, default=2000, help="members holding a socket")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne", help="what serves ours")
    parser.add_argument(
        "--receiver",
        choices=["post_save", "none"],
        default="post_save",
        help="also send each round with a post_save receiver connected (default), or not",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    row = {"users": args.users, "connected": args.connected, "processes": args.processes, "rounds": args.rounds}
    row["dnc"] = run_dnc(args.users, args.rounds)
    cookies = prepare_database(args.users)
    row["ours"] = run_ours(cookies, args)
    hooked = row["ours"].pop("post_save", None)
    if hooked:
        row["ours_post_save"] = hooked
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bulk.json").write_text(json.dumps(row, indent=2))

    dnc = row["dnc"]["store_median"]
    runs = [(label("ours", args.server), row["ours"])]
    if hooked:
        runs.append((f"{label('ours', args.server)}, post_save receiver", hooked))
    lines = [
        "| recipients | connected | processes | server | store ms | store + deliver ms | push over store "
        "| push over community's store | lost | vs community's store |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {args.users} | 0 | - | django-notifications-community | {dnc:.0f} | - | - | - | - | 1.00x |",
    ]
    for name, ours in runs:
        lines.append(
            f"| {args.users} | {args.connected} | {args.processes} | {name} | {ours['store_median']:.0f} "
            f"| {ours['total_median']:.0f} | {ours['push_median'] / ours['store_median']:.2f}x "
            f"| {ours['push_median'] / dnc:.2f}x | {ours['missing']} | {ours['total_median'] / dnc:.2f}x |"
        )
    table = "\n".join(lines)
    print("\n" + table + "\n\n(medians over the rounds)")
    if hooked:
        print(
            f"store with a post_save receiver: {hooked['store_median']:.0f} ms against "
            f"{row['ours']['store_median']:.0f} without, {hooked['store_vs_none']:.2f}x "
            f"(per round: {', '.join(f'{r:.2f}x' for r in hooked['store_vs_none_per_round'])})"
        )
    if args.markdown:
        args.markdown.write_text(table + "\n")
    failed = False
    for name, ours in runs:
        if ours["missing"]:
            print(f"{name} lost {ours['missing']} frames", file=sys.stderr)
            failed = True
    if hooked and any(calls != hooked["rows"] for calls in hooked["post_save_calls"]):
        print(f"post_save ran {hooked['post_save_calls']} times for {hooked['rows']} rows a send", file=sys.stderr)
        failed = True
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
