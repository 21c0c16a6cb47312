"""Fixtures for fault tests: Redis servers of the test's own, which it may
stop, kill, restart empty, or starve, without touching the machine's Redis:
one server, a primary with a replica and three sentinels, or two shards."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import need
from tests.live import ARTIFACTS, free_port


class RedisServer:
    def __init__(self, workdir: Path, *args: str):
        self.port = free_port()
        self.workdir = workdir
        self.args = args  # more redis-server options, e.g. ("--replicaof", "127.0.0.1 6379")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start empty: no snapshot, no append-only file."""
        log = (ARTIFACTS / f"redis-{self.port}.log").open("a")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on {self.port}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=1)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """Poll ``condition`` until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except redis.RedisError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


MASTER_NAME = "mymaster"


class SentinelSet:
    """A primary, a replica, and three sentinels that fail over from one to
    the other a second after the primary stops answering."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.primary = RedisServer(workdir / "primary")
        self.replica = RedisServer(workdir / "replica")
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen] = []

    @property
    def addresses(self) -> str:
        """REDIS_SENTINELS, as the demo reads it."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> None:
        for server in (self.primary, self.replica):
            server.workdir.mkdir(parents=True)
        self.primary.args = ("--repl-diskless-sync-delay", "0")
        self.primary.start()
        self.replica.args = ("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replica.start()
        wait_for(
            lambda: self.replica.client().info("replication").get("master_link_status") == "up",
            "the replica to sync",
        )
        for port in self.sentinel_ports:
            config = self.workdir / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 4000\n"
            )
            log = (ARTIFACTS / f"sentinel-{port}.log").open("a")
            self.sentinels.append(
                subprocess.Popen(["redis-server", str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT)
            )
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1)
            # Each sentinel knows the replica and the two other sentinels.
            wait_for(lambda s=sentinel: s.sentinel_slaves(MASTER_NAME), "the sentinels to find the replica")
            wait_for(lambda s=sentinel: len(s.sentinel_sentinels(MASTER_NAME)) == 2, "the sentinels to meet")

    def master_port(self) -> int | None:
        """The master's port as the first sentinel that answers reports it."""
        for port in self.sentinel_ports:
            try:
                _, master_port = redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(MASTER_NAME)
                return int(master_port)
            except (redis.RedisError, TypeError):
                continue
        return None

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        self.primary.stop()
        self.replica.stop()


@pytest.fixture
def own_redis(tmp_path: Path, settings: Any) -> Iterator[RedisServer]:
    """A private redis-server; this test process publishes through it too."""
    from notifications.realtime import publish as publish_module
    from notifications.realtime import redis_channel_layer

    need("redis-server (the Redis binary)", bool(shutil.which("redis-server")))
    server = RedisServer(tmp_path)
    server.start()
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(server.url, prefix=settings.CHANNEL_PREFIX)}
    publish_module._publishers.clear()
    yield server
    server.stop()
    publish_module._publishers.clear()


@pytest.fixture
def sentinel_set(tmp_path: Path, settings: Any) -> Iterator[SentinelSet]:
    """A primary, a replica and three sentinels of the test's own; this test
    process publishes through Sentinel too."""
    from notifications.realtime import publish as publish_module
    from notifications.realtime import redis_channel_layer, sentinel_hosts

    need("redis-server (the Redis binary)", bool(shutil.which("redis-server")))
    servers = SentinelSet(tmp_path)
    try:
        servers.start()
        hosts = sentinel_hosts(servers.addresses, MASTER_NAME)
        settings.CHANNEL_LAYERS = {"default": redis_channel_layer(hosts, prefix=settings.CHANNEL_PREFIX)}
        publish_module._publishers.clear()
        yield servers
    finally:
        servers.stop()
        publish_module._publishers.clear()


@pytest.fixture
def shards(tmp_path: Path, settings: Any) -> Iterator[list[RedisServer]]:
    """Two Redis servers of the test's own, one layer sharded over both."""
    from notifications.realtime import publish as publish_module
    from notifications.realtime import redis_channel_layer

    need("redis-server (the Redis binary)", bool(shutil.which("redis-server")))
    servers = [RedisServer(tmp_path / name) for name in ("shard0", "shard1")]
    try:
        for server in servers:
            server.workdir.mkdir()
            server.start()
        hosts = [server.url for server in servers]
        settings.CHANNEL_LAYERS = {"default": redis_channel_layer(hosts, prefix=settings.CHANNEL_PREFIX)}
        publish_module._publishers.clear()
        yield servers
    finally:
        for server in servers:
            server.stop()
        publish_module._publishers.clear()
