"""In Chromium: the bell on stock daphne with the quickstart's asgi.py when
notifications arrive that no single frame could hold, and the bell behind an
nginx that strips the WebSocket upgrade, carried over Server-Sent Events."""

import shutil
import subprocess
import sys

import pytest

from notifications.swappable import load_notification_model
from tests import factories
from tests.conftest import browser_login, need
from tests.live import ROOT, Daphne, free_port, unexpected_tracebacks, wait_listening
from tests.system.test_browser import connected, wait_badge

pytestmark = [pytest.mark.browser, pytest.mark.daphne]

STOCK = "tests.stock_asgi:application"

SEND_MANY = """
from django.contrib.auth import get_user_model
from notifications.signals import notify
User = get_user_model()
alice, bob = User._default_manager.get_by_natural_key("alice"), User._default_manager.get_by_natural_key("bob")
for index in range({count}):
    description = "x" * 50_000 if index == {big} else f"note {{index}} " * 30
    notify.send(bob, recipient=alice, verb=f"wrote {{index}}", description=description)
"""


def errors_seen(page) -> int:
    return page.evaluate("window.__errors.length")


def watch_errors(page) -> None:
    page.context.add_init_script(
        "window.__errors = []; document.addEventListener('notifications:error', e => window.__errors.push(e.detail));"
    )


