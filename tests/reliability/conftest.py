"""Fixtures for fault tests: a Redis server of the test's own, which it may
stop, restart empty, or starve, without touching the machine's Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.conftest import need
from tests.live import ARTIFACTS, free_port


class RedisServer:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
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

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


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
