"""System checks for a deployment that would silently lose live delivery."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from notifications.realtime.config import CHANNELS_REDIS_POP_TIMEOUT


@register(Tags.compatibility)
def check_channel_layers(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    layers = getattr(settings, "CHANNEL_LAYERS", None)
    if not layers:
        return [
            Warning(
                "CHANNEL_LAYERS is not set: notifications are stored and served, but not pushed live.",
                hint="Set CHANNEL_LAYERS (see docs/settings.md); until then the badge polls.",
                id="notifications.W001",
            )
        ]
    default = layers.get("default")
    if not isinstance(default, dict) or "BACKEND" not in default:
        return [
            Error(
                "CHANNEL_LAYERS has no usable 'default' entry with a BACKEND.",
                hint="Use notifications.realtime.redis_channel_layer(REDIS_URL) or the in-memory layer.",
                id="notifications.E002",
            )
        ]
    try:
        import_string(default["BACKEND"])
    except ImportError as exc:
        return [
            Error(
                f"CHANNEL_LAYERS['default']['BACKEND'] cannot be imported: {exc}",
                hint="Install channels-redis, or fix the dotted path.",
                id="notifications.E002",
            )
        ]
    errors: list[Any] = []
    if default["BACKEND"].endswith("InMemoryChannelLayer") and not settings.DEBUG:
        errors.append(
            Warning(
                "The in-memory channel layer only reaches sockets of the same process.",
                hint="With more than one server process, use Redis: "
                "CHANNEL_LAYERS = {'default': redis_channel_layer(REDIS_URL)}.",
                id="notifications.W003",
            )
        )
    if default["BACKEND"] == "channels_redis.core.RedisChannelLayer":
        errors.extend(_check_redis_timeouts(default))
    return errors


def _check_redis_timeouts(layer: dict[str, Any]) -> list[Any]:
    import redis

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
                "notifications.realtime.redis_channel_layer(url).",
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
                hint="List your host names in ALLOWED_HOSTS.",
                id="notifications.E005",
            )
        )
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return errors
    try:
        application = import_string(path)
    except Exception:
        return errors  # Channels' own checks report an unimportable application.
    from channels.security.websocket import OriginValidator

    websocket = getattr(application, "application_mapping", {}).get("websocket")
    if websocket is not None and not isinstance(websocket, OriginValidator):
        errors.append(
            Warning(
                "The websocket route of ASGI_APPLICATION is not wrapped in an origin validator.",
                hint="Wrap it: AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...))).",
                id="notifications.W006",
            )
        )
    return errors


# Not Tags.database: Django 6 runs those only for `check --database`, and this
# reads settings, not a database.
@register(deploy=True)
def check_persistent_connections(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Every socket's connect and every heartbeat round runs in
    ``database_sync_to_async``, which closes the connection after each call
    unless CONN_MAX_AGE keeps it: a connect storm then spends about a third
    of its CPU opening connections (docs/benchmarks.md, connect storm)."""
    closing = [alias for alias, database in settings.DATABASES.items() if not database.get("CONN_MAX_AGE", 0)]
    if not closing:
        return []
    return [
        Warning(
            f"CONN_MAX_AGE is 0 for {', '.join(map(repr, closing))}: each WebSocket connect and "
            "heartbeat round opens a new database connection.",
            hint="Keep connections open, e.g. dj_database_url.config(conn_max_age=60) (docs/deployment.md).",
            id="notifications.W007",
        )
    ]


DOCS_CHANNELS = "https://github.com/django-notifications-live/django-notifications-live/blob/main/docs/channels.md"


@register(Tags.compatibility)
def check_delivery_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Channels, categories and rules of DJANGO_NOTIFICATIONS_CONFIG that
    would make sends fail or silently go nowhere."""
    from notifications.conf import SETTING, conf
    from notifications.outbound import registry
    from notifications.outbound.constants import ChannelName, Rule

    errors: list[Any] = []
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
                            hint=f"Use one of {', '.join(Rule.ALL)}.",
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
                    hint="Fix the dotted path in CHANNEL_CLASSES.",
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
                hint="Set it to e.g. 'https://example.com'.",
                id="notifications.W025",
            )
        )
    return errors
