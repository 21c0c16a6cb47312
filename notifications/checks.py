"""System checks for a deployment that would silently lose live delivery."""

from __future__ import annotations

from typing import Any

import redis
from channels.routing import URLRouter
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import Error, Info, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string
from redis.connection import parse_url

from notifications.conf import SETTING, conf
from notifications.outbound import registry
from notifications.outbound.constants import ChannelName, Rule
from notifications.realtime.appconf import DOCS_URL, socket_limit_errors, unknown_key_errors
from notifications.realtime.config import CHANNELS_REDIS_POP_TIMEOUT
from notifications.users import groups_field

SETTINGS_DOCS = f"{DOCS_URL}settings.md"
QUICKSTART_DOCS = f"{DOCS_URL}quickstart.md"
DEPLOYMENT_DOCS = f"{DOCS_URL}deployment.md"
DAPHNE_DOCS = f"{DOCS_URL}daphne.md"


@register()
def check_settings_keys(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A key this app does not know is a typo or a setting of another app:
    either way, the setting the site meant is not in effect."""
    return unknown_key_errors(conf, check_id="notifications.E030", docs=SETTINGS_DOCS)


@register()
def check_socket_limits(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return socket_limit_errors(conf, check_id="notifications.E033", docs=SETTINGS_DOCS)


@register(Tags.compatibility)
def check_channel_layers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not layers:
        return [
            Warning(
                "CHANNEL_LAYERS is not set: notifications are stored and served, but not pushed live; the bell "
                "polls /notifications/api/frames/ instead (every 15 s, or HEARTBEAT_SECONDS if shorter).",
                hint=f"Set CHANNEL_LAYERS ({QUICKSTART_DOCS}, step 2) for pushes within a second.",
                id="notifications.W001",
            )
        ]
    default = layers.get("default")
    if not isinstance(default, dict) or "BACKEND" not in default:
        return [
            Error(
                "CHANNEL_LAYERS has no usable 'default' entry with a BACKEND.",
                hint="Use notifications.realtime.redis_channel_layer(REDIS_URL) or the in-memory layer "
                f"({SETTINGS_DOCS}).",
                id="notifications.E002",
            )
        ]
    try:
        import_string(default["BACKEND"])
    except ImportError as exc:
        return [
            Error(
                f"CHANNEL_LAYERS['default']['BACKEND'] cannot be imported: {exc}",
                hint=(
                    "Install channels-redis, or fix the dotted path"
                    if "redis" in default["BACKEND"].lower()
                    else "Fix the dotted path: the in-memory layer is channels.layers.InMemoryChannelLayer"
                )
                + f" ({SETTINGS_DOCS}).",
                id="notifications.E002",
            )
        ]
    errors: list[Any] = []
    if default["BACKEND"].endswith("InMemoryChannelLayer") and not settings.DEBUG:
        errors.append(
            Warning(
                "The in-memory channel layer is in use with DEBUG off: it reaches only the sockets of the process "
                "that sends. Server processes pick up what other processes store about a second late, and reads "
                "and chat messages do not cross processes at all.",
                hint="In production, use Redis: CHANNEL_LAYERS = {'default': redis_channel_layer(REDIS_URL)} "
                f"({DEPLOYMENT_DOCS}).",
                id="notifications.W012",
            )
        )
    if "redis" in default["BACKEND"].lower():
        errors.extend(_check_redis_addresses(default))
    if default["BACKEND"] == "channels_redis.core.RedisChannelLayer":
        errors.extend(_check_redis_timeouts(default))
    return errors


def _check_redis_addresses(layer: dict[str, Any]) -> list[Any]:
    """A host given as a URL must be one redis-py can parse: otherwise every
    socket's first read fails and closes it with 1011, and no check said so."""
    for host in (layer.get("CONFIG") or {}).get("hosts", []):
        address = host.get("address") if isinstance(host, dict) else host
        if not isinstance(address, str):
            continue  # (host, port) or a dict of connection keywords
        try:
            parse_url(address)
        except ValueError as exc:
            return [
                Error(
                    f"CHANNEL_LAYERS['default'] has a Redis host that is not a Redis URL ({address!r}): {exc}",
                    hint=f"Write it as redis://host:port/db, rediss:// for TLS or unix:// ({SETTINGS_DOCS}).",
                    id="notifications.E031",
                )
            ]
    return []


def _check_redis_timeouts(layer: dict[str, Any]) -> list[Any]:
    if int(redis.__version__.split(".")[0]) < 8:
        return []
    for host in layer.get("CONFIG", {}).get("hosts", []):
        timeout = host.get("socket_timeout") if isinstance(host, dict) else None
        if timeout is not None and timeout > CHANNELS_REDIS_POP_TIMEOUT:
            continue
        return [
            Error(
                "With redis-py 8, this RedisChannelLayer host closes every idle socket after 5 s.",
                hint="Set 'socket_timeout' above 5 in each hosts dict, or build the entry with "
                f"notifications.realtime.redis_channel_layer(url) ({SETTINGS_DOCS}).",
                id="notifications.E004",
            )
        ]
    return []


@register(Tags.security, deploy=False)
def check_origin_validation(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    if not settings.DEBUG and "*" in settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "ALLOWED_HOSTS contains '*' while DEBUG is off, so any web page may open a "
                "logged-in user's socket (AllowedHostsOriginValidator accepts every origin).",
                hint=f"List your host names in ALLOWED_HOSTS ({DEPLOYMENT_DOCS}).",
                id="notifications.E005",
            )
        )
    application = _asgi_application()
    if application is None:
        return errors
    # Loaded when checked: it loads Channels' WebSocket consumer, a server
    # module that processes which never serve keep out (tests/unit/test_layering.py).
    from channels.security.websocket import OriginValidator

    websocket = getattr(application, "application_mapping", {}).get("websocket")
    if websocket is not None and not any(isinstance(layer, OriginValidator) for layer in _stack(websocket)):
        errors.append(
            Warning(
                "The websocket route of ASGI_APPLICATION is not wrapped in an origin validator.",
                hint="Build the application with notifications.asgi.get_asgi_application(), or wrap the route in "
                f"AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...))) ({QUICKSTART_DOCS}).",
                id="notifications.W006",
            )
        )
    return errors


