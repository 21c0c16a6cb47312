"""Test settings: the demo's settings, with a file-based SQLite test database
so daphne subprocesses can open the same one, and fast password hashing."""

import os

# A key of the test run's own, before the demo's settings read it (without
# one the demo sends no email) and for the server processes it starts.
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key-" + "x" * 40)

from notifications.realtime import redis_channel_layer
from project.settings import *  # noqa: F403
from project.settings import BASE_DIR, DATABASES, REDIS_HOSTS, VAPID

# One id per test run, inherited by the daphne processes it starts, so that
# concurrent runs (a developer's and CI's, nox sessions, pytest-xdist's
# workers) share neither a SQLite file nor channel-layer keys.
RUN_ID = os.environ.setdefault("TEST_RUN_ID", str(os.getpid()))
if os.environ.get("PYTEST_XDIST_WORKER"):
    RUN_ID += "-" + os.environ["PYTEST_XDIST_WORKER"]
# Ends with a dot: channels-redis puts a channel's name right after it, and
# the keys of run 1 must not match run 10's.
CHANNEL_PREFIX = f"test{RUN_ID}."
if REDIS_HOSTS:
    CHANNEL_LAYERS = {
        "default": redis_channel_layer(
            REDIS_HOSTS,
            prefix=CHANNEL_PREFIX,
            # Fault tests shorten channels-redis's group expiry (default a day).
            group_expiry=int(os.environ.get("TEST_GROUP_EXPIRY", "86400")),
        )
    }

# A site that has not configured Channels yet (the bell then polls).
if os.environ.get("TEST_NO_CHANNEL_LAYERS"):
    del CHANNEL_LAYERS

# Fault tests lower daphne's send backlog limit (default 1 MiB).
REALTIME_SEND_BACKLOG_BYTES = int(os.environ.get("TEST_SEND_BACKLOG_BYTES", str(1 << 20)))

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The site shape the suite runs on (tests/shapes): "user" is the demo's
# auth.User; "member" an AbstractUser subclass named accounts.Member; "person"
# an AbstractBaseUser without PermissionsMixin, with email login and UUID
# keys; "swapped" a site's own notification model, notes.Note.
SITE_SHAPE = os.environ.get("SITE_SHAPE", "user")
SHAPES = {
    "user": {},
    "member": {"app": "tests.shapes.accounts", "AUTH_USER_MODEL": "accounts.Member"},
    "person": {"app": "tests.shapes.people", "AUTH_USER_MODEL": "people.Person"},
    "swapped": {"app": "tests.shapes.notes", "NOTIFICATIONS_NOTIFICATION_MODEL": "notes.Note"},
}
if SITE_SHAPE not in SHAPES:
    raise ValueError(f"SITE_SHAPE must be one of {sorted(SHAPES)}, not {SITE_SHAPE!r}.")
if SHAPES[SITE_SHAPE]:
    INSTALLED_APPS = [*INSTALLED_APPS, SHAPES[SITE_SHAPE]["app"]]  # noqa: F405
    globals().update({k: v for k, v in SHAPES[SITE_SHAPE].items() if k != "app"})

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "tests" / "artifacts" / f"test_db_{RUN_ID}.sqlite3")}

DJANGO_NOTIFICATIONS_CONFIG = {
    # As the demo: extra notify.send() keywords kept in data (off by default).
    "USE_JSONFIELD": True,
    "HEARTBEAT_SECONDS": int(os.environ.get("NOTIFICATIONS_HEARTBEAT_SECONDS", "25")),
    "SCHEDULE_SECONDS": int(os.environ.get("NOTIFICATIONS_SCHEDULE_SECONDS", "2")),
    "WATCH_SECONDS": float(os.environ.get("NOTIFICATIONS_WATCH_SECONDS", "1")),
    "MAX_SOCKETS_PER_USER": int(os.environ.get("NOTIFICATIONS_MAX_SOCKETS_PER_USER", "20")),
    "DELIVER_SECONDS": int(os.environ.get("NOTIFICATIONS_DELIVER_SECONDS", "10")),
    "DELIVERY_BATCH_SIZE": int(os.environ.get("NOTIFICATIONS_DELIVERY_BATCH_SIZE", "100")),
    "FALLBACK_DELAY_SECONDS": float(os.environ.get("NOTIFICATIONS_FALLBACK_DELAY_SECONDS", "600")),
    "CHANNELS": [c for c in os.environ.get("NOTIFICATIONS_CHANNELS", "").split(",") if c],
    "SITE_URL": "http://testserver",
    # A test's own push service (tests/pushservice.py) is an origin it lists.
    "WEBPUSH": {
        **VAPID,
        "PUSH_SERVICES": [o for o in os.environ.get("NOTIFICATIONS_PUSH_SERVICES", "").split(",") if o],
    },
}

CHAT_CONFIG = {
    "PRESENCE_REFRESH_SECONDS": float(os.environ.get("CHAT_PRESENCE_REFRESH_SECONDS", "20")),
    "PRESENCE_TIMEOUT_SECONDS": float(os.environ.get("CHAT_PRESENCE_TIMEOUT_SECONDS", "60")),
}
