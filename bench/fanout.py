"""Announcement fan-out: ours against the raw and tutorial baselines, same run.

    python bench/fanout.py --users 1000 --processes 1 2 --rounds 5

Everything runs on loopback: Redis (database 2 of the local server, emptied
first), SQLite, N daphne processes, and client processes holding the
sockets. For each server it triggers `rounds` broadcasts and measures, for
every socket, the time from the trigger returning (announcement_publish for
ours, group_send for the tutorial, a Redis publish for raw) to the frame's
arrival. It prints p50, p99 and max in ms, ours as ratios against both
baselines, and writes bench/results/fanout.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Where each scenario writes its JSON; make bench-quick keeps its own apart.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
# Emptied first: point it (or REDIS_URL) at a database of its own.
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/2"
DATABASE = ROOT / "bench" / ".bench.sqlite3"
# BENCH_DATABASE_URL=postgresql://... runs the servers on PostgreSQL instead;
# the database is created if missing and emptied first (bench/crossprocess.py).
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{DATABASE}"
SOCKETS_PER_CLIENT = 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-secret-key-bench-only-secret-key",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=DATABASE_URL,
        # SQLite keeps its connections (on PostgreSQL the pool below sets 0):
        # with 0, every connect and heartbeat round opens the database again.
        DJANGO_CONN_MAX_AGE=os.environ.get("BENCH_CONN_MAX_AGE", "60"),
        # On PostgreSQL, psycopg's pool as the demo has it (project/settings.py);
        # BENCH_DB_POOL=0 measures without, a JSON object with other options.
        DJANGO_DB_POOL=os.environ.get("BENCH_DB_POOL", "1"),
        REDIS_URL=REDIS_URL,
        NOTIFICATIONS_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    if os.environ.get("BENCH_NO_REDIS"):
        del env["REDIS_URL"]  # the in-memory layer (bench/crossprocess.py)
    return env


def start_daphne(app: str, port: int) -> subprocess.Popen:
    # BENCH_PROFILE=DIR runs each server under pyinstrument (pip install
    # pyinstrument) and writes its profile to DIR/daphne-<port>.txt on exit.
    profile = os.environ.get("BENCH_PROFILE")
    runner = ["-m", "pyinstrument", "--show-all", "-r", "text", "-o", f"{profile}/daphne-{port}.txt"] if profile else []
    # BENCH_GC_STATS=DIR records each server's garbage collections in
    # DIR/gc-<port>.json (bench/gc_stats.py; read with gc_summary()).
    gc_stats = os.environ.get("BENCH_GC_STATS")
    if gc_stats and not profile:
        runner = [str(ROOT / "bench" / "gc_stats.py"), f"{gc_stats}/gc-{port}.json"]
    return start_server(
        port,
        *runner,
        "-m",
        "daphne",
        "-e",
        f"tcp:port={port}:interface=127.0.0.1:backlog=4096",
        "--websocket_connect_timeout",
        "30",
        "--ping-interval",
        "60",
        # BENCH_DAPHNE_ARGS: extra daphne options, for experiments.
        *os.environ.get("BENCH_DAPHNE_ARGS", "").split(),
        app,
    )


def start_uvicorn(app: str, port: int) -> subprocess.Popen:
    """The same ASGI application under uvicorn (its `websockets` protocol),
    for comparing servers side by side."""
    return start_server(
        port,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backlog",
        "4096",
        "--ws",
        "websockets",
        "--ws-max-size",
        "16384",
        # daphne does not offer compression either; with it, a socket costs
        # about 140 KiB instead of 40.
        "--ws-per-message-deflate",
        "false",
        # Without it uvicorn waits on open sockets when told to stop: the
        # tutorial's clients hold theirs until the server goes.
        "--timeout-graceful-shutdown",
        "5",
        "--log-level",
        "warning",
        "--no-access-log",
        app,
    )


def start_server(port: int, *args: str) -> subprocess.Popen:
    """``python *args`` with the site's environment, once it listens on ``port``.
    BENCH_SERVER_LOGS=DIR keeps each server's output in DIR/server-<port>.log."""
    logs = os.environ.get("BENCH_SERVER_LOGS")
    output = open(Path(logs) / f"server-{port}.log", "ab") if logs else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=server_env(), stdout=output, stderr=subprocess.STDOUT
    )
    wait_port(port)
    return process


def start_raw(script: str, port: int, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / script), str(port), *args], cwd=ROOT)
    wait_port(port)
    return process


# The running server process on each port, for scripts that measure them.
SERVERS: dict[int, subprocess.Popen] = {}


