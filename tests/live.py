"""Real daphne processes and real WebSocket clients for tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent

# What .gitignore leaves out: local environments, caches and build output.
UNTRACKED_DIRS = {".git", ".venv", ".nox", "__pycache__", "build", "dist", ".import_linter_cache"}
UNTRACKED_DIRS |= {".pytest_cache", ".ruff_cache", ".mypy_cache"}
UNTRACKED_PATHS = ("tests/artifacts", "bench/.venv-", "bench/results/quick", "staticfiles")
UNTRACKED_FILES = (".pyc", ".sqlite3", ".sqlite3-wal", ".sqlite3-shm")


def project_files() -> list[str]:
    """The project's files, relative to ROOT: git's list in a checkout; in
    an sdist or a `git archive`, the tree less what .gitignore names."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
        return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]
    found = []
    for folder, dirs, files in os.walk(ROOT):
        here = Path(folder).relative_to(ROOT)
        dirs[:] = [
            d
            for d in dirs
            if d not in UNTRACKED_DIRS
            and not d.endswith(".egg-info")
            and not (here / d).as_posix().startswith(UNTRACKED_PATHS)
        ]
        found += [(here / f).as_posix() for f in files if not f.endswith(UNTRACKED_FILES)]
    return sorted(found)


ARTIFACTS = ROOT / "tests" / "artifacts"


def build_wheel(project: Path, into: Path) -> Path:
    """The wheel of ``project`` (this checkout, or its ``chat/``) as a
    release would be: built from a copy of its sources, so nothing an earlier
    local build left in ``build/`` gets packed."""
    import shutil
    import tempfile

    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*", "dist")
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / project.name
        if project == ROOT:
            source.mkdir()
            for name in ("pyproject.toml", "README.md", "notifications"):
                copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
                copy(ROOT / name, source / name, **({"ignore": skip} if (ROOT / name).is_dir() else {}))
        else:
            # chat's static/chat/socket.js links into notifications/: copied as the file.
            shutil.copytree(project, source, ignore=skip)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(into), str(source)],
            check=True,
            capture_output=True,
        )
    [built] = [wheel for wheel in into.glob("*.whl") if wheel.name.startswith(_wheel_prefix(project))]
    return built


def _wheel_prefix(project: Path) -> str:
    import tomllib

    name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    return name.replace("-", "_") + "-"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port}:\n{log.read_text()}")


@dataclass
class Daphne:
    port: int
    proc: subprocess.Popen
    log: Path
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text()


def daphne_env(*, database_url: str, redis_url: str | None, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process on the test database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "DATABASE_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url,
        PYTHONUNBUFFERED="1",
        DJANGO_DEBUG="true",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra_env or {})
    return env


def start_daphne(
    *,
    database_url: str,
    redis_url: str | None,
    extra_env: dict[str, str] | None = None,
    application: str = "project.asgi:application",
    daphne_args: tuple[str, ...] = (),
) -> Daphne:
    """A daphne process serving ``application`` with tests.settings."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    env = daphne_env(database_url=database_url, redis_url=redis_url, extra_env=extra_env)
    log = ARTIFACTS / f"daphne-{port}.log"
    handle = log.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-e",
            f"tcp:port={port}:interface=127.0.0.1:backlog=4096",
            "--websocket-max-message-size",
            "16384",
            "--websocket-max-frame-size",
            "16384",
            "--websocket_connect_timeout",
            "30",
            *daphne_args,
            application,
        ],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    wait_listening(port, proc, log)
    return Daphne(port=port, proc=proc, log=log, env=env)


class Socket:
    """A WebSocket client that speaks the JSON protocol."""

    def __init__(self, connection: Any):
        self.connection = connection

    async def send(self, frame: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(frame))

    async def frame(
        self, kind: str | None = None, timeout: float = 5, skip: tuple[str, ...] = ("heartbeat",)
    ) -> dict[str, Any]:
        """The next frame (of ``kind``, if given), skipping heartbeats unless asked for."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {kind or 'frame'} within {timeout}s")
            data = json.loads(await asyncio.wait_for(self.connection.recv(), remaining))
            if data["type"] in skip and data["type"] != kind:
                continue
            if kind is not None and data["type"] != kind:
                raise AssertionError(f"expected {kind}, got {data}")
            return data

    async def nothing(self, within: float = 1.0, skip: tuple[str, ...] = ("heartbeat",)) -> None:
        """Assert that no frame (other than ``skip``) arrives within ``within`` seconds."""
        deadline = asyncio.get_running_loop().time() + within
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                data = json.loads(await asyncio.wait_for(self.connection.recv(), remaining))
            except TimeoutError:
                return
            if data["type"] not in skip:
                raise AssertionError(f"unexpected frame {data}")

    async def closed(self, timeout: float = 5) -> tuple[int | None, list[dict[str, Any]]]:
        """Read until the server closes; returns (close code, frames seen)."""
        frames = []
        try:
            async with asyncio.timeout(timeout):
                async for message in self.connection:
                    frames.append(json.loads(message))
        except websockets.ConnectionClosed:
            pass
        return self.connection.close_code, frames

    async def close(self) -> None:
        await self.connection.close()


