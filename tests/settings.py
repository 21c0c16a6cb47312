"""Test settings: the demo's settings, with a file-based SQLite test database
so daphne subprocesses can open the same one, and fast password hashing."""

import os

from project.settings import *  # noqa: F403
from project.settings import BASE_DIR, DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "tests" / "artifacts" / "test_db.sqlite3")}

DJANGO_NOTIFICATIONS_CONFIG = {
    "HEARTBEAT_SECONDS": int(os.environ.get("NOTIFICATIONS_HEARTBEAT_SECONDS", "25")),
    "SCHEDULE_SECONDS": int(os.environ.get("NOTIFICATIONS_SCHEDULE_SECONDS", "2")),
}
