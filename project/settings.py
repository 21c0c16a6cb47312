"""Settings for the demo site. Everything comes from the environment.

With nothing set it runs in one process on SQLite and the in-memory channel
layer. Set DATABASE_URL and REDIS_URL (or REDIS_SENTINELS) to run many
daphne processes.
"""

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from notifications.realtime import redis_channel_layer, sentinel_hosts

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
# Without DJANGO_SECRET_KEY (DEBUG only) the demo runs on a public key, and
# then signs nothing it sends: no email, whose unsubscribe links it signs.
FALLBACK_SECRET_KEY = not SECRET_KEY
if FALLBACK_SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-demo-key-only-for-debug"

ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()
]
# Pages of other origins whose forms and sockets the site trusts (Django's
# CSRF check and the WebSocket origin check read the same list).
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "notifications",
    "chat",
    "project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
    )
}
# PostgreSQL connections come from psycopg's pool, with CONN_MAX_AGE 0, as
# Django advises under ASGI (docs/deployment.md has the measurements).
# DJANGO_DB_POOL: "0" turns it off, a JSON object gives the pool's options.
DB_POOL = os.environ.get("DJANGO_DB_POOL", "1").strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL not in ("", "0"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pool refuses persistent connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = json.loads(DB_POOL) if DB_POOL.startswith("{") else True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads (daphne's sync workers) write at once; wait for the lock
    # instead of failing with "database is locked". WAL lets readers (socket
    # snapshots) and a writer (notify.send) proceed together instead of the
    # writer waiting for every reader. IMMEDIATE takes the write lock at BEGIN,
    # where SQLite waits for it: a deferred transaction that has to upgrade
    # fails at once when another has committed meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        transaction_mode="IMMEDIATE",
    )

# REDIS_URL: one Redis URL, or several separated by commas to shard the
# layer. REDIS_SENTINELS (host:port,host:port) finds Redis through Sentinel
# instead, with REDIS_SENTINEL_MASTER naming the master (several names shard).
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS", "")
if REDIS_SENTINELS:
    REDIS_HOSTS = sentinel_hosts(REDIS_SENTINELS, os.environ.get("REDIS_SENTINEL_MASTER", "mymaster"))
else:
    REDIS_HOSTS = [url.strip() for url in REDIS_URL.split(",") if url.strip()]
if REDIS_HOSTS:
    CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_HOSTS)}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "project" / "static"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# daphne's runserver reads these; `make run` passes the same to the CLI.
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = 16 * 1024
DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = 16 * 1024

# Email goes over SMTP when EMAIL_HOST is set, and to the console otherwise.
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
if FALLBACK_SECRET_KEY:
    EMAIL_BACKEND = "project.mail.RefusingEmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "notifications@localhost")

# Web Push needs a VAPID key pair (docs/channels.md says how to make one).
VAPID = {
    "VAPID_PUBLIC_KEY": os.environ.get("VAPID_PUBLIC_KEY", ""),
    "VAPID_PRIVATE_KEY": os.environ.get("VAPID_PRIVATE_KEY", ""),
    "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT", "mailto:admin@localhost"),
}

DJANGO_NOTIFICATIONS_CONFIG = {
    "USE_JSONFIELD": True,
    # Email (and Web Push, once it has keys) when a notification is still
    # unread ten minutes later and its recipient had no tab open.
    # NOTIFICATIONS_CHANNELS="" turns them off (the inbox alone).
    "CHANNELS": [
        name
        for name in os.environ.get(
            "NOTIFICATIONS_CHANNELS", "email,webpush" if VAPID["VAPID_PRIVATE_KEY"] else "email"
        ).split(",")
        if name
    ],
    "CATEGORIES": {
        "mentions": {"label": "Mentions in chat", "verbs": ["mentioned you in"]},
        "tasks": {"label": "Tasks", "verbs": ["assigned you", "completed"]},
    },
    "SITE_URL": os.environ.get("SITE_URL", "http://127.0.0.1:8000"),
    "WEBPUSH": VAPID,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "notifications": {"level": os.environ.get("NOTIFICATIONS_LOG_LEVEL", "INFO")},
        "chat": {"level": os.environ.get("NOTIFICATIONS_LOG_LEVEL", "INFO")},
    },
}