async def connect(
    server: Daphne,
    *,
    cookie: str | None = None,
    origin: str | None = "default",
    path: str = "/ws/notifications/",
    **options: Any,
) -> Socket:
    headers = {}
    if origin == "default":
        headers["Origin"] = server.url
    elif origin is not None:
        headers["Origin"] = origin
    if cookie:
        headers["Cookie"] = cookie
    connection = await websockets.connect(
        server.ws_url + path, additional_headers=headers, open_timeout=10, max_size=2**24, **options
    )
    return Socket(connection)


async def rung(socket: Any, verb: str, timeout: float) -> dict[str, Any]:
    """What the page's client does: take a pushed notification, or sync when
    a heartbeat shows an id it lacks. Returns the notification."""
    last_id = None
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == "hello":
                last_id = frame["last_id"] or 0
            elif frame["type"] == "heartbeat" and (frame["last_id"] or 0) > (last_id or 0):
                await socket.send(json.dumps({"type": "sync", "after": last_id}))
            elif frame["type"] == "notification" and frame["notification"]["verb"] == verb:
                return frame["notification"]
            elif frame["type"] == "sync":
                for item in frame["notifications"]:
                    if item["verb"] == verb:
                        return item


def http_login(server: Daphne, username: str) -> tuple[Any, dict[str, str]]:
    """Log in through the real login form; returns (opener, cookies)."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": "pw", "csrfmiddlewaretoken": token}).encode()
    opener.open(urllib.request.Request(server.url + "/accounts/login/", data=body))
    cookies = {c.name: c.value for c in jar}
    return opener, cookies


async def eventually(condition: Any, timeout: float, what: str = "the condition", interval: float = 0.05) -> None:
    """Wait until ``condition()`` is true (or, for a coroutine function, its
    awaited result), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout

    async def holds() -> bool:
        result = condition()
        return bool(await result) if asyncio.iscoroutine(result) else bool(result)

    while not await holds():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        await asyncio.sleep(interval)


def eventually_sync(condition: Any, timeout: float, what: str = "the condition", interval: float = 0.05) -> None:
    """``eventually`` for a test without an event loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(interval)


def rss_bytes(pid: int) -> int:
    """A process's resident memory, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# Tracebacks that Redis outages cause inside channels-redis itself, which the
# product cannot catch: after each receive it starts a task that removes the
# message from a backup queue, and if Redis is gone at that moment asyncio
# logs "Task exception was never retrieved". The cost is that the message may
# be received twice, which clients absorb by id.
CHANNELS_REDIS_OUTAGE_NOISE = ("_clean_receive_backup",)


CHAINED = ("During handling of the above exception", "The above exception was the direct cause")


def unexpected_tracebacks(log: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """The tracebacks in a server log, each with the tracebacks chained to it
    and the lines up to the next one, except those naming an allowed frame."""
    groups: list[list[str]] = []
    current: list[str] | None = None
    previous = ""
    for line in log.splitlines():
        if line.startswith("Traceback (most recent call last):") and (
            current is None or not previous.startswith(CHAINED)
        ):
            current = []
            groups.append(current)
        if current is not None:
            current.append(line)
        if line.strip():
            previous = line
    texts = ["\n".join(group) for group in groups]
    return [text for text in texts if not any(name in text for name in allowed)]


class EventStream:
    """A Server-Sent Events client on a raw connection: the frames of
    ``/notifications/api/events/`` as the browser's EventSource reads them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int, headers: dict):
        self.reader, self.writer, self.status, self.headers = reader, writer, status, headers

    @classmethod
    async def open(
        cls, server: Daphne | str, path: str, cookie: str | None = None, headers: dict[str, str] | None = None
    ) -> EventStream:
        url = urllib.parse.urlsplit(server.url if isinstance(server, Daphne) else server)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        lines = [f"GET {path} HTTP/1.1", f"Host: {url.netloc}", "Accept: text/event-stream"]
        if cookie:
            lines.append(f"Cookie: {cookie}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status = int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
        headers = {}
        while line := (await asyncio.wait_for(reader.readline(), 10)).decode().strip():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return cls(reader, writer, status, headers)

    async def _line(self) -> str:
        # The body is chunked (HTTP/1.1): chunk sizes are lines of hex digits.
        while True:
            line = (await self.reader.readline()).decode()
            if not line:
                raise ConnectionError("the event stream ended")
            text = line.rstrip("\r\n")
            if self.headers.get("transfer-encoding") == "chunked" and re.fullmatch(r"[0-9a-fA-F]+", text):
                continue
            return text

    async def frame(self, kind: str | None = None, timeout: float = 5, skip: tuple[str, ...] = ("heartbeat",)) -> dict:
        """The next frame (of ``kind``, if given), as Socket.frame."""
        async with asyncio.timeout(timeout):
            while True:
                line = await self._line()
                if not line.startswith("data: "):
                    continue
                data = json.loads(line[len("data: ") :])
                if data["type"] in skip and data["type"] != kind:
                    continue
                if kind is not None and data["type"] != kind:
                    raise AssertionError(f"expected {kind}, got {data}")
                return data

    async def close(self) -> None:
        self.writer.close()
