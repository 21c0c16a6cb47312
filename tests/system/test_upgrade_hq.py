"""An upgrade from a database that the real django-notifications-hq 1.8.3 made.

hq 1.8.3 is installed from PyPI into a virtualenv with Django 5.0 (the last
Django it imports on); a minimal site migrates there and writes notifications
with hq's own `notify.send`: extra keyword arguments stored in `data`, a
target, an action object, a Group recipient, rows marked read, one
soft-deleted. Then the same site, settings unchanged, runs in a second
virtualenv with the wheel built from this checkout (and the Django it
brings): `migrate` continues from hq's 0009, every row reads back the same
(ids, verbs, read and deleted flags, objects, timestamps, `data`), every
user's `unread()` count is unchanged, `data` answers JSON lookups, and
`notify.send` adds a row. It runs on SQLite and on PostgreSQL, where hq's
`jsonfield` left `data` a text column that must become jsonb."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
import venv
from pathlib import Path
from typing import Any

import pytest

from tests.live import ROOT, build_wheel

pytestmark = pytest.mark.packaging

# hq 1.8.3 imports distutils, which Python 3.12+ only has through setuptools.
HQ_REQUIREMENTS = ("Django>=5.0,<5.1", "django-notifications-hq==1.8.3", "psycopg[binary]", "setuptools")

# One settings file for both packages: this package keeps the `notifications`
# app label and migrates without `channels` in INSTALLED_APPS, so the site
# changes nothing but the installed package.
SETTINGS = """
SECRET_KEY = "upgrade-from-hq"
USE_TZ = True
ROOT_URLCONF = "hqsite.urls"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "notifications",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
# SOFT_DELETE: hq's unread() then leaves out deleted rows, so the counts
# also check that both packages read the `deleted` flag the same way.
DJANGO_NOTIFICATIONS_CONFIG = {"USE_JSONFIELD": True, "SOFT_DELETE": True}
DATABASES = {"default": %r}
"""

# Imported by both scripts below, in either virtualenv: what the installed
# package reports about the database, through its own model and queryset.
SNAPSHOT = """
import importlib.metadata
import json

import django

django.setup()

from django.contrib.auth.models import User
from django.db import connection

import notifications
from notifications.models import Notification


def data_column():
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'data'",
                [table],
            )
            return cursor.fetchone()[0].lower()
        cursor.execute(f"PRAGMA table_info({table})")
        return next(row[2] for row in cursor.fetchall() if row[1] == "data").lower()


def raw_data():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, data FROM {Notification._meta.db_table} ORDER BY id")
        return {str(pk): value if value is None or isinstance(value, str) else repr(value) for pk, value in cursor}


def generic(content_type, object_id):
    return None if content_type is None else [content_type.app_label, content_type.model, object_id]


def snapshot():
    rows = [
        {
            "id": n.id,
            "slug": n.slug,
            "recipient": n.recipient.username,
            "actor": generic(n.actor_content_type, n.actor_object_id),
            "target": generic(n.target_content_type, n.target_object_id),
            "action_object": generic(n.action_object_content_type, n.action_object_object_id),
            "verb": n.verb,
            "description": n.description,
            "level": n.level,
            "unread": n.unread,
            "deleted": n.deleted,
            "public": n.public,
            "emailed": n.emailed,
            "timestamp": n.timestamp.isoformat(),
            "data": n.data,
        }
        for n in Notification.objects.order_by("id")
    ]
    return {
        "rows": rows,
        "unread": {u.username: u.notifications.unread().count() for u in User.objects.order_by("username")},
        "data_column": data_column(),
        "raw_data": raw_data(),
    }


def installed():
    return {
        "django": django.get_version(),
        "notifications": importlib.metadata.packages_distributions()["notifications"],
        "path": notifications.__file__,
    }
"""

WRITE_WITH_HQ = """
from snapshot import *

from django.contrib.auth.models import Group
from notifications.signals import notify

alice, bob, carol = (User.objects.create_user(name, password="pw") for name in ("alice", "bob", "carol"))
reviewers = Group.objects.create(name="reviewers")
reviewers.user_set.add(alice, carol)

notify.send(bob, recipient=alice, verb="commented on", pr=42, url="/x")
notify.send(bob, recipient=alice, verb="approved", target=reviewers, description="LGTM")
notify.send(
    carol, recipient=reviewers, verb="mentioned", action_object=bob, nested={"n": [1, 2.5, None, True], "s": "naïve ✓"}
)
notify.send(alice, recipient=[bob, carol], verb="followed", level="success")
notify.send(bob, recipient=carol, verb="merged", public=False, url="/pr/7/", pr=7)

Notification.objects.get(recipient=alice, verb="approved").mark_as_read()
Notification.objects.get(recipient=bob, verb="followed").mark_as_read()
# hq has no instance method for it; the queryset one is hq's soft delete.
Notification.objects.filter(recipient=carol, verb="merged").mark_all_as_deleted()

print(json.dumps({"installed": installed(), **snapshot()}))
"""

READ_AND_SEND_LIVE = """
from snapshot import *

from notifications.signals import notify