def _asgi_application() -> Any:
    """The imported ASGI_APPLICATION, or None when it is not set or cannot
    be imported (notifications.E032 reports that)."""
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return None
    try:
        application = import_string(path)
    except Exception:
        return None
    # Through wrappers of the whole application (FreezeLongLived) to the router.
    for layer in _stack(application):
        if hasattr(layer, "application_mapping"):
            return layer
    return application


def _stack(application: Any) -> list[Any]:
    """The chain of ASGI wrappers from ``application`` inwards, as far as it
    can be followed: middleware keep the next one in ``application`` (origin
    validators, static files) or ``inner`` (Channels' auth stack)."""
    chain = []
    while application is not None and len(chain) < 32:
        chain.append(application)
        application = getattr(application, "application", None) or getattr(application, "inner", None)
    return chain


def _notification_routes(application: Any) -> list[str] | None:
    """The WebSocket paths that reach NotificationConsumer, or None when the
    application cannot be followed that far (a plain function, say)."""
    # Loaded when checked: processes that never serve keep the server
    # modules out (tests/unit/test_layering.py).
    from notifications.consumers import NotificationConsumer

    mapping = getattr(application, "application_mapping", None)
    if mapping is None:
        # Not a ProtocolTypeRouter: Django's own ASGI handler serves HTTP only.
        return [] if type(application).__name__ == "ASGIHandler" else None
    websocket = mapping.get("websocket")
    if websocket is None:
        return []
    router = _stack(websocket)[-1]
    if not isinstance(router, URLRouter):
        return None

    def walk(routes: list[Any], prefix: str) -> list[str]:
        found = []
        for route in routes:
            callback = route.callback
            here = prefix + str(route.pattern)
            consumer = getattr(callback, "consumer_class", None)
            if isinstance(consumer, type) and issubclass(consumer, NotificationConsumer):
                found.append("/" + here.lstrip("^").lstrip("/"))
            elif isinstance(callback, URLRouter):
                found.extend(walk(callback.routes, here))
        return found

    return walk(router.routes, "")


