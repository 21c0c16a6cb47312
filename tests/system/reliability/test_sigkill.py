"""A daphne process killed with SIGKILL under load, behind nginx: its
browsers reconnect to the other process with jitter, not all in the same
second; they lose nothing; and its chat presence entries expire."""

import shutil
import signal
import subprocess
import threading
import time

import pytest
from django.db import connections

from chat.models import Presence, Room
from chat.selectors import online_users
from notifications.models import Notification
from notifications.signals import notify
from tests import factories
from tests.conftest import browser_login, need
from tests.live import eventually_sync, free_port, wait_listening

pytestmark = [pytest.mark.browser, pytest.mark.daphne, pytest.mark.redis]

PAGES = 12
ENV = {
    "NOTIFICATIONS_HEARTBEAT_SECONDS": "1",
    "CHAT_PRESENCE_REFRESH_SECONDS": "0.5",
    "CHAT_PRESENCE_TIMEOUT_SECONDS": "3",
}

# Records what the page's clients see, from before they connect.
RECORDER = """
window.seen = []; window.connects = [];
document.addEventListener("notifications:received", (e) => window.seen.push(e.detail.id));
document.addEventListener("notifications:status", (e) => {
  if (e.detail.connected) window.connects.push(Date.now());
});
"""


def balancer(tmp_path, upstreams):
    """nginx in front of the daphnes: everything goes to the first until it
    fails, then to the second (a backup server), so every page starts on the
    process the test kills."""
    need("nginx", bool(shutil.which("nginx")))
    port = free_port()
    first, second = upstreams
    servers = f"server 127.0.0.1:{first.port} max_fails=1 fail_timeout=30s; server 127.0.0.1:{second.port} backup;"
    temp = " ".join(
        f"{name}_temp_path {tmp_path}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; {temp}\n"
        f"upstream app {{ {servers} }}\n"
        f"server {{ listen 127.0.0.1:{port};\n"
        "  location / { proxy_pass http://app; proxy_http_version 1.1;\n"
        '    proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";\n'
        "    proxy_set_header Host $http_host; proxy_read_timeout 1h;\n"
        "    proxy_next_upstream error timeout; proxy_connect_timeout 1s; }\n"
        "}\n}\n"
    )
    process = subprocess.Popen(
        ["nginx", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_listening(port, process, tmp_path / "error.log")
    return port, process


def test_a_killed_daphne_loses_nothing_and_its_clients_spread_their_reconnects(daphne, new_page, redis_layer, tmp_path):
    actor = factories.user("actor")
    users = [factories.user(f"user{i:02}") for i in range(PAGES)]
    factories.room("general")
    first, second = daphne(redis_url=redis_layer, **ENV), daphne(redis_url=redis_layer, **ENV)
    port, nginx = balancer(tmp_path, [first, second])
    front = type(first)(port=port, proc=nginx, log=tmp_path / "error.log", env=first.env)
    try:
        pages = []
        for user in users:
            page = new_page()
            page.add_init_script(RECORDER)
            browser_login(page, front, user.username)
            page.goto(front.url + "/chat/general/")
            page.wait_for_selector("[data-notifications-bell][data-connected=true]", state="attached")
            pages.append(page)

        # Steady load: a notification to every user every 100 ms, from this process.
        stop = threading.Event()
        sent = [0]

        def load():
            try:
                while not stop.is_set():
                    notify.send(actor, recipient=users, verb="load")
                    sent[0] += 1
                    time.sleep(0.1)
            finally:
                connections.close_all()

        def reconnected():
            return all(any(at > killed_at for at in page.evaluate("window.connects")) for page in pages)

        loader = threading.Thread(target=load)
        loader.start()
        eventually_sync(lambda: all(page.evaluate("window.seen.length") for page in pages), 10, "a push on each page")
        killed_at = time.time() * 1000
        first.stop(signal.SIGKILL)
        # The load goes on while every page reconnects, and for ten rounds more.
        eventually_sync(reconnected, 10, "every page reconnected", interval=0.2)
        after = sent[0]
        eventually_sync(lambda: sent[0] >= after + 10, 10, "ten rounds after the reconnects")
        stop.set()
        loader.join()

        expected = {
            user.username: set(Notification.objects.filter(recipient=user).values_list("id", flat=True))
            for user in users
        }
        rounds = {len(ids) for ids in expected.values()}
        assert min(rounds) >= 11, rounds
        deadline = time.monotonic() + 10
        for page, user in zip(pages, users, strict=True):
            while set(page.evaluate("window.seen")) != expected[user.username]:
                assert time.monotonic() < deadline, (user.username, len(expected[user.username]))
                page.wait_for_timeout(200)

        reconnects = sorted(
            (at - killed_at) / 1000 for page in pages for at in page.evaluate("window.connects") if at > killed_at
        )
        assert len(reconnects) == PAGES, reconnects  # every page was on the killed process
        spread = reconnects[-1] - reconnects[0]
        print(f"{len(reconnects)} reconnects, {reconnects[0]:.2f}-{reconnects[-1]:.2f} s after the kill")
        assert spread >= 0.5, reconnects
        assert reconnects[-1] < 5
        assert "Traceback" not in second.log_text()

        # The killed process's chat presence entries expire: one entry per
        # open room page is left, and everyone is online through the survivor.
        eventually_sync(lambda: Presence.objects.count() == PAGES, 10, "the killed process's presence expired")

        online = {u["username"] for u in online_users(room=Room.objects.get(slug="general"))}
        assert online == {user.username for user in users}
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