before = snapshot()
lookup = list(Notification.objects.filter(data__pr=42).values_list("id", flat=True))
notify.send(User.objects.get(username="bob"), recipient=User.objects.get(username="alice"), verb="reviewed", pr=43)
print(json.dumps({"installed": installed(), "before": before, "data__pr=42": lookup, "after": snapshot()}))
"""


def run(*args: str, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def clean_env() -> dict[str, str]:
    """The environment without this suite's settings, so each site runs on its own."""
    drop = {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "DATABASE_URL", "REDIS_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def virtualenvs(tmp_path_factory: Any) -> dict[str, Path]:
    """The bin directories of two virtualenvs: "hq" with django-notifications-hq
    1.8.3 on Django 5.0, "live" with the wheel built from this checkout."""
    home = tmp_path_factory.mktemp("upgrade_hq")
    env = clean_env()
    bins = {}
    venv.create(home / "hq", with_pip=True)
    bins["hq"] = home / "hq" / "bin"
    run(str(bins["hq"] / "pip"), "install", "-q", *HQ_REQUIREMENTS, cwd=home, env=env)

    wheel = build_wheel(ROOT, home / "wheels")
    venv.create(home / "live", with_pip=True)
    bins["live"] = home / "live" / "bin"
    run(str(bins["live"] / "pip"), "install", "-q", str(wheel), "psycopg[binary]", cwd=home, env=env)
    return bins


def make_site(home: Path, database: dict[str, Any]) -> Path:
    site = home / "site"
    (site / "hqsite").mkdir(parents=True)
    (site / "hqsite" / "__init__.py").write_text("")
    (site / "hqsite" / "urls.py").write_text("urlpatterns = []\n")
    (site / "hqsite" / "settings.py").write_text(SETTINGS % database)
    (site / "manage.py").write_text(
        "import sys\nfrom django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    (site / "snapshot.py").write_text(SNAPSHOT)
    (site / "write_with_hq.py").write_text(WRITE_WITH_HQ)
    (site / "read_and_send_live.py").write_text(READ_AND_SEND_LIVE)
    return site


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_real_hq_database_upgrades_in_place(backend, virtualenvs, tmp_path, request):
    if backend == "postgresql":
        url = urllib.parse.urlsplit(request.getfixturevalue("postgres_database"))
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path[1:],
            "USER": url.username,
            "PASSWORD": url.password or "",
            "HOST": url.hostname,
            "PORT": url.port or 5432,
        }
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    site = make_site(tmp_path, database)
    env = {**clean_env(), "DJANGO_SETTINGS_MODULE": "hqsite.settings"}
    hq_python, live_python = str(virtualenvs["hq"] / "python"), str(virtualenvs["live"] / "python")

    # The database as hq 1.8.3 makes and fills it.
    hq_migrated = run(hq_python, "manage.py", "migrate", "--noinput", cwd=site, env=env)
    assert "Applying notifications.0009_alter_notification_options_and_more... OK" in hq_migrated
    hq = json.loads(run(hq_python, "write_with_hq.py", cwd=site, env=env))
    assert hq["installed"]["notifications"] == ["django-notifications-hq"]
    assert hq["installed"]["django"].startswith("5.0.")
    assert str(virtualenvs["hq"].parent) in hq["installed"]["path"]
    assert hq["data_column"] == "text"  # jsonfield's column, on both databases
    # The scenario covers what an upgrade must keep: read, unread and deleted
    # rows, data, targets and action objects.
    assert hq["unread"] == {"alice": 2, "bob": 0, "carol": 2}
    assert [row["verb"] for row in hq["rows"] if not row["unread"]] == ["approved", "followed"]
    assert [row["verb"] for row in hq["rows"] if row["deleted"]] == ["merged"]
    assert sum(row["data"] is not None for row in hq["rows"]) == 4
    assert any(row["target"] for row in hq["rows"]) and any(row["action_object"] for row in hq["rows"])
    assert json.loads(hq["raw_data"][str(hq["rows"][0]["id"])]) == {"pr": 42, "url": "/x"}

    # The same site on this package: the migration history continues at 0010.
    live_migrated = run(live_python, "manage.py", "migrate", "--noinput", cwd=site, env=env)
    applied = re.findall(r"Applying notifications\.(\d{4})_", live_migrated)
    assert applied and applied[0] == "0010", live_migrated
    assert applied == sorted(applied) and all(number > "0009" for number in applied)
    live = json.loads(run(live_python, "read_and_send_live.py", cwd=site, env=env))
    assert live["installed"]["notifications"] == ["django-notifications-live"]
    assert tuple(map(int, live["installed"]["django"].split(".")[:2])) >= (5, 2)
    assert str(virtualenvs["live"].parent) in live["installed"]["path"]

    before = live["before"]
    project = ("id", "recipient", "verb", "unread", "deleted", "data")
    assert [[row[key] for key in project] for row in before["rows"]] == [
        [row[key] for key in project] for row in hq["rows"]
    ]
    assert before["unread"] == hq["unread"]
    assert before["rows"] == hq["rows"]  # every other field too
    assert before["data_column"] == {"sqlite": "text", "postgresql": "jsonb"}[backend]
    commented = next(row["id"] for row in hq["rows"] if row["verb"] == "commented on")
    assert live["data__pr=42"] == [commented]

    # Writable with this package's notify.send.
    after = live["after"]
    assert after["rows"][: len(before["rows"])] == before["rows"]
    [new] = after["rows"][len(before["rows"]) :]
    assert new["id"] > max(row["id"] for row in before["rows"])
    assert (new["recipient"], new["verb"], new["unread"], new["data"]) == ("alice", "reviewed", True, {"pr": 43})
    assert after["unread"] == {**before["unread"], "alice": before["unread"]["alice"] + 1}