@contextmanager
def serving(count: int, start: Callable[[int], subprocess.Popen]) -> Iterator[list[int]]:
    """``count`` server processes, each started by ``start(port)``; yields
    their ports and stops them (SIGTERM) on the way out."""
    ports = [free_port() for _ in range(count)]
    processes: list[subprocess.Popen] = []
    try:
        for port in ports:
            processes.append(start(port))
            SERVERS[port] = processes[-1]
        yield ports
    finally:
        for port in ports:
            SERVERS.pop(port, None)
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def gc_summary(ports: list[int], since: float, until: float) -> dict:
    """What the collector did in the servers on ``ports`` (run with
    BENCH_GC_STATS) between two epoch times: collections by generation, the
    longest pause in ms, and, per process, every full collection's pause."""
    folder = Path(os.environ["BENCH_GC_STATS"])
    counts = [0, 0, 0]
    longest = 0.0
    full, frozen = [], []
    for port in ports:
        stats = json.loads((folder / f"gc-{port}.json").read_text())
        frozen.append(stats["frozen"])
        pauses = []
        for generation, start, duration, _ in stats["collections"]:
            if since <= start <= until:
                counts[generation] += 1
                longest = max(longest, duration)
                if generation == 2:
                    pauses.append(round(duration, 1))
        full.append(pauses)
    return {"collections": counts, "max_pause_ms": round(longest, 1), "full_pauses_ms": full, "frozen": frozen}


def hub_times(ports: list[int]) -> dict[int, tuple[float, float]]:
    """For each notification id a hub on ``ports`` (run with BENCH_GC_STATS)
    wrote: when the hub got its event and when it had written the frame."""
    folder = Path(os.environ["BENCH_GC_STATS"])
    times: dict[int, tuple[float, float]] = {}
    for port in ports:
        for item_id, got, written in json.loads((folder / f"gc-{port}.json").read_text()).get("pushes", []):
            times.setdefault(item_id, (got, written))
    return times


def label(name: str, server: str) -> str:
    """A table's server column: ours or the tutorial under uvicorn is marked as such."""
    return f"{name} ({server})" if name in {"ours", "tutorial"} and server != "daphne" else name


def daphnes(count: int, app: str, server: str = "daphne") -> AbstractContextManager[list[int]]:
    """``count`` processes serving ``app``, under daphne or (``server="uvicorn"``) uvicorn."""
    start = start_uvicorn if server == "uvicorn" else start_daphne
    return serving(count, lambda port: start(app, port))


def raw_servers(count: int, script: str, *args: str) -> AbstractContextManager[list[int]]:
    return serving(count, lambda port: start_raw(script, port, *args))


def create_postgres_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def prepare_database(users: int) -> list[str]:
    """A fresh database with `users` users, each with a stored session.
    Returns their session cookies."""
    if "django" in sys.modules and sys.modules["django"].apps.apps.ready:
        from django.db import connections

        connections.close_all()  # the next file must not be written through the old one
    if DATABASE_URL.startswith("postgresql"):
        create_postgres_database(DATABASE_URL)
    else:
        DATABASE.unlink(missing_ok=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=server_env(), check=True)
    if DATABASE_URL.startswith("postgresql"):
        subprocess.run([sys.executable, "manage.py", "flush", "--noinput"], cwd=ROOT, env=server_env(), check=True)
    os.environ.update(server_env())
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    User = get_user_model()
    User.objects.bulk_create([User(username=f"bench{i}", password="!") for i in range(users)], batch_size=1000)
    sessions, cookies = [], []
    store = SessionStore()
    expires = timezone.now() + timezone.timedelta(days=1)
    for user in User.objects.order_by("pk"):
        key = f"bench{user.pk:032d}"[-32:]
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        cookies.append(f"sessionid={key}")
    Session.objects.bulk_create(sessions, batch_size=1000)
    return cookies


def launch_clients(script: str, targets: list[list], spec: dict, per_client: int = SOCKETS_PER_CLIENT) -> list:
    """Client processes of ``bench/<script>``, ``per_client`` sockets each,
    once every one has reported "ready" (and, with ``spec["go"]``, been told
    to start timing: bench/clients.py)."""
    clients = []
    for start in range(0, len(targets), per_client):
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        process.stdin.write(json.dumps({**spec, "targets": targets[start : start + per_client]}) + "\n")
        process.stdin.flush()
        clients.append(process)
    for process in clients:
        line = process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"a client process failed to connect: {line!r}")
    if spec.get("go"):
        for process in clients:
            process.stdin.write("go\n")
            process.stdin.flush()
    return clients


