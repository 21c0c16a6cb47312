"""Many processes behind a balancer: N daphne processes behind nginx
(least_conn) on loopback, against N raw `websockets` servers behind the same
nginx, in the same run.

    python bench/balanced.py --users 20000 --processes 8 --rounds 3 --rate 100 --seconds 10

Every socket goes through nginx. Three phases per server kind: idle (the
sockets open, nothing sent, long enough for a round of socket-entry
renewals), personal (``rate`` notifications a second to random users for
``seconds``, timed as bench/personal.py does), then, with the users
connected afresh, fan-out (an announcement to everyone, ``rounds`` times, a
second apart, timed as bench/fanout.py does). For each
phase it reports the CPU each server process and nginx used (a share of one
core) and the Redis commands per second per 1,000 connected users, from a
redis-server of its own (so no other client of the machine's Redis counts).
Writes bench/results/balanced.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import fanout
from connect import raise_open_file_limit
from fanout import daphnes, free_port, label, prepare_database, raw_servers, start_clients, wait_port
from personal import check, send_steadily, start_collectors

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@contextmanager
def own_redis() -> Iterator[tuple[str, int]]:
    """A redis-server of this bench's own, empty: (its URL, its pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            yield f"redis://127.0.0.1:{port}/0", process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


NGINX = """daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
worker_processes {workers}; worker_rlimit_nofile {nofile};
events {{ worker_connections {connections}; }}
http {{
    access_log off; {temp}
    upstream backend {{ zone backend 64k; least_conn; {servers} }}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;  # with the port: the origin check compares it
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


def nginx_workers(sockets: int) -> int:
    """nginx workers enough that none needs more file descriptors than a
    process may open here: a proxied socket takes two."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(1, math.ceil(2 * sockets / max(limit - 1000, 1000)))


@contextmanager
def nginx(upstreams: list[int], sockets: int) -> Iterator[tuple[int, list[int]]]:
    """nginx on a free port in front of ``upstreams`` for ``sockets``
    clients, with the configuration of docs/deployment.md and as many
    workers as the file descriptor limit needs (the upstreams' state shared
    between them): (its port, its workers' pids)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    workers = nginx_workers(sockets)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    with tempfile.TemporaryDirectory() as tmp:
        temp = " ".join(
            f"{name}_temp_path {tmp}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        servers = " ".join(f"server 127.0.0.1:{upstream};" for upstream in upstreams)
        config = Path(tmp) / "nginx.conf"
        config.write_text(
            NGINX.format(
                tmp=tmp,
                temp=temp,
                servers=servers,
                port=port,
                workers=workers,
                nofile=nofile,
                connections=nofile - 100,
            )
        )
        process = subprocess.Popen([binary, "-c", str(config), "-p", tmp], stdout=subprocess.DEVNULL)
        try:
            wait_port(port)
            deadline = time.monotonic() + 10
            while len(children(process.pid)) < workers and time.monotonic() < deadline:
                time.sleep(0.1)
            yield port, children(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


class Meter:
    """CPU of named processes and Redis commands over a window."""

    def __init__(self, pids: dict[str, int], redis_url: str):
        import redis

        self.pids = pids
        self.redis = redis.Redis.from_url(redis_url)
        self.start()

    def start(self) -> None:
        self.started = time.monotonic()
        self.cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.commands = self.redis.info("stats")["total_commands_processed"]
        self.by_command = self.command_counts()

    def command_counts(self) -> dict[str, int]:
        return {name: stats["calls"] for name, stats in self.redis.info("commandstats").items()}

    def read(self, users: int) -> dict:
        """Since ``start``: each process's share of a core, and Redis
        commands per second per 1,000 users."""
        wall = time.monotonic() - self.started
        shares = {name: (cpu_seconds(pid) - self.cpu[name]) / wall for name, pid in self.pids.items()}
        servers = [share for name, share in shares.items() if name.startswith("server")]
        commands = self.redis.info("stats")["total_commands_processed"] - self.commands - 1
        calls = {name: count - self.by_command.get(name, 0) for name, count in self.command_counts().items()}
        calls.pop("cmdstat_info", None)
        busiest = sorted(calls.items(), key=lambda item: -item[1])[:6]
        return {
            "seconds": round(wall, 1),
            "server_cpu_mean": round(sum(servers) / len(servers), 3),
            "server_cpu_max": round(max(servers), 3),
            "nginx_cpu": round(sum(share for name, share in shares.items() if name.startswith("nginx")), 3),
            "redis_cpu": round(shares["redis"], 3),
            "redis_commands_per_s_per_1000_users": round(commands / wall / (users / 1000), 1),
            "redis_busiest_commands": {name.removeprefix("cmdstat_"): count for name, count in busiest if count},
        }


def settle(meter: Meter, timeout: float = 60) -> None:
    """Wait until the server processes are quiet (the previous phase's
    sockets closed and released), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meter.start()
        time.sleep(1)
        if meter.read(1000)["server_cpu_max"] < 0.02:
            return


