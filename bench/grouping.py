"""Grouping and seen: the grouped inbox page and the unseen count of a user
with many notifications in many groups, against the ungrouped page and the
unread count on the same data; and a bulk send to a Group whose every member
already has an open group for the send's key, against the same send without.

    python bench/grouping.py --notifications 100000 --groups 1000 --users 10000 --connected 2000

Part one reads only the database (SQLite by default, ``--database-url`` for
PostgreSQL): each read is timed ``--repeat`` times and the medians are
compared. Part two runs bench/bulk.py's scenario twice on the same daphne
setup: once as is (the baseline), once after every recipient got one row of
each round's key, so each push carries a group of two. Writes
bench/results/grouping.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta

from fanout import REDIS_URL, RESULTS, prepare_database


def timed(function, repeat: int) -> float:
    """Median milliseconds of ``function()`` over ``repeat`` calls, after one
    warm-up call."""
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def setup_postgres(url: str) -> None:
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)


def fill_inbox(notifications: int, groups: int, actors: int) -> object:
    """One user with ``notifications`` unread rows spread over ``groups``
    group keys and the last 20 hours (all within the default window)."""
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from notifications.models import Notification

    User = get_user_model()
    reader = User.objects.create(username="reader", password="!")
    people = User.objects.bulk_create([User(username=f"actor{i}", password="!") for i in range(actors)])
    user_type = ContentType.objects.get_for_model(User)
    now = timezone.now()
    rng = random.Random(7)
    rows = [
        Notification(
            recipient=reader,
            actor_content_type=user_type,
            actor_object_id=str(rng.choice(people).pk),
            verb="commented on",
            group_key=f"doc-{rng.randrange(groups)}",
            timestamp=now - timedelta(seconds=72_000 * (notifications - i) / notifications),
        )
        for i in range(notifications)
    ]
    Notification.objects.bulk_create(rows, batch_size=5000)
    return reader


def run_reads(args: argparse.Namespace) -> dict:
    from django.db import connection

    from notifications import selectors
    from notifications.conf import conf

    reader = fill_inbox(args.notifications, args.groups, args.actors)
    with connection.cursor() as cursor:
        # On PostgreSQL, as autovacuum leaves a table that took this many
        # inserts: with the visibility map set, index-only scans (the counts)
        # need not visit the rows.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    per_page = conf.paginate_by

    def ungrouped_page() -> None:
        page = list(selectors.with_related(selectors.notifications_of(user=reader))[:per_page])
        [str(n.actor) for n in page]

    def grouped_page() -> None:
        entries = selectors.group_entries(user=reader, unread_only=False, offset=0, limit=per_page + 1)
        [e.actors_text for e in entries]

    result = {
        "vendor": connection.vendor,
        "notifications": args.notifications,
        "groups": args.groups,
        "ungrouped_page_ms": timed(ungrouped_page, args.repeat),
        "grouped_page_ms": timed(grouped_page, args.repeat),
        "unread_count_ms": timed(lambda: selectors.unread_count(user=reader), args.repeat),
        "unseen_count_ms": timed(lambda: selectors.unseen_count(user=reader), args.repeat),
        "badges_ms": timed(lambda: selectors.badges(user_ids=[reader.pk]), args.repeat),
    }
    entries = selectors.group_entries(user=reader, unread_only=False, offset=0, limit=per_page)
    result["first_page_counts"] = [e.count for e in entries]
    return result


def run_bulk(args: argparse.Namespace) -> dict:
    """bench/bulk.py's scenario without and with open groups, one database."""
    import bulk

    bulk_args = argparse.Namespace(
        users=args.users, connected=args.connected, processes=args.processes, rounds=args.rounds, server="daphne"
    )
    cookies = prepare_database(args.users)
    baseline = bulk.run_ours(cookies, bulk_args)

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from notifications.signals import notify

    # A new database, then every recipient gets a row of each round's key
    # before the timed sends: each push then joins an open group.
    cookies = prepare_database(args.users)
    members = Group.objects.create(name="members")
    members.user_set.add(*get_user_model().objects.values_list("pk", flat=True))
    opener = get_user_model().objects.create(username="opener", password="!")
    for round_index in range(args.rounds):
        notify.send(opener, recipient=members, verb=f"bulk-{round_index}")
    members.delete()
    grouped = bulk.run_ours(cookies, bulk_args)
    return {"baseline": baseline, "open_groups": grouped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--actors", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", help="PostgreSQL for part one (default: the bench's SQLite file)")
    parser.add_argument("--users", type=int, default=10_000, help="members of the Group (part two; 0 skips it)")
    parser.add_argument("--connected", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    if args.database_url:
        setup_postgres(args.database_url)
    else:
        prepare_database(0)
    row = {"reads": run_reads(args)}
    reads = row["reads"]
    if args.users:
        if args.database_url:
            from django.db import connections

            connections.close_all()
        row["bulk"] = run_bulk(args)
    report = report_of(row, args)
    print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    name = "grouping" if not args.database_url else f"grouping-{reads['vendor']}"
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2))
    print("\n".join(f"| {' | '.join(map(str, r))} |" for r in report["table"]["rows"]))
    for target in report["targets"]:
        print(f"{target['target']}: {target['result']} ({'met' if target['met'] else 'missed'})")
    if args.users and (row["bulk"]["baseline"]["missing"] or row["bulk"]["open_groups"]["missing"]):
        print("frames were lost", file=sys.stderr)
        raise SystemExit(1)


