"""Writes docs/benchmarks.md from the results in bench/results/.

    python bench/report.py            # record this machine's facts, then write the report (make bench)
    python bench/report.py --render   # write it from the stored results and machine facts only
    python bench/report.py --check    # exit 1 if docs/benchmarks.md is not what the results make

Each bench script writes its raw results to bench/results/<scenario>.json.
The scenarios in SCENARIOS have their own tables. Any other results file gets a
section of its own: if it holds a ``table`` (``{"columns": [...], "rows":
[[...], ...]}``) that table is shown, with its ``title``, ``about``,
``command`` and ``targets`` (``[{"target": ..., "result": ..., "met":
true}]``); otherwise its numbers are listed as they are. So a new scenario
needs only its JSON. Hand-written text after the KEPT marker at the end of
docs/benchmarks.md is kept as it is.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
MACHINE = RESULTS / "machine.json"
DESIGN = ROOT / "bench" / "how_it_gets_there.md"
REPORT = ROOT / "docs" / "benchmarks.md"
KEPT = "<!-- Written by hand below this line; bench/report.py keeps it as it is. -->"
PACKAGES = ("Django", "daphne", "channels", "channels-redis", "redis", "Twisted", "autobahn", "websockets")


@dataclass
class Section:
    title: str
    about: str = ""
    command: str = ""
    table: list[str] = field(default_factory=list)
    targets: list[tuple[str, str, bool | None]] = field(default_factory=list)


# -- machine facts ------------------------------------------------------------------------------


def daphne_parts() -> list[str] | None:
    """Which daphne_compat parts the bench servers turn on (project/asgi.py)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_SECRET_KEY="bench-only-secret-key-bench-only-secret-key",
        DJANGO_DEBUG="false",
        DATABASE_URL=f"sqlite:///{ROOT / 'bench' / '.bench.sqlite3'}",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from notifications.realtime import daphne_compat

    try:
        importlib.import_module("project.asgi")  # the servers' ASGI module turns the parts on
    except ImportError:
        return None
    return daphne_compat.enabled()


def collect_machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    redis_version = None
    try:
        import redis

        url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/2"
        redis_version = redis.Redis.from_url(url).info("server")["redis_version"]
    except Exception:  # a fact that cannot be read is shown as unknown
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "redis_server": redis_version,
        "versions": versions,
        "daphne_compat": daphne_parts(),
        "commit": commit.stdout.strip() or None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def machine_lines(machine: dict) -> list[str]:
    versions = machine.get("versions", {})
    parts = machine.get("daphne_compat")
    listed = ", ".join(f"{name} {version or 'not installed'}" for name, version in versions.items())
    lines = [
        f"- **Machine:** {machine.get('cores')} cores ({machine.get('cpu')}), "
        f"{machine.get('memory_gib')} GiB, {machine.get('os')}.",
        f"- **Software:** Python {machine.get('python')}, {listed}; SQLite {machine.get('sqlite')}, "
        f"Redis {machine.get('redis_server') or 'unknown'}.",
    ]
    if parts is None:
        lines.append("- **daphne_compat:** daphne is not installed.")
    else:
        lines.append(f"- **daphne_compat parts on ({len(parts)}):** {'; '.join(parts) or 'none'}.")
    if machine.get("commit"):
        lines.append(f"- **Code:** commit `{machine['commit']}`.")
    if machine.get("load_average"):
        load = " / ".join(map(str, machine["load_average"]))
        lines.append(f"- **Load average** (1 / 5 / 15 min) as the run ended: {load}; the machine is shared.")
    return lines


# -- the scenarios with their own tables --------------------------------------------------------


