"""What each daphne_compat part buys: the announcement fan-out and a connect
storm, on stock daphne (no part), with the fixes, with every part, and with
every part but one, for each speed-up, in one run on the same machine.

    python bench/compat.py --users 2000 --processes 2 --passes 2

Each pass runs every configuration once, in a shuffled order; the table
gives the median over the passes of each figure and its ratio to "all" (the
demo's project/asgi.py). A part earns its place if turning it off costs at
least the noise (how far the passes with every part on lie apart, and at
least MARGIN) on either figure. Writes bench/results/compat.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics

from fanout import REDIS_URL, RESULTS, daphnes, prepare_database, run_ours
from storm import storm

APP = "bench.compat_asgi:application"
# The least difference, on fan-out p99 or handshakes/s, taken as a part's
# effect rather than run-to-run noise.
MARGIN = 0.10
# daphne_compat.GROUPS["speedups"]; named here, as importing it before
# prepare_database() would set Django up too early.
SPEEDUPS = (
    "lazy_debug_format",
    "application_checker",
    "timeout_checker",
    "write_through",
    "send_text",
    "free_upgraded_requests",
)


def configurations() -> list[str]:
    return ["none", "fixes", "all", *(f"all-{name}" for name in SPEEDUPS)]


def fan_out(cookies: list[str], args: argparse.Namespace) -> float | None:
    result = run_ours(cookies, args.processes, args.rounds, app=APP)
    return None if result["missing"] else result["p99"]


def connect_storm(cookies: list[str], args: argparse.Namespace) -> float | None:
    with daphnes(args.processes, APP) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/notifications/", c] for i, c in enumerate(cookies)]
        result = storm(targets, ports, args)
    return None if result["errors"] else result["per_process_per_second"]


def spread(values: list[float | None]) -> float:
    """(max - min) / median of one configuration's passes."""
    known = [v for v in values if v is not None]
    return (max(known) - min(known)) / statistics.median(known) if len(known) > 1 else 0.0


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if len(known) == len(values) and known else None


def summary(runs: dict[str, dict[str, list]], args: argparse.Namespace) -> dict:
    """The table, targets and text of bench/results/compat.json."""
    figures = {name: (median(run["p99"]), median(run["rate"])) for name, run in runs.items()}
    base_p99, base_rate = figures["all"]

    def vs(value: float | None, base: float | None) -> str:
        return f"{value / base:.2f}x" if value and base else "n/a"

    rows, targets = [], []
    for name in configurations():
        p99, rate = figures[name]
        label = {"none": "none (stock daphne)", "fixes": "the fixes", "all": "all (the demo)"}.get(
            name, f"all but `{name[len('all-') :]}`"
        )
        rows.append([label, p99, vs(p99, base_p99), rate, vs(rate, base_rate)])
    # How far the passes of "all" alone lie apart: a difference within it is
    # the machine's noise, not the part's effect.
    noise = max(spread(runs["all"]["p99"]), spread(runs["all"]["rate"]), MARGIN)
    verdicts = {}
    for part in SPEEDUPS:
        p99, rate = figures[f"all-{part}"]
        slower = (p99 or 0) >= (1 + noise) * (base_p99 or float("inf"))
        fewer = (rate or float("inf")) <= (1 - noise) * (base_rate or 0)
        verdicts[part] = slower or fewer
    earned = [f"`{part}`" for part, ok in verdicts.items() if ok]
    targets.append(
        {
            "target": f"speed-ups whose absence costs more than the noise ({noise:.0%}) on p99 or handshakes/s",
            "result": f"{len(earned)} of {len(SPEEDUPS)}" + (f": {', '.join(earned)}" if earned else ""),
            # Reported, not judged: a part this run does not show may still
            # earn its place at more sockets or on a quieter machine.
            "met": None,
        }
    )
    return {
        "title": "What each daphne_compat part buys",
        "about": (
            f"The announcement fan-out ({args.users:,} sockets, {args.processes} processes, p99 of {args.rounds} "
            f"rounds) and a connect storm ({args.users:,} clients within {args.spread:g} s, handshakes per second "
            "per process), under `bench/compat_asgi.py`: the demo's application with the parts named. Median of "
            f"{args.passes} passes, each in a shuffled order; ratios are to every part on. The noise is how far "
            f"the passes with every part on lie apart ({noise:.0%}, at least {MARGIN:.0%}); a part whose absence "
            "costs less than that is not shown to buy anything by this run. The fixes are not speed-ups: the "
            "product is correct without them (docs/daphne.md)."
        ),
        "command": f"python bench/compat.py --users {args.users} --processes {args.processes} --passes {args.passes}",
        "table": {
            "columns": ["parts on", "fan-out p99 ms", "p99 vs all", "handshakes/s per process", "vs all"],
            "rows": rows,
        },
        "targets": targets,
        "runs": runs,
        "settings": {name: getattr(args, name) for name in ("users", "processes", "rounds", "spread", "passes")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="announcements per fan-out")
    parser.add_argument(
        "--spread", type=float, default=1, help="seconds over which the storm connects: short, to saturate"
    )
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--summarize", action="store_true", help="only rewrite the summary of the stored runs")
    args = parser.parse_args()
    if args.summarize:
        stored = json.loads((RESULTS / "compat.json").read_text())
        ran = argparse.Namespace(**stored.get("settings", vars(args)))
        (RESULTS / "compat.json").write_text(json.dumps(summary(stored["runs"], ran), indent=2))
        return

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cookies = prepare_database(args.users)
    from notifications.realtime import daphne_compat

    assert daphne_compat.GROUPS["speedups"] == SPEEDUPS, daphne_compat.GROUPS["speedups"]
    runs: dict[str, dict[str, list]] = {name: {"p99": [], "rate": []} for name in configurations()}
    for _ in range(args.passes):
        order = configurations()
        random.shuffle(order)
        for name in order:
            os.environ["BENCH_DAPHNE_COMPAT"] = name
            runs[name]["p99"].append(fan_out(cookies, args))
            runs[name]["rate"].append(connect_storm(cookies, args))
            print(json.dumps({"parts": name, "p99": runs[name]["p99"][-1], "rate": runs[name]["rate"][-1]}), flush=True)

    data = summary(runs, args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compat.json").write_text(json.dumps(data, indent=2))
    for row in data["table"]["rows"]:
        print(row)


if __name__ == "__main__":
    main()