def start_clients(targets: list[list], origin: str, marker: str, rounds: int, greeting: bool) -> list:
    spec = {
        "origin": origin,
        "marker": marker,
        "rounds": rounds,
        "timeout": 30 + rounds * 3,
        "greeting": greeting,
        "go": True,
    }
    # At least one client process per core: one process reading 1,000 frames
    # took about 25 ms more than the servers needed to send them, while the
    # other core idled (docs/benchmarks.md). Handshakes at a time in all stay
    # as 1,000-socket processes make them (100 each).
    per_client = min(SOCKETS_PER_CLIENT, math.ceil(len(targets) / (os.cpu_count() or 1)))
    spec["handshakes"] = max(1, 100 * per_client // SOCKETS_PER_CLIENT)
    return launch_clients("clients.py", targets, spec, per_client)


def collect(clients: list, triggers: list[float]) -> dict:
    latencies, missing = [], 0
    for process in clients:
        stamps = json.loads(process.stdout.readline())
        process.wait(timeout=30)
        for round_index, received in enumerate(stamps):
            for stamp in received:
                if stamp is None:
                    missing += 1
                else:
                    latencies.append((stamp - triggers[round_index]) * 1000)
    latencies.sort()
    return summarize(latencies, missing)


def summarize(latencies: list[float], missing: int) -> dict:
    if not latencies:
        return {"p50": None, "p99": None, "max": None, "received": 0, "missing": missing}
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "p50": round(statistics.median(latencies), 1),
        "p99": round(p99, 1),
        "max": round(latencies[-1], 1),
        "received": len(latencies),
        "missing": missing,
    }


def measure(clients: list, rounds: int, trigger) -> dict:
    """Call ``trigger(n)`` once a round, a second apart; the clock starts when it returns."""
    triggers = []
    for n in range(rounds):
        time.sleep(1.0)
        trigger(n)
        triggers.append(time.time())
    return collect(clients, triggers)


def run_ours(
    cookies: list[str], processes: int, rounds: int, server: str = "daphne", app: str = "project.asgi:application"
) -> dict:
    from notifications import services

    with daphnes(processes, app, server) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % processes]}/ws/notifications/", c] for i, c in enumerate(cookies)]
        clients = start_clients(targets, f"http://127.0.0.1:{ports[0]}", '"type":"announcement"', rounds, True)
        return measure(
            clients,
            rounds,
            lambda n: services.announcement_publish(announcement=services.announcement_create(title=f"bench {n}")),
        )


def run_tutorial(users: int, processes: int, rounds: int, server: str = "daphne") -> dict:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    with daphnes(processes, "bench.tutorial_asgi:application", server) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % processes]}/ws/tutorial/", None] for i in range(users)]
        clients = start_clients(targets, f"http://127.0.0.1:{ports[0]}", '"type": "bench"', rounds, False)
        send = async_to_sync(get_channel_layer().group_send)
        return measure(
            clients,
            rounds,
            lambda n: send("bench-tutorial", {"type": "bench.message", "frame": {"type": "bench", "n": n}}),
        )


def run_raw(users: int, processes: int, rounds: int) -> dict:
    import redis

    with raw_servers(processes, "raw_server.py", REDIS_URL) as ports:
        targets = [[f"ws://127.0.0.1:{ports[i % processes]}/", None] for i in range(users)]
        clients = start_clients(targets, f"http://127.0.0.1:{ports[0]}", '"type":"bench"', rounds, False)
        client = redis.Redis.from_url(REDIS_URL)
        return measure(
            clients,
            rounds,
            lambda n: client.publish("bench:raw", json.dumps({"type": "bench", "n": n}, separators=(",", ":"))),
        )


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1000])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--server",
        choices=["daphne", "uvicorn"],
        default="daphne",
        help="what serves ours and the tutorial",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    rows = []
    for users in args.users:
        cookies = prepare_database(users)
        for processes in args.processes:
            row = {"users": users, "processes": processes, "server": args.server}
            row["raw"] = run_raw(users, processes, args.rounds)
            row["tutorial"] = run_tutorial(users, processes, args.rounds, args.server)
            row["ours"] = run_ours(cookies, processes, args.rounds, args.server)
            rows.append(row)
            print(json.dumps(row), flush=True)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fanout.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "| sockets | processes | server | p50 ms | p99 ms | max ms | lost | p99 vs raw | p99: tutorial / ours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for name in ("raw", "tutorial", "ours"):
            r = row[name]
            vs_raw = ratio(r["p99"], row["raw"]["p99"]) if name != "raw" else "1.00x"
            speedup = ratio(row["tutorial"]["p99"], r["p99"]) if name == "ours" else ""
            lines.append(
                f"| {row['users']} | {row['processes']} | {label(name, args.server)} "
                f"| {r['p50']} | {r['p99']} | {r['max']} "
                f"| {r['missing']} | {vs_raw} | {speedup} |"
            )
    table = "\n".join(lines)
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    lost = sum(row["ours"]["missing"] for row in rows)
    if lost:
        print(f"ours lost {lost} frames", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