def shell(server: Daphne, code: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("count", [60, 200])
def test_catch_up_on_stock_daphne_gets_every_notification_with_no_error_frame(daphne, new_page, count):
    """Sent from another process while the page is open (the watch's
    heartbeat makes the client sync) and then on a fresh load: the badge
    counts them all, the newest are listed, the 50 KiB one among them, and
    no frame is refused (a burst in view once used up the frame rate limit
    with a mark_seen per arrival, and the sync after it was lost)."""
    factories.user("alice")
    factories.user("bob")
    server = daphne(application=STOCK)
    page = new_page()
    watch_errors(page)
    browser_login(page, server, "alice")
    connected(page)
    shell(server, SEND_MANY.format(count=count, big=count - 3))
    wait_badge(page, "99+" if count > 99 else str(count), timeout=15_000)
    page.click("[data-notifications-toggle]")
    page.wait_for_function(
        "n => [...document.querySelectorAll('.nf-item-text')].some(e => e.textContent.includes(`wrote ${n}`))",
        arg=count - 1,
        timeout=20_000,
    )
    assert errors_seen(page) == 0

    page.reload()
    connected(page)
    assert page.evaluate("window.notificationsClient.unreadCount") == count
    page.click("[data-notifications-toggle]")
    texts = page.eval_on_selector_all(".nf-item-text", "els => els.map(e => e.textContent)")
    assert any(f"wrote {count - 3}" in text for text in texts)
    assert errors_seen(page) == 0
    assert "PayloadExceeded" not in server.log_text()
    assert unexpected_tracebacks(server.log_text()) == []


def test_200_sent_while_the_page_is_closed_are_right_when_it_opens(daphne, new_page):
    factories.user("alice")
    factories.user("bob")
    server = daphne(application=STOCK)
    page = new_page()
    watch_errors(page)
    browser_login(page, server, "alice")
    connected(page)
    page.goto("about:blank")  # the page is closed: its socket goes
    shell(server, SEND_MANY.format(count=200, big=197))
    page.goto(server.url + "/")
    connected(page)
    wait_badge(page, "99+")
    assert page.evaluate("window.notificationsClient.unreadCount") == 200
    page.click("[data-notifications-toggle]")
    texts = page.eval_on_selector_all(".nf-item-text", "els => els.map(e => e.textContent)")
    assert texts[0] == "bob wrote 199" and any("wrote 197" in text for text in texts)
    assert errors_seen(page) == 0
    assert "PayloadExceeded" not in server.log_text()


def test_a_notification_too_big_for_a_frame_is_fetched_whole(daphne, new_page):
    alice = factories.user("alice")
    bob = factories.user("bob")
    server = daphne(application=STOCK)
    page = new_page()
    watch_errors(page)
    browser_login(page, server, "alice")
    connected(page)
    page.evaluate(
        "window.__got = []; document.addEventListener('notifications:received', e => window.__got.push(e.detail));"
    )
    from notifications.signals import notify

    notify.send(bob, recipient=alice, verb="attached", description="y" * 50_000)
    page.wait_for_function("() => window.__got.length === 1", timeout=10_000)
    got = page.evaluate("window.__got[0]")
    assert got["description"] == "y" * 50_000 and "truncated" not in got
    assert errors_seen(page) == 0


NGINX_WITHOUT_UPGRADE = """
daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {tmp}/client_body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      # A proxy that knows nothing of WebSockets: no Upgrade, no Connection.
      proxy_pass http://127.0.0.1:{upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
    }}
  }}
}}
"""


@pytest.fixture
def behind_a_proxy_without_upgrade(daphne, tmp_path):
    need("nginx", bool(shutil.which("nginx")))
    server = daphne(application=STOCK, NOTIFICATIONS_WATCH_SECONDS="0.5")
    port = free_port()
    (tmp_path / "nginx.conf").write_text(NGINX_WITHOUT_UPGRADE.format(tmp=tmp_path, port=port, upstream=server.port))
    nginx = subprocess.Popen(
        ["nginx", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_listening(port, nginx, tmp_path / "error.log")
    yield Daphne(port=port, proc=nginx, log=tmp_path / "error.log", env=server.env), server
    nginx.terminate()
    nginx.wait(timeout=10)


def test_behind_a_proxy_that_strips_upgrade_the_bell_rings_over_server_sent_events(
    behind_a_proxy_without_upgrade, new_page
):
    front, server = behind_a_proxy_without_upgrade
    factories.user("alice")
    factories.user("bob")
    tabs = [new_page(), new_page()]
    for tab in tabs:
        watch_errors(tab)
    browser_login(tabs[0], front, "alice")
    second = tabs[0].context.new_page()
    second.goto(front.url + "/")
    for tab in (tabs[0], second):
        tab.wait_for_selector("[data-notifications-bell][data-transport=events]", state="attached", timeout=20_000)

    # Another process sends; the stream brings it within seconds.
    shell(server, SEND_MANY.format(count=1, big=-1))
    for tab in (tabs[0], second):
        wait_badge(tab, "1", timeout=5_000)

    # Read in one tab (a POSTed frame); the other tab hears it.
    tabs[0].click("[data-notifications-toggle]")
    tabs[0].click(".nf-item[data-unread=true] .nf-item-action")
    second.wait_for_function("() => window.notificationsClient.unreadCount === 0", timeout=5_000)
    wait_badge(second, "0", timeout=5_000)
    assert errors_seen(tabs[0]) == errors_seen(second) == 0
    Notification = load_notification_model()
    assert not Notification.objects.filter(unread=True).exists()


def test_a_site_without_channel_layers_gets_a_bell_that_polls(daphne, new_page):
    """CHANNEL_LAYERS unset: the socket closes with 4503, the event stream
    answers 503, and the bell asks over HTTP every few seconds."""
    factories.user("alice")
    factories.user("bob")
    server = daphne(application=STOCK, TEST_NO_CHANNEL_LAYERS="1", NOTIFICATIONS_HEARTBEAT_SECONDS="2")
    page = new_page()
    watch_errors(page)
    browser_login(page, server, "alice")
    page.wait_for_selector("[data-notifications-bell][data-transport=poll]", state="attached", timeout=20_000)
    shell(server, SEND_MANY.format(count=1, big=-1))
    wait_badge(page, "1", timeout=10_000)
    assert errors_seen(page) == 0
    assert server.log_text().count("no channel layer is configured") == 1
    assert unexpected_tracebacks(server.log_text()) == []