def times(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def met(ok: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "reported"}[ok]


def table(columns: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    columns = list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return lines


def server(name: str, where: str) -> str:
    return f"{name} ({where})" if where and where != "daphne" and name in {"ours", "tutorial"} else name


def fanout(rows: list[dict]) -> Section:
    lines, raw_ok, tutorial_ok = [], [], []
    for row in rows:
        raw, tutorial, ours = row["raw"], row["tutorial"], row["ours"]
        for name, r in (("raw", raw), ("tutorial", tutorial), ("ours", ours)):
            lines.append(
                [
                    row["users"],
                    row["processes"],
                    server(name, row.get("server")),
                    r["p50"],
                    r["p99"],
                    r["max"],
                    r["missing"],
                    times(r["p99"], raw["p99"]),
                    times(r["p99"], tutorial["p99"]),
                ]
            )
        raw_ok.append((ours["p99"] or 0) <= 1.5 * (raw["p99"] or 0))
        tutorial_ok.append((tutorial["p99"] or 0) >= 5 * (ours["p99"] or float("inf")))
    vs_raw = ", ".join(times(r["ours"]["p99"], r["raw"]["p99"]) for r in rows)
    speedup = ", ".join(times(r["tutorial"]["p99"], r["ours"]["p99"]) for r in rows)
    lost = sum(r["ours"]["missing"] for r in rows)
    return Section(
        "Announcement fan-out",
        "One announcement to every connected user. Per round the time runs from the trigger returning "
        "to each socket's frame. **raw** is a minimal `websockets` server broadcasting a pre-encoded frame on "
        "a Redis pub/sub trigger (`bench/raw_server.py`): the practical floor for Python. **tutorial** is the "
        "Channels tutorial pattern on the same daphne and layer (`bench/tutorial_asgi.py`): every socket in "
        "one group, one `group_send`, one `send_json` per consumer. **ours** is `announcement_publish()` "
        "under `project.asgi`, with real sessions.",
        "python bench/fanout.py --users 1000 5000 --processes 1 2 --rounds 5",
        table(
            ["sockets", "processes", "server", "p50 ms", "p99 ms", "max ms", "lost", "p99 vs raw", "p99 vs tutorial"],
            lines,
        ),
        [
            ("p99 at most 1.5x raw", vs_raw, all(raw_ok)),
            ("at least 5x faster than the tutorial at p99", speedup + " faster", all(tutorial_ok)),
            ("nothing lost", f"{lost} lost", lost == 0),
        ],
    )


def sse(row: dict) -> Section:
    websocket, events = row["websocket"], row["sse"]
    lines = [
        [
            name,
            row["users"],
            row["processes"],
            r["p50"],
            r["p99"],
            r["max"],
            r["missing"],
            f"{times(r['p50'], websocket['p50'])} / {times(r['p99'], websocket['p99'])}",
        ]
        for name, r in (("WebSocket", websocket), ("SSE", events))
    ]
    lost = events["missing"] + websocket["missing"]
    within = (events["p99"] or float("inf")) <= 2 * (websocket["p99"] or 0)
    per_round = ", ".join(times(s["p99"], w["p99"]) for s, w in zip(events["rounds"], websocket["rounds"], strict=True))
    broadcasts = "one announcement" if row["broadcasts"] == 1 else f"{row['broadcasts']} announcements"
    about = (
        f"The fan-out above to {row['users']:,} users over {row['processes']} processes, over the bell's fallback "
        "instead of a socket: `GET /notifications/api/events/`, read as an EventSource reads it "
        f"(`bench/sse_clients.py`). Each of {row['rounds']} rounds connects the users over one transport, times "
        f"{broadcasts}, closes them and does the same over the other, the first swapped each round; the table "
        f"pools the rounds (p99 SSE / WebSocket per round: {per_round})."
    )
    if "memory" in row:
        streams, sockets = row["memory"]["sse"], row["memory"]["websocket"]
        about += (
            f" On fresh servers an open stream added {' / '.join(map(str, streams['kib_per_client']))} KiB of RSS "
            f"per process, a socket {' / '.join(map(str, sockets['kib_per_client']))}; with the clients open the "
            f"processes ran {' / '.join(map(str, streams['threads']))} threads over SSE, "
            f"{' / '.join(map(str, sockets['threads']))} over WebSockets."
        )
    # The command goes in the text, not a block of its own: the page has a
    # line budget (tests/unit/test_docs.py).
    about += f" `python bench/sse.py --users {row['users']} --processes {row['processes']} --rounds {row['rounds']}`."
    return Section(
        "Fan-out over Server-Sent Events",
        about,
        "",
        table(
            ["transport", "clients", "processes", "p50 ms", "p99 ms", "max ms", "lost", "p50 / p99 vs WebSocket"],
            lines,
        ),
        [
            (
                "SSE fan-out p99 within 2x of WebSockets', nothing lost",
                f"{times(events['p99'], websocket['p99'])}, {lost} lost",
                within and lost == 0,
            ),
        ],
    )


def chat(row: dict) -> Section:
    raw, ours = row["raw"], row["ours"]
    lines = [
        [
            row["members"],
            processes,
            name,
            r["to_last"]["p50"],
            r["to_last"]["p99"],
            r["to_last"]["max"],
            r["to_each"]["p50"],
            r["to_each"]["p99"],
            r["to_last"]["missing"],
            times(r["to_last"]["p99"], raw["to_last"]["p99"]),
        ]
        for name, r, processes in (("raw", raw, 1), ("ours", ours, row["processes"]))
    ]
    lost = ours["to_last"]["missing"]
    return Section(
        "Chat room",
        f"One room of {row['members']:,} members over {row['processes']} processes; {row['senders']} of them send "
        f"{row['rate']:g} messages a second in all. The time runs from the sender's `send` to the arrival at "
        "the last member (and at each member). **ours** stores each message under the room's row lock and "
        "publishes it after commit; **raw** (`bench/raw_chat_server.py`) rebroadcasts it on one process, with "
        "no auth and no storage.",
        "python bench/chat.py --members 200 --senders 50 --rate 10 --seconds 20 --processes 2",
        table(
            [
                "members",
                "processes",
                "server",
                "to the last p50 ms",
                "p99 ms",
                "max ms",
                "to each p50 ms",
                "to each p99 ms",
                "lost",
                "p99 vs raw",
            ],
            lines,
        ),
        [
            ("p99 against raw (no target: reported)", times(ours["to_last"]["p99"], raw["to_last"]["p99"]), None),
            ("nothing lost", f"{lost} lost", lost == 0),
        ],
    )


def personal(row: dict) -> Section:
    raw, ours = row["raw"], row["ours"]
    lines = [
        [
            row["users"],
            row["processes"],
            f"{row['rate']:g}",
            name,
            r["p50"],
            r["p99"],
            r["max"],
            r["p99_from_call"],
            r["sent"],
            r["missing"],
            r["duplicates"],
            times(r["p99"], raw["p99"]),
        ]
        for name, r in (("raw", raw), ("ours", ours))
    ]
    vs_raw = (ours["p99"] or 0) / (raw["p99"] or 1)
    bad = ours["missing"] + ours["duplicates"] + ours.get("stray", 0)
    collector = ""
    if "gc" in ours:
        gc = ours["gc"]
        full = " and ".join(", ".join(map(str, pauses)) or "none" for pauses in gc["full_pauses_ms"])
        collector = (
            f" Garbage collections in ours, from the first send to the last receipt: {gc['collections'][2]} "
            f"full (pauses in ms, per process: {full}), {gc['collections'][0] + gc['collections'][1]} young; "
            f"the longest pause of any {gc['max_pause_ms']} ms; "
            f"{' and '.join(f'{n:,}' for n in gc['frozen'])} objects frozen out of the walk (`freeze_gc`)."
        )
    return Section(
        "Personal notification latency",
        f"{row['users']:,} users over {row['processes']} processes; two sender processes call `notify.send` to a "
        f"random user {row['rate']:g} times a second for {row['seconds']:g} s. The time runs from the commit to "
        "the frame's arrival (from the call, it adds the insert and the commit). **raw** "
        "(`bench/raw_personal_server.py`) is the same path by hand: a Redis publish a `websockets` server "
        "forwards to the user's sockets, with no row, count or auth." + collector,
        f"python bench/personal.py --users {row['users']} --processes {row['processes']} --rate {row['rate']:g} "
        f"--seconds {row['seconds']:g}",
        table(
            [
                "users",
                "processes",
                "rate/s",
                "server",
                "p50 ms",
                "p99 ms",
                "max ms",
                "p99 from the call ms",
                "sent",
                "lost",
                "duplicates",
                "p99 vs raw",
            ],
            lines,
        ),
        [
            ("p99 at most 3x raw", f"{vs_raw:.2f}x", vs_raw <= 3),
            ("each exactly once", f"{ours['missing']} lost, {ours['duplicates']} duplicated", bad == 0),
        ],
    )


def personal_runs(data: dict) -> Section:
    """The personal scenario run several times at scale: its tail is judged
    over every run, with each run's garbage collections."""
    lines, ratios, bad = [], [], 0
    for n, run in enumerate(data["runs"], 1):
        raw, ours = run["raw"], run["ours"]
        ratios.append((ours["p99"] or 0) / (raw["p99"] or 1))
        bad += ours["missing"] + ours["duplicates"] + ours.get("stray", 0)
        gc = ours.get("gc") or {"collections": [None] * 3, "max_pause_ms": None}
        young = None if gc["collections"][0] is None else gc["collections"][0] + gc["collections"][1]
        parts = ours.get("segments")
        where = " / ".join(str(parts[name]["p99"]) for name in ("to_hub", "in_hub", "to_client")) if parts else None
        lines.append(
            [
                n,
                raw["p50"],
                raw["p99"],
                ours["p50"],
                ours["p99"],
                times(ours["p99"], raw["p99"]),
                where,
                young,
                gc["collections"][2],
                gc["max_pause_ms"],
                ours["missing"],
            ]
        )
    within = sum(r <= 3 for r in ratios)
    return Section(
        f"Personal notification latency at {data['users']:,} users, run after run",
        f"The scenario above with {data['users']:,} users over {data['processes']} processes, "
        f"{data['rate']:g} sends a second for {data['seconds']:g} s, measured {len(data['runs'])} times (raw, "
        "then ours, each from no notifications and an empty Redis). Where ours' time went, as p99s: from the "
        "commit to the hub getting the event (the sender's push, Redis, the hub waking), in the hub until the "
        "frame is written, and from there to the client. Garbage collections are those in the servers from the "
        "first send to the last receipt, with the longest pause of any.",
        f"python bench/personal.py --users {data['users']} --processes {data['processes']} "
        f"--rate {data['rate']:g} --seconds {data['seconds']:g} --runs {len(data['runs'])}",
        table(
            [
                "run",
                "raw p50 ms",
                "raw p99 ms",
                "ours p50 ms",
                "ours p99 ms",
                "p99 vs raw",
                "p99 ms to the hub / in it / to the client",
                "young GCs",
                "full GCs",
                "longest pause ms",
                "lost",
            ],
            lines,
        ),
        [
            (
                "p99 within 3x raw in every run",
                f"{within} of {len(ratios)} ({', '.join(f'{r:.2f}x' for r in ratios)})",
                within == len(ratios),
            ),
            ("each exactly once", f"{bad} lost, duplicated or misrouted", bad == 0),
        ],
    )


def storm(row: dict) -> Section:
    runs = {"raw": row["raw"], "ours": row["ours"]} if "ours" in row else {"ours": row}
    ours, raw = runs["ours"], runs.get("raw")
    lines = []
    for name, r in runs.items():
        hello, errors = r["hello"], r.get("errors", {})
        rate = r["per_process_per_second"]
        lines.append(
            [
                row["users"],
                row["processes"],
                name if name == "raw" else row.get("server", "daphne"),
                f"{row['spread']:g}",
                f"{sum(errors.values())} {errors or ''}".strip(),
                hello["p50"],
                hello["p99"],
                hello["max"],
                rate,
                times(rate, raw["per_process_per_second"]) if raw else "-",
            ]
        )
    failed = sum(ours.get("errors", {}).values())
    p99 = ours["hello"]["p99"]
    targets = [
        ("no failure", f"{failed} failed", failed == 0),
        ("p99 `hello` within 5 s", f"p99 {(p99 or 0) / 1000:.1f} s", (p99 or 1e9) <= 5_000),
    ]
    if raw:
        rate_vs_raw = ours["per_process_per_second"] / (raw["per_process_per_second"] or 1)
        targets.append(("at least a third of raw's handshake rate", f"{rate_vs_raw:.2f}x", rate_vs_raw >= 1 / 3))
    return Section(
        "Connect storm",
        f"{row['users']:,} clients with real sessions connect to {row['processes']} processes, spread evenly over "
        f"{row['spread']:g} s, as after a deploy. Each records the time from its scheduled moment to its "
        "`hello`. **raw** (`bench/raw_server.py hello`) is a bare `websockets` server that sends each socket a "
        "`hello` frame at once, with no session, user, group or snapshot. The handshake rate counts every "
        "`hello` over the time from the first moment to the last client's report.",
        f"python bench/storm.py --users {row['users']} --processes {row['processes']} --spread {row['spread']:g}",
        table(
            [
                "clients",
                "processes",
                "server",
                "window s",
                "failed",
                "to hello p50 ms",
                "p99 ms",
                "max ms",
                "handshakes/s per process",
                "rate vs raw",
            ],
            lines,
        ),
        targets,
    )


def bulk(row: dict) -> Section:
    dnc, ours = row["dnc"]["store_median"], row["ours"]
    store, total, push = ours["store_median"], ours["total_median"], ours["push_median"]
    hooked = row.get("ours_post_save")
    runs = [("ours", ours)] + ([("ours, a `post_save` receiver", hooked)] if hooked else [])
    lines = [[row["users"], 0, "-", "django-notifications-community", f"{dnc:.0f}", "-", "-", "-", "1.00x"]]
    for name, run in runs:
        lines.append(
            [
                row["users"],
                row["connected"],
                row["processes"],
                name,
                f"{run['store_median']:.0f}",
                f"{run['total_median']:.0f}",
                f"{run['push_median']:.0f}",
                run["missing"],
                times(run["total_median"], dnc),
            ]
        )
    about = (
        f"`notify.send(actor, recipient=group, verb=...)` to a Group of {row['users']:,} users, "
        f"{row['connected']:,} of them holding a socket on one of {row['processes']} processes; medians over "
        f"{row['rounds']} rounds. **store** runs from the call to the commit of all rows; **store + deliver** "
        "to the last connected recipient's frame. The baseline is django-notifications-community's "
        "`notify.send` on the same data (it stores and does not push), installed in `bench/.venv-dnc`."
    )
    targets = [
        ("store + deliver at most 1.5x the community's store", times(total, dnc), total <= 1.5 * dnc),
        ("the push under 0.5x our store", times(push, store), push < 0.5 * store),
        ("nothing lost", f"{ours['missing']} lost", ours["missing"] == 0),
    ]
    if hooked:
        ratio = times(hooked["store_median"], store)
        per_round = ", ".join(f"{r:.2f}x" for r in hooked["store_vs_none_per_round"])
        about += (
            " Each round also sends once with a `post_save` receiver on the notification model that reads each "
            "row's pk and recipient, as a site hanging its work on django-notifications' signals has; every "
            "stored row gets its `post_save`. The two sends of a round run back to back, each round the other "
            "first, and the receiver's rows are deleted once delivered, so the sends without it meet the table a "
            f"run without receiver rounds has. With the receiver the store took {hooked['store_median']:.0f} ms, "
            f"{ratio} the store without it (per round: {per_round})."
        )
        targets.append(("store with a `post_save` receiver against without (no target: reported)", ratio, None))
    return Section(
        "Bulk notify",
        about,
        "python bench/bulk.py --users 10000 --connected 2000 --processes 2 --rounds 3",
        table(
            [
                "recipients",
                "connected",
                "processes",
                "server",
                "store ms",
                "store + deliver ms",
                "push ms",
                "lost",
                "vs community's store",
            ],
            lines,
        ),
        targets,
    )


def idle(row: dict) -> Section:
    ours, poll = row["idle"], row["polling"]
    kib, cpu = ours["kib_per_socket"], ours["cpu_percent"]
    total = sum(cpu)
    lines = [
        [
            row["users"],
            row["processes"],
            f"ours on {row.get('server', 'daphne')}, idle sockets",
            " / ".join(map(str, kib)),
            " / ".join(map(str, cpu)),
            "1.00x",
        ],
        [
            row["users"],
            row["processes"],
            "polling `unread_count` every 15 s",
            "-",
            f"{poll['cpu_percent_for_users']} (all processes)",
            times(poll["cpu_percent_for_users"], total),
        ],
    ]
    return Section(
        "Idle cost and memory",
        f"{row['users']:,} users hold sockets over {row['processes']} processes and do nothing for "
        f"{row['seconds']:g} s (heartbeats and daphne's pings go on). RSS and CPU are read from `/proc`. The "
        "baseline is django-notifications' live updater polling `api/unread_count/` every 15 s: its CPU per "
        f"request ({poll['cpu_ms_per_request']} ms, measured at {poll['achieved_rate']} requests a second, "
        f"{poll['failures']} failed) times the {poll['rate_for_users']} a second these users would make.",
        "python bench/idle.py --users 10000 --processes 2 --seconds 60",
        table(["users", "processes", "way", "RSS per socket KiB", "CPU, % of one core", "CPU vs ours"], lines),
        [
            ("at most 40 KiB a socket", " / ".join(f"{k} KiB" for k in kib), max(kib) <= 40),
            ("under 5% of a core per process", " / ".join(f"{c}%" for c in cpu), max(cpu) < 5),
        ],
    )


SCENARIOS: dict[str, Callable[..., Section]] = {
    "fanout": fanout,
    "sse": sse,
    "personal": personal,
    "personal-runs": personal_runs,
    "bulk": bulk,
    "storm": storm,
    "idle": idle,
    "chat": chat,
}


# -- any other results file ---------------------------------------------------------------------


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, list) and not any(isinstance(item, dict | list) for item in value):
        return {prefix[:-1]: " / ".join(map(str, value))}
    if isinstance(value, list):
        return {prefix[:-1]: f"{len(value)} items"}
    return {prefix[:-1]: value}


def generic(name: str, data: object) -> Section:
    if isinstance(data, dict) and "table" in data:
        section = Section(
            data.get("title", name),
            data.get("about", ""),
            data.get("command", ""),
            table(data["table"]["columns"], data["table"]["rows"]),
        )
        section.targets = [(t["target"], str(t.get("result", "")), t.get("met")) for t in data.get("targets", [])]
        return section
    rows = data if isinstance(data, list) else [data]
    flat = [flatten(row) for row in rows]
    columns = list(dict.fromkeys(key for row in flat for key in row))
    return Section(
        name,
        f"Raw results of `bench/results/{name}.json`.",
        "",
        table(columns, [[row.get(column) for column in columns] for row in flat]),
    )


# -- the report ---------------------------------------------------------------------------------


def sections() -> list[Section]:
    found = {path.stem: json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))}
    found.pop(MACHINE.stem, None)
    out = [SCENARIOS[name](found.pop(name)) for name in SCENARIOS if name in found]
    out += [generic(name, data) for name, data in found.items()]
    return out


