"""Who may open a socket, against real daphne: origins and sessions."""

import asyncio
from datetime import timedelta

import pytest
import websockets
from channels.db import database_sync_to_async as sync_to_async
from django.contrib.sessions.models import Session
from django.core import checks
from django.utils import timezone

from notifications.realtime.daphne_compat import APPLICATION_CHECK_SECONDS
from tests import factories
from tests.conftest import session_cookie

pytestmark = pytest.mark.daphne

PATHS = ["/ws/notifications/", "/ws/chat/", "/ws/chat/general/"]


async def test_a_foreign_origin_is_refused_with_403_by_real_daphne(daphne, ws_client):
    server = await asyncio.to_thread(daphne)
    for path in PATHS:
        for origin in [
            "http://evil.example",
            "https://evil.example",
            "null",
            None,
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            # The same host on another port or scheme is another site.
            "http://127.0.0.1:9999",
            f"https://127.0.0.1:{server.port}",
            "http://localhost",
        ]:
            with pytest.raises(websockets.InvalidStatus) as refused:
                await ws_client(server, origin=origin, path=path)
            assert refused.value.response.status_code == 403, (path, origin)
    socket = await ws_client(server)  # same origin, anonymous: accepted, then 4401
    code, frames = await socket.closed()
    assert code == 4401
    assert frames == [{"type": "closing", "reason": "not_logged_in"}]


@pytest.mark.redis
async def test_a_trusted_origin_is_accepted_by_its_exact_scheme_and_host(daphne, ws_client):
    """CSRF_TRUSTED_ORIGINS (one list for forms and sockets) lets a page of
    another origin in, by its exact scheme and host (tests/unit/test_asgi.py has
    a Host outside ALLOWED_HOSTS refused whatever the Origin says)."""
    server = await asyncio.to_thread(
        daphne, DJANGO_CSRF_TRUSTED_ORIGINS="https://app.example.com,https://*.example.org"
    )
    for origin in ("https://app.example.com", "https://eu.example.org"):
        socket = await ws_client(server, origin=origin)
        assert (await socket.closed())[0] == 4401  # accepted (anonymous)
    for origin in ("http://app.example.com", "https://example.org.evil.example", "https://other.example.com"):
        with pytest.raises(websockets.InvalidStatus):
            await ws_client(server, origin=origin)


async def test_a_handshake_to_a_path_with_no_route_is_refused_quietly(daphne, ws_client):
    server = await asyncio.to_thread(daphne)
    before = len(server.log_text())
    for index in range(200):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await ws_client(server, path=f"/ws/nothing-here/{index}/")
        assert refused.value.response.status_code == 403
    written = server.log_text()[before:]
    assert "Traceback" not in written and "No route found" not in written
    # daphne's own access lines and ours: a few hundred bytes an attempt.
    assert len(written) < 200 * 500


@pytest.mark.redis
async def test_a_refused_handshake_ends_its_application_at_once_on_redis(daphne, ws_client, clean_redis):
    """Channels' origin denier opens a channel-layer inbox whose cancelled
    receive never finishes on channels-redis, so daphne killed each refused
    handshake's application and logged "took too long to shut down and was
    killed" (notifications.asgi.OriginValidator)."""
    close_timeout = 1
    server = await asyncio.to_thread(
        daphne, redis_url=clean_redis, daphne_args=("--application-close-timeout", str(close_timeout))
    )
    for _ in range(20):
        with pytest.raises(websockets.InvalidStatus):
            await ws_client(server, origin="http://evil.example")
    # daphne kills an application still running close_timeout after its
    # connection closed, at its next walk of the connections.
    deadline = asyncio.get_running_loop().time() + close_timeout + APPLICATION_CHECK_SECONDS + 2
    while asyncio.get_running_loop().time() < deadline:
        assert "took too long to shut down" not in server.log_text()
        await asyncio.sleep(0.25)
    socket = await ws_client(server)  # the server still answers
    code, _ = await socket.closed()
    assert code == 4401


def test_allowed_hosts_star_with_debug_off_fails_the_system_check(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    errors = [e for e in checks.run_checks() if e.id == "notifications.E005"]
    assert errors and errors[0].level == checks.ERROR


def _expired_cookie(user):
    cookie = session_cookie(user)
    Session.objects.filter(session_key=cookie.split("=", 1)[1]).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    return cookie


def _tampered_cookie(user):
    name, value = session_cookie(user).split("=", 1)
    return f"{name}={value[:-4]}{'abcd' if value[-4:] != 'abcd' else 'wxyz'}"


def _deactivated_cookie(user):
    cookie = session_cookie(user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    return cookie


@pytest.mark.parametrize("make_cookie", [None, _tampered_cookie, _expired_cookie, _deactivated_cookie])
async def test_no_tampered_or_expired_session_gets_4401(daphne, make_cookie):
    from tests.live import connect

    alice = await sync_to_async(factories.user)("alice")
    await sync_to_async(factories.room)("general")
    cookie = await sync_to_async(make_cookie)(alice) if make_cookie else None
    server = await asyncio.to_thread(daphne)
    for path in PATHS:
        socket = await connect(server, cookie=cookie, path=path)
        code, frames = await socket.closed()
        assert code == 4401, path
        assert frames == [{"type": "closing", "reason": "not_logged_in"}]
    if make_cookie is not _deactivated_cookie:
        # The same user with a good session is let in.
        good = await connect(server, cookie=await sync_to_async(session_cookie)(alice))
        assert (await good.frame("hello"))["user"] == alice.pk
        await good.close()
    assert "Traceback" not in server.log_text()