@register(Tags.compatibility)
def check_websocket_route(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A site that configured a channel layer wants pushes; the ASGI
    application must route a WebSocket to the consumer for them to arrive."""
    if not getattr(settings, "CHANNEL_LAYERS", None):
        return []
    path = getattr(settings, "ASGI_APPLICATION", None)
    if path:
        try:
            import_string(path)
        except Exception as exc:
            return [
                Error(
                    f"ASGI_APPLICATION ({path}) cannot be imported: {type(exc).__name__}: {exc}",
                    hint="Point it at the application in your asgi.py, e.g. 'mysite.asgi.application' "
                    f"({QUICKSTART_DOCS}).",
                    id="notifications.E032",
                )
            ]
    application = _asgi_application()
    routes = _notification_routes(application) if application is not None else []
    if routes != []:
        return []
    where = (
        "ASGI_APPLICATION is not set"
        if not getattr(settings, "ASGI_APPLICATION", None)
        else (f"ASGI_APPLICATION ({settings.ASGI_APPLICATION}) serves no /ws/notifications/ route")
    )
    return [
        Warning(
            f"{where}, so no WebSocket reaches the notifications consumer: the bell carries on over "
            "Server-Sent Events (/notifications/api/events/), one long request per open tab, or under WSGI "
            "polls /notifications/api/frames/.",
            hint="In asgi.py: application = notifications.asgi.get_asgi_application(), and "
            f"ASGI_APPLICATION = 'mysite.asgi.application' ({QUICKSTART_DOCS}).",
            id="notifications.W010",
        )
    ]


@register(Tags.compatibility)
def check_runserver_serves_websockets(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Channels 4 serves WebSockets under ``runserver`` only through
    daphne's app, listed before staticfiles (whose runserver would win)."""
    if not settings.DEBUG or not getattr(settings, "CHANNEL_LAYERS", None):
        return []
    apps = list(settings.INSTALLED_APPS)
    staticfiles = "django.contrib.staticfiles"
    if "daphne" in apps and (staticfiles not in apps or apps.index("daphne") < apps.index(staticfiles)):
        return []
    problem = "is not in INSTALLED_APPS" if "daphne" not in apps else "comes after django.contrib.staticfiles"
    return [
        Warning(
            f"'daphne' {problem}, so `manage.py runserver` serves no WebSocket: /ws/notifications/ answers 404.",
            hint="Put 'daphne' first in INSTALLED_APPS (pip install daphne), or serve the site with the daphne "
            f"command ({QUICKSTART_DOCS}).",
            id="notifications.W011",
        )
    ]


@register(Tags.urls)
def check_urls_included(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The bell, the inbox and the fallback transport reverse URLs of the
    ``notifications`` namespace; without the include, every page that shows
    the bell fails with NoReverseMatch. A warning, not an error: a site that
    only sends (django-notifications never needed its URLs) keeps working."""
    try:
        reverse("notifications:all")
    except NoReverseMatch:
        return [
            Warning(
                "The notifications URLs are not included under the 'notifications' namespace: a page with the "
                "bell fails with NoReverseMatch, and the inbox and JSON endpoints are missing.",
                hint="In urls.py: path('notifications/', include('notifications.urls', namespace='notifications')) "
                f"({QUICKSTART_DOCS}, step 3).",
                id="notifications.W017",
            )
        ]
    return []


@register(Tags.compatibility)
def check_static_files_served(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """With DEBUG off, nothing in the ASGI application serves static files:
    the bell's script and style then 404 unless something else does."""
    if settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return []
    middleware = " ".join(getattr(settings, "MIDDLEWARE", []))
    if getattr(settings, "STATIC_ROOT", None) or "whitenoise" in middleware.lower():
        return []
    return [
        Warning(
            "DEBUG is off and STATIC_ROOT is not set: no one serves /static/notifications/, so the bell's "
            "script and style answer 404 and the bell stays dead.",
            hint="Set STATIC_ROOT, run collectstatic and serve it (nginx, or WhiteNoise's middleware) "
            f"({DEPLOYMENT_DOCS}).",
            id="notifications.W018",
        )
    ]


@register(Tags.compatibility)
def check_sqlite_writers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """SQLite as startproject configures it fails concurrent writers (a
    socket's mark_read while a shell sends) with "database is locked"."""
    found = []
    for alias, database in settings.DATABASES.items():
        if database.get("ENGINE") != "django.db.backends.sqlite3":
            continue
        options = database.get("OPTIONS") or {}
        missing = []
        if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
            missing.append("'transaction_mode': 'IMMEDIATE'")
        if not isinstance(options.get("timeout"), int | float) or options["timeout"] < 10:
            missing.append("'timeout': 20")
        if "journal_mode=wal" not in str(options.get("init_command", "")).lower().replace(" ", ""):
            missing.append("'init_command': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;'")
        if missing:
            found.append(
                Warning(
                    f"DATABASES[{alias!r}] is SQLite without what concurrent writers need: a socket's mark_read "
                    "while another process sends can fail with 'database is locked'.",
                    hint=f"Add to its OPTIONS: {', '.join(missing)} ({QUICKSTART_DOCS}, step 2).",
                    id="notifications.W016",
                )
            )
    return found


# With --deploy only: on every manage.py command it would be noise.
@register(Tags.compatibility, deploy=True)
def check_user_model_groups(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A user model without ``PermissionsMixin`` has no auth groups, so an
    announcement to groups can reach none of its users."""
    if groups_field() is not None:
        return []
    return [
        Info(
            f"{get_user_model()._meta.label} has no 'groups' (no PermissionsMixin): announcements go to everyone "
            "or to staff, never to groups, and notify.send() takes no Group as recipient.",
            hint=f"Nothing to do unless you want group audiences ({DOCS_URL}announcements.md). "
            "Silence this with SILENCED_SYSTEM_CHECKS = ['notifications.I015'].",
            id="notifications.I015",
        )
    ]


@register(Tags.compatibility)
def check_daphne_compat(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A daphne_compat part the site turned on whose upstream internals
    changed shape is skipped; say which."""
    from notifications.realtime import daphne_compat  # a server module: loaded when checked

    _asgi_application()  # the site turns parts on in its ASGI module
    return [
        Warning(
            f"daphne_compat part {name!r} was asked for but is off: {reason}.",
            hint=f"Upgrade django-notifications-live, or stop asking for the part ({DAPHNE_DOCS}).",
            id="notifications.W014",
        )
        for name, reason in daphne_compat.skipped().items()
    ]


@register(deploy=True)
def report_daphne_compat(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from notifications.realtime import daphne_compat  # a server module: loaded when checked

    _asgi_application()
    on = daphne_compat.enabled()
    if not on:
        return []
    return [
        Info(
            f"daphne_compat parts on: {', '.join(on)}.",
            hint=f"What each part changes and why: {DAPHNE_DOCS}",
            id="notifications.I013",
        )
    ]


# Django's and GeoDjango's: both take psycopg's pool.
POSTGRESQL_ENGINES = ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis")


# Not Tags.database: Django 6 runs those only for `check --database`, and this
# reads settings, not a database.
@register(deploy=True)
def check_persistent_connections(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """PostgreSQL under ASGI, as Django advises it: no persistent connections,
    connections from psycopg's pool. Every socket's connect and every
    heartbeat round runs in ``database_sync_to_async``, which closes the
    connection after each call: without a pool that is a new connection
    each time (PostgreSQL then spends several times daphne's CPU on them);
    a pool with CONN_MAX_AGE above 0 fails at the first query."""
    found = []
    for alias, database in settings.DATABASES.items():
        if database.get("ENGINE") not in POSTGRESQL_ENGINES:
            continue
        pooled = bool((database.get("OPTIONS") or {}).get("pool"))
        persistent = bool(database.get("CONN_MAX_AGE", 0))
        if pooled and persistent:
            problem = "has a pool and CONN_MAX_AGE above 0, which Django refuses at the first query"
        elif persistent:
            problem = "keeps persistent connections (CONN_MAX_AGE), which Django advises against under ASGI"
        elif not pooled:
            problem = "opens a new connection for each WebSocket connect and each heartbeat round"
        else:
            continue
        found.append(
            Warning(
                f"DATABASES[{alias!r}] {problem}.",
                hint="Use psycopg's pool: 'CONN_MAX_AGE': 0 and 'OPTIONS': {'pool': True} "
                f"(pip install 'psycopg[pool]'; {DEPLOYMENT_DOCS}).",
                id="notifications.W007",
            )
        )
    return found


DOCS_CHANNELS = f"{DOCS_URL}channels.md"

# The delivery keys and the type each must have, as the docs give them.
DELIVERY_SETTING_TYPES = {
    "CHANNELS": ((list, tuple), "a list of channel names"),
    "CHANNEL_CLASSES": (dict, "a dict of channel name to dotted path"),
    "CATEGORIES": (dict, "a dict of category name to its label and verbs"),
    "DELIVERY_RULES": (dict, "a dict of category (or '*') to {channel: rule}"),
    "VERB_RULES": (dict, "a dict of verb to {channel: rule}"),
}


def delivery_setting_type_errors() -> list[Any] | None:
    """Errors for delivery keys of the wrong type (notifications.E026), an
    empty list when the whole setting is not a dict (E030 reports it), or
    None when the delivery checks can read the values."""
    raw = getattr(settings, SETTING, {})
    if not isinstance(raw, dict):
        return []
    errors = []
    for key, (kind, meaning) in DELIVERY_SETTING_TYPES.items():
        value = raw.get(key)
        wrong = value is not None and not isinstance(value, kind)
        if not wrong and key == "CHANNELS" and value is not None:
            wrong = not all(isinstance(name, str) for name in value)
        if wrong:
            errors.append(
                Error(
                    f"{SETTING}['{key}'] must be {meaning}, not {value!r}.",
                    hint=DOCS_CHANNELS,
                    id="notifications.E026",
                )
            )
    return errors or None


@register(Tags.compatibility)
def check_delivery_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Channels, categories and rules of DJANGO_NOTIFICATIONS_CONFIG that
    would make sends fail or silently go nowhere."""
    type_errors = delivery_setting_type_errors()
    if type_errors is not None:
        return type_errors
    errors: list[Any] = []
    try:
        conf.delivery_limits  # noqa: B018  (validated as it is read)
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), hint=f"See DELIVERY_LIMITS ({DOCS_CHANNELS}).", id="notifications.E027"))
    known = registry.known_channels()
    hint = f"Known channels: {', '.join(known)}; add your own in CHANNEL_CLASSES ({DOCS_CHANNELS})."
    for name in conf.channels:
        if name not in known:
            errors.append(
                Error(f"{SETTING}['CHANNELS'] names an unknown channel {name!r}.", hint=hint, id="notifications.E020")
            )
    categories = conf.categories
    for name, spec in categories.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("verbs", []), list | tuple):
            errors.append(
                Error(
                    f"{SETTING}['CATEGORIES'][{name!r}] must be a dict like "
                    "{'label': 'Mentions', 'verbs': ['mentioned you']}.",
                    hint=DOCS_CHANNELS,
                    id="notifications.E021",
                )
            )
    known_categories = registry.known_categories()
    for setting, rules_by_key, is_verb in (
        ("DELIVERY_RULES", conf.delivery_rules, False),
        ("VERB_RULES", conf.verb_rules, True),
    ):
        for key, rules in rules_by_key.items():
            if not is_verb and key != "*" and key not in known_categories:
                errors.append(
                    Error(
                        f"{SETTING}['{setting}'] names an unknown category {key!r}.",
                        hint=f"Known categories: {', '.join(known_categories)}; declare it in "
                        "CATEGORIES, or put rules for a verb in VERB_RULES.",
                        id="notifications.E021",
                    )
                )
            if not isinstance(rules, dict):
                errors.append(
                    Error(
                        f"{SETTING}['{setting}'][{key!r}] must be a dict of channel: rule.",
                        hint=DOCS_CHANNELS,
                        id="notifications.E022",
                    )
                )
                continue
            for channel, rule in rules.items():
                if channel not in known or channel == ChannelName.INBOX:
                    errors.append(
                        Error(
                            f"{SETTING}['{setting}'][{key!r}] names an unknown channel {channel!r}.",
                            hint=hint,
                            id="notifications.E020",
                        )
                    )
                if rule not in Rule.ALL:
                    errors.append(
                        Error(
                            f"{SETTING}['{setting}'][{key!r}][{channel!r}] is {rule!r}, not a rule.",
                            hint=f"Use one of {', '.join(Rule.ALL)} ({DOCS_CHANNELS}).",
                            id="notifications.E022",
                        )
                    )
    for name in set(conf.channels) & set(known):
        try:
            channel = registry.get_channel(name)
        except Exception as exc:
            errors.append(
                Error(
                    f"The {name!r} delivery channel cannot be loaded: {exc}",
                    hint=f"Fix the dotted path in CHANNEL_CLASSES ({DOCS_CHANNELS}).",
                    id="notifications.E023",
                )
            )
            continue
        errors.extend(
            Warning(
                f"The {name!r} delivery channel cannot send: {problem}", hint=DOCS_CHANNELS, id="notifications.W024"
            )
            for problem in channel.check()
        )
    if ChannelName.EMAIL in conf.channels and not conf.site_url:
        errors.append(
            Warning(
                f"{SETTING}['SITE_URL'] is not set, so links in emails (unsubscribe included) "
                "are relative and do not work.",
                hint=f"Set it to e.g. 'https://example.com' ({SETTINGS_DOCS}).",
                id="notifications.W025",
            )
        )
    return errors