def kept_text() -> str:
    if REPORT.exists():
        text = REPORT.read_text()
        if KEPT in text:
            return text.split(KEPT, 1)[1].strip("\n")
    return ""


def render() -> str:
    machine = json.loads(MACHINE.read_text()) if MACHINE.exists() else {}
    found = sections()
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/report.py from bench/results/*.json: run `make bench`, or "
        "`python bench/report.py --render` after editing bench/how_it_gets_there.md. -->",
        "",
        "Performance is measured by the scripts in `bench/`, never by timed unit tests. Each scenario runs "
        "its baselines in the same run on the same machine, and the figures that count are the ratios "
        "against them: on a shared machine the absolute times move from one hour to the next. "
        "`make bench` runs them all and writes this page; `make bench-quick` is a short smoke run that "
        "fails if a frame is lost (CI runs it). The raw results are in `bench/results/`; a new scenario only "
        "writes its JSON there (the format is in `bench/report.py`).",
        "",
        "## The machine",
        "",
        *machine_lines(machine),
        "",
        "## Targets",
        "",
        "Whether each target was met in this run. A run on a loaded machine can miss a ratio that a quiet one "
        "meets: the load average above says how busy it was.",
        "",
    ]
    rows = [[s.title, target, result, met(ok)] for s in found for target, result, ok in s.targets]
    out += table(["scenario", "target", "result", "status"], rows)
    for s in found:
        out += ["", f"## {s.title}", ""]
        if s.about:
            out += [s.about, ""]
        if s.command:
            out += ["```sh", s.command, "```", ""]
        out += s.table
    out += ["", DESIGN.read_text().strip(), "", KEPT]
    kept = kept_text()
    if kept:
        out += ["", kept]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--render", action="store_true", help="use the stored machine facts")
    mode.add_argument("--check", action="store_true", help="fail if docs/benchmarks.md is out of date")
    args = parser.parse_args()
    if args.check:
        if REPORT.read_text() != render():
            print("docs/benchmarks.md is not what bench/results/ makes: run python bench/report.py --render")
            raise SystemExit(1)
        return
    if not args.render:
        RESULTS.mkdir(exist_ok=True)
        MACHINE.write_text(json.dumps(collect_machine(), indent=2) + "\n")
    REPORT.write_text(render())
    print(f"wrote {REPORT.relative_to(ROOT)}")
    missed = [f"{s.title}: {target} ({result})" for s in sections() for target, result, ok in s.targets if ok is False]
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