def report_of(row: dict, args: argparse.Namespace) -> dict:
    """The results in the shape bench/report.py renders: a table, targets,
    and the raw figures under ``raw``."""
    reads = row["reads"]
    vendor = reads["vendor"]
    page, grouped = reads["ungrouped_page_ms"], reads["grouped_page_ms"]
    unread = reads["unread_count_ms"]
    rows = [
        ["ungrouped first page", f"{page:.2f}", "1.00x", "the ungrouped page"],
        ["grouped first page", f"{grouped:.2f}", f"{grouped / page:.2f}x", "the ungrouped page"],
        ["unread count", f"{unread:.2f}", "1.00x", "the unread count"],
        [
            "unseen count",
            f"{reads['unseen_count_ms']:.2f}",
            f"{reads['unseen_count_ms'] / unread:.2f}x",
            "the unread count",
        ],
        [
            "both badge counts, one query",
            f"{reads['badges_ms']:.2f}",
            f"{reads['badges_ms'] / unread:.2f}x",
            "the unread count",
        ],
    ]
    targets = [
        {
            "target": f"grouped first page at most 2x the ungrouped page ({vendor})",
            "result": f"{grouped / page:.2f}x",
            "met": grouped <= 2 * page,
        }
    ]
    command = f"python bench/grouping.py --notifications {args.notifications} --groups {args.groups}"
    if args.users:
        base, opened = row["bulk"]["baseline"], row["bulk"]["open_groups"]
        for label, run in (("bulk send, no open groups", base), ("bulk send, every recipient's group open", opened)):
            rows.append(
                [
                    f"{label}: store + deliver",
                    f"{run['total_median']:.0f}",
                    f"{run['total_median'] / base['total_median']:.2f}x",
                    "the send without open groups",
                ]
            )
        push = opened["push_median"] / opened["store_median"]
        lost = base["missing"] + opened["missing"]
        targets += [
            {
                "target": "bulk send into open groups: the push under 0.5x the store",
                "result": f"{push:.2f}x",
                "met": push < 0.5,
            },
            {"target": "bulk send into open groups: nothing lost", "result": f"{lost} lost", "met": lost == 0},
        ]
        command += (
            f" --users {args.users} --connected {args.connected} --processes {args.processes} --rounds {args.rounds}"
        )
    else:
        command += " --users 0"
    if args.database_url:
        command += " --database-url postgresql://postgres@127.0.0.1:5432/bench"
    return {
        "title": f"Grouping and seen ({vendor})",
        "about": (
            f"One user with {args.notifications:,} unread notifications in {args.groups:,} groups on {vendor}: the "
            "grouped inbox's first page (entries with counts and actor names) against the ungrouped first page, "
            f"and the unseen count against the unread count; medians of {args.repeat} calls"
            + (", after VACUUM ANALYZE (as autovacuum leaves the table). " if vendor == "postgresql" else ". ")
            + (
                f"Then bench/bulk.py's send to a Group of {args.users:,} ({args.connected:,} connected over "
                f"{args.processes} processes), once as is and once with every recipient's group for the key "
                f"already open; medians of {args.rounds} rounds."
                if args.users
                else ""
            )
        ),
        "command": command,
        "table": {"columns": ["read or send", "ms", "ratio", "against"], "rows": rows},
        "targets": targets,
        "raw": row,
    }


if __name__ == "__main__":
    main()
