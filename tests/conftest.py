"""Fixtures: service gating, real daphne servers, logged-in sockets, a browser.

A test that needs Redis, PostgreSQL or Chromium skips with a message naming
the service when it is missing, unless CI=true, where it fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.test import Client

from tests.live import ARTIFACTS, Daphne, connect, start_daphne

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1"
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need(service: str, available: bool) -> None:
    """Skip (or, on CI, fail) when a service the test needs is missing."""
    if available:
        return
    if CI:
        pytest.fail(f"{service} is not available, and CI=true requires every test to run.")
    pytest.skip(f"{service} is not available")


def redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_configure(config: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        import psycopg

        try:
            psycopg.connect(
                host=db["HOST"],
                port=db["PORT"] or 5432,
                user=db["USER"],
                dbname=db["NAME"],
                password=db["PASSWORD"] or None,
                connect_timeout=2,
            ).close()
        except psycopg.OperationalError as exc:
            message = f"PostgreSQL at {db['HOST']}:{db['PORT']} is not available ({exc})"
            if CI:
                raise pytest.UsageError(message + "; CI=true requires it.") from exc
            pytest.exit(message + "; skipping the PostgreSQL pass.", returncode=0)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop
    running in the main thread for the rest of the session. Tests marked
    `postgres` are deselected on SQLite, where what they test cannot happen
    (SQLite serializes writers); the PostgreSQL pass runs them."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        postgres_only = [item for item in items if item.get_closest_marker("postgres")]
        if postgres_only:
            config.hook.pytest_deselected(items=postgres_only)
            items[:] = [item for item in items if not item.get_closest_marker("postgres")]
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def fresh_channel_layers() -> Iterator[None]:
    """A channel layer object per test: each async test runs on its own event
    loop, and channels-redis refuses to receive on two loops."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def no_abuse_cooldowns() -> Iterator[None]:
    """Forget which users this process cooled down: a later test's user may
    have the same primary key."""
    from notifications.realtime import socket_limit

    yield
    socket_limit.cooldowns_forget()


@pytest.fixture
def alice(db: Any) -> Any:
    from tests import factories

    return factories.user("alice")


@pytest.fixture
def bob(db: Any) -> Any:
    from tests import factories

    return factories.user("bob")


@pytest.fixture
async def hub_shutdown() -> Any:
    """Stop the test loop's hub before the loop is torn down."""
    from notifications.realtime.hub import close_hub

    yield
    await close_hub()


@pytest.fixture(scope="session")
def redis_url() -> str:
    need(f"Redis at {TEST_REDIS_URL}", redis_available(TEST_REDIS_URL))
    return TEST_REDIS_URL


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a throwaway database on the PostgreSQL server, dropped
    afterwards: for a site of a test's own (a packaging test's venv)."""
    import uuid

    import psycopg

    try:
        admin = psycopg.connect(TEST_POSTGRES_URL, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError:
        need(f"PostgreSQL at {TEST_POSTGRES_URL}", False)
    name = f"site_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield TEST_POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    """Real Redis with this run's channel-layer keys removed, so no group or
    message of an earlier test's processes is left behind."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"{settings.CHANNEL_PREFIX}*", count=1000):
        client.delete(key)
    return redis_url


@pytest.fixture
def redis_layer(settings: Any, clean_redis: str) -> str:
    """This test process publishes on the real Redis layer."""
    from notifications.realtime import publish as publish_module
    from notifications.realtime import redis_channel_layer

    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(clean_redis, prefix=settings.CHANNEL_PREFIX)}
    publish_module._publishers.clear()
    return clean_redis


def _database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def daphne(transactional_db: Any) -> Iterator[Callable[..., Daphne]]:
    """Start real daphne processes on the test database:
    ``daphne()`` with the in-memory layer, ``daphne(redis_url=...)`` with Redis."""
    servers: list[Daphne] = []

    def start(
        redis_url: str | None = None,
        application: str = "project.asgi:application",
        daphne_args: tuple[str, ...] = (),
        **env: str,
    ) -> Daphne:
        server = start_daphne(
            database_url=_database_url(),
            redis_url=redis_url,
            extra_env=env,
            application=application,
            daphne_args=daphne_args,
        )
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def session_cookie(user: Any) -> str:
    """A Cookie header for a real, stored session of ``user``."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.fixture
def ws_client() -> Callable[..., Any]:
    """``await ws_client(server, user)``: a WebSocket to ``server`` logged in as ``user``."""

    async def open_socket(server: Daphne, user: Any = None, **kwargs: Any) -> Any:
        from channels.db import database_sync_to_async as sync_to_async

        cookie = await sync_to_async(session_cookie)(user) if user is not None else None
        return await connect(server, cookie=cookie, **kwargs)

    return open_socket


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    need(f"Chromium at {CHROMIUM}", bool(shutil.which(CHROMIUM)))
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test thread,
    # which trips Django's async-safety check on the test's own ORM calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser: Any, request: Any) -> Iterator[Callable[[], Any]]:
    """``new_page()`` opens a page in a fresh browser context (a separate
    person); a failing test saves a screenshot of each under tests/artifacts/."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def open_page() -> Any:
        context = browser.new_context()
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        pages.append(page)
        return page

    yield open_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for index, page in enumerate(pages):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{index}.png"))
    for context in contexts:
        context.close()


def browser_login(page: Any, server: Daphne, username: str, password: str = "pw") -> None:
    page.goto(server.url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=username]")


@pytest.fixture
def smtp(settings: Any) -> Iterator[Any]:
    """A real SMTP server; Django's email backend sends to it."""
    from tests.smtp import smtp_server

    with smtp_server() as inbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = inbox.host
        settings.EMAIL_PORT = inbox.port
        yield inbox
