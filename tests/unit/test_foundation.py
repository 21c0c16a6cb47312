"""The demo site: settings from the environment, SQLite's locking, the secret
key, demo users, pages. (Its socket over Redis and the browser login:
tests/system/test_foundation.py.)"""

import io
import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from tests import factories
from tests.live import ROOT


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """``python -c code`` in the project, with none of this run's site settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_"))}
    base.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60)


def settings_in_subprocess(code: str, **env: str) -> subprocess.CompletedProcess:
    return run_python(f"import project.settings as s; {code}", **env)


def test_defaults_are_sqlite_and_the_in_memory_layer():
    result = settings_in_subprocess(
        "print(s.DATABASES['default']['ENGINE']); print(s.CHANNEL_LAYERS['default']['BACKEND'])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "channels.layers.InMemoryChannelLayer"]


def test_environment_selects_postgres_and_redis_with_a_pool_that_survives_connect_storms():
    result = settings_in_subprocess(
        "h = s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0];"
        "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'],"
        " h['address'], h['socket_timeout'] > 5, h['max_connections'] >= 1000)",
        DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "channels_redis.core.RedisChannelLayer",
        "redis://127.0.0.1:6379/3",
        "True",
        "True",
    ]


SQLITE_READ_THEN_WRITE = """
import threading, time, django
django.setup()
from django.core.management import call_command
from django.db import connections, transaction
from django.contrib.auth import get_user_model
call_command("migrate", verbosity=0)
User = get_user_model()
User.objects.create(username="a")
has_read = threading.Event()

def other():
    has_read.wait()
    User.objects.create(username="b")
    connections.close_all()

thread = threading.Thread(target=other)
thread.start()
with transaction.atomic():
    User.objects.count()
    has_read.set()
    time.sleep(0.5)  # the other thread writes now
    User.objects.create(username="c")
thread.join()
print(User.objects.count())
"""


def test_on_sqlite_a_transaction_that_reads_then_writes_waits_for_the_lock(tmp_path):
    """Another thread commits between this transaction's read and its write.
    A deferred transaction then fails at once with "database is locked"
    (SQLite does not wait when a reader's snapshot is stale); the demo's
    IMMEDIATE transactions take the lock at BEGIN, where SQLite waits."""
    result = run_python(
        SQLITE_READ_THEN_WRITE,
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3"]


def test_a_missing_secret_key_is_an_error_when_debug_is_off():
    result = settings_in_subprocess("pass", DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
    ok = settings_in_subprocess(
        "print(s.DEBUG, s.ALLOWED_HOSTS)",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="example.com, www.example.com",
    )
    assert ok.stdout.strip() == "False ['example.com', 'www.example.com']"


def test_on_its_public_fallback_key_the_demo_sends_no_email():
    """Its unsubscribe links are signed with SECRET_KEY; the fallback is in
    this repository for anyone to read."""
    send = (
        "import django; django.setup(); from django.core.mail import send_mail;"
        "send_mail('s', 'b', None, ['x@example.com'])"
    )
    refused = run_python(send, DJANGO_SETTINGS_MODULE="project.settings", DJANGO_SECRET_KEY="")
    assert refused.returncode != 0 and "set DJANGO_SECRET_KEY" in refused.stderr
    sent = run_python(send, DJANGO_SETTINGS_MODULE="project.settings", DJANGO_SECRET_KEY="y" * 50)
    assert sent.returncode == 0 and "Subject: s" in sent.stdout


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_users_and_rooms_once(settings):
    from chat.models import Room

    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())
    users = get_user_model().objects.order_by("username")
    assert [u.username for u in users] == ["admin", "alice", "bob", "carol"]
    assert all(u.check_password("demo") for u in users)
    assert [u.username for u in users if u.is_superuser] == ["admin"]
    rooms = {room.slug: room for room in Room.objects.all()}
    assert set(rooms) == {"general", "team"}
    assert not rooms["general"].is_private
    assert rooms["team"].is_private
    assert {u.username for u in rooms["team"].members.all()} == {"alice", "bob"}


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()
    call_command("seed_demo", "--force", stdout=io.StringIO())
    assert get_user_model().objects.count() == 4


@pytest.mark.django_db
def test_pages_need_login_and_logout_is_a_post(client):
    assert client.get("/").status_code == 302
    alice = factories.user("alice")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'data-testid="username">alice<' in page
    assert 'action="/accounts/logout/"' in page and 'method="post"' in page
    assert reverse("notifications:all") in page and reverse("chat:rooms") in page
    assert "data-notifications-bell" in page
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302