def run_kind(
    kind: str,
    args: argparse.Namespace,
    redis: tuple[str, int],
    serve: Callable[[], object],
    path: Callable[[int], str],
    cookies: list[str | None],
    broadcast: Callable[[int], None],
    personal: Callable[[int], tuple],
    phases: tuple[str, ...] = ("idle", "fanout", "personal"),
) -> dict:
    """The ``phases`` for one server kind: ``serve()`` yields its ports,
    ``path(i)`` is user i's socket path."""
    row: dict = {}
    with serve() as ports, nginx(ports, len(cookies)) as (front, workers):
        pids = {f"server{i}": fanout.SERVERS[port].pid for i, port in enumerate(ports)}
        nginx_pids = {f"nginx{i}": worker for i, worker in enumerate(workers)}
        meter = Meter({**pids, **nginx_pids, "redis": redis[1]}, redis[0])
        origin = f"http://127.0.0.1:{front}"
        targets = [[f"ws://127.0.0.1:{front}{path(i)}", cookie] for i, cookie in enumerate(cookies)]
        greeting = int(kind == "ours")

        if "personal" in phases:
            # The personal collectors wait without a timeout: the idle
            # window runs on them.
            collectors = start_collectors(targets, origin, greeting)
            if "idle" in phases:
                meter.start()
                time.sleep(args.idle_seconds)
                row["idle"] = meter.read(args.users)
            meter.start()
            calls = send_steadily(args.rate, args.seconds, personal)
            cpu = meter.read(args.users)
            sent = [call[:2] if call else None for call in calls]
            committed = {call[1]: call[2] for call in calls if call and len(call) > 2}
            row["personal"] = {**check(collectors, sent, 0, committed), "cpu": cpu}
            print(kind, "personal", json.dumps(row["personal"]), file=sys.stderr, flush=True)
        if "fanout" in phases:
            settle(meter)
            marker = '"type":"announcement"' if kind == "ours" else '"type":"bench"'
            clients = start_clients(targets, origin, marker, args.rounds, bool(greeting))
            meter.start()
            row["fanout"] = fanout.measure(clients, args.rounds, broadcast)
            row["fanout"]["cpu"] = meter.read(args.users)
            print(kind, "fan-out", json.dumps(row["fanout"]), file=sys.stderr, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100, help="personal notifications per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--idle-seconds", type=float, default=35, help="over 30: sockets renew their entries every 30 s"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    raise_open_file_limit()  # nginx inherits it
    with own_redis() as redis_server:
        fanout.REDIS_URL = redis_server[0]  # the servers' REDIS_URL (fanout.server_env)
        cookies = prepare_database(args.users)
        rows = {"users": args.users, "processes": args.processes, "rate": args.rate, "seconds": args.seconds}
        rows["raw"] = raw_rows(args, redis_server)
        rows["ours"] = our_rows(args, redis_server, cookies)
    print(json.dumps(rows), flush=True)
    fanout.RESULTS.mkdir(exist_ok=True)
    table = markdown(rows)
    (fanout.RESULTS / "balanced.json").write_text(json.dumps(report_of(rows, table), indent=2))
    print("\n" + table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if rows["ours"]["fanout"]["missing"] or rows["ours"]["personal"]["missing"]:
        raise SystemExit("ours lost frames")


def raw_rows(args: argparse.Namespace, redis_server: tuple[str, int]) -> dict:
    import redis

    client = redis.Redis.from_url(redis_server[0])
    picks = random.Random(1).choices(range(args.users), k=int(args.rate * args.seconds))

    def broadcast(n: int) -> None:
        client.publish("bench:raw", json.dumps({"type": "bench", "n": n}, separators=(",", ":")))

    def personal(n: int) -> tuple[int, int]:
        index = picks[n]
        frame = {"type": "notification", "user": index, "notification": {"id": n, "data": {"sent": time.time()}}}
        client.publish("bench:personal", json.dumps(frame, separators=(",", ":")))
        return index, n

    return raw_fanout_then_personal(args, redis_server, broadcast, personal)


def raw_fanout_then_personal(
    args: argparse.Namespace,
    redis_server: tuple[str, int],
    broadcast: Callable[[int], None],
    personal: Callable[[int], tuple],
) -> dict:
    """The raw baseline has a server per kind of message, so its fan-out and
    personal phases each run on their own N servers."""
    cookies: list[str | None] = [None] * args.users
    fan = run_kind(
        "raw",
        args,
        redis_server,
        lambda: raw_servers(args.processes, "raw_server.py", redis_server[0]),
        lambda i: "/",
        cookies,
        broadcast,
        personal,
        phases=("fanout",),
    )
    own = run_kind(
        "raw",
        args,
        redis_server,
        lambda: raw_servers(args.processes, "raw_personal_server.py", redis_server[0]),
        lambda i: f"/u/{i}",
        cookies,
        broadcast,
        personal,
        phases=("idle", "personal"),
    )
    return {"idle": own["idle"], "fanout": fan["fanout"], "personal": own["personal"]}


def our_rows(args: argparse.Namespace, redis_server: tuple[str, int], cookies: list[str]) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from notifications import services
    from notifications.signals import notify

    users = list(get_user_model().objects.order_by("pk"))
    actor = users[0]
    picks = random.Random(1).choices(range(len(users)), k=int(args.rate * args.seconds))

    def broadcast(n: int) -> None:
        services.announcement_publish(announcement=services.announcement_create(title=f"bench {n}"))

    def personal(n: int) -> tuple[int, int, float]:
        index = picks[n]
        commit: dict[str, float] = {}
        with transaction.atomic():
            transaction.on_commit(lambda: commit.setdefault("at", time.time()))
            [(_, [created])] = notify.send(actor, recipient=users[index], verb="bench", sent=time.time())
        return index, created.id, commit["at"]

    return run_kind(
        "ours",
        args,
        redis_server,
        lambda: daphnes(args.processes, "project.asgi:application"),
        lambda i: "/ws/notifications/",
        cookies,
        broadcast,
        personal,
    )


def markdown(rows: dict) -> str:
    lines = [
        "| phase | server | p50 ms | p99 ms | max ms | lost | p99 vs raw | CPU per server process, mean / max "
        "| nginx CPU | Redis CPU | Redis commands/s per 1,000 users |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in ("idle", "fanout", "personal"):
        for name in ("raw", "ours"):
            result = rows[name][phase]
            cpu = result if phase == "idle" else result["cpu"]
            if phase == "idle":
                timing = "| | | | | |"
            else:
                raw_p99 = rows["raw"][phase]["p99"]
                vs_raw = "1.00x" if name == "raw" else fanout.ratio(result["p99"], raw_p99)
                timing = f"| {result['p50']} | {result['p99']} | {result['max']} | {result['missing']} | {vs_raw} |"
            servers = f"{cpu['server_cpu_mean']:.1%} / {cpu['server_cpu_max']:.1%}"
            lines.append(
                f"| {phase} | {label(name, 'daphne')} {timing} {servers} "
                f"| {cpu['nginx_cpu']:.1%} | {cpu['redis_cpu']:.1%} | {cpu['redis_commands_per_s_per_1000_users']} |"
            )
    return "\n".join(lines)


def report_of(rows: dict, table: str) -> dict:
    """The results in the shape bench/report.py renders."""
    lines = [line.strip("|").split(" | ") for line in table.splitlines()]
    columns, body = [c.strip() for c in lines[0]], [[c.strip() for c in line] for line in lines[2:]]
    lost = rows["ours"]["fanout"]["missing"] + rows["ours"]["personal"]["missing"]
    return {
        "title": "Many processes behind nginx",
        "about": (
            f"{rows['users']:,} users through nginx (least_conn) to {rows['processes']} daphne processes on "
            f"Redis, against as many raw `websockets` servers behind the same nginx in the same run: idle, then "
            f"{rows['rate']:g} personal notifications a second for {rows['seconds']:g} s, then an announcement "
            "to everyone. CPU is a share of one core; Redis is a redis-server of the bench's own. The machine "
            "has 2 cores, so 8 processes share them: the ratios say what the software adds, not what 8 cores "
            "would do."
        ),
        "command": f"python bench/balanced.py --users {rows['users']} --processes {rows['processes']} --rounds 3 "
        f"--rate {rows['rate']:g} --seconds {rows['seconds']:g}",
        "table": {"columns": columns, "rows": body},
        "targets": [{"target": "many processes: nothing lost", "result": f"{lost} lost", "met": lost == 0}],
        "raw": rows,
    }


if __name__ == "__main__":
    main()
