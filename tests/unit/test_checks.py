"""System checks catch deployments that would silently lose live delivery."""

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings


def ids(**kwargs):
    return {message.id for message in checks.run_checks(**kwargs) if message.id.startswith("notifications.")}


def test_the_demo_settings_pass(settings):
    settings.DEBUG = True  # the demo's default; pytest-django turns it off
    assert ids() == set()
    # With --deploy, the daphne_compat parts the demo's asgi.py turned on are listed.
    assert "notifications.I013" in ids(include_deployment_checks=True)


def test_missing_channel_layers_is_only_a_warning(settings):
    del settings.CHANNEL_LAYERS
    messages = [m for m in checks.run_checks() if m.id == "notifications.W001"]
    assert messages and messages[0].level == checks.WARNING and "polls" in messages[0].msg


def test_sqlite_without_what_concurrent_writers_need_is_a_warning(settings):
    startproject = {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}
    settings.DATABASES = {**settings.DATABASES, "other": startproject}
    [message] = [m for m in checks.run_checks() if m.id == "notifications.W016"]
    assert "'other'" in message.msg and "database is locked" in message.msg
    assert "IMMEDIATE" in message.hint and "journal_mode=WAL" in message.hint and "'timeout': 20" in message.hint
    options = {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode = wal;"}
    settings.DATABASES = {**settings.DATABASES, "other": {**startproject, "OPTIONS": options}}
    assert "notifications.W016" not in ids()


def test_a_site_without_the_notifications_urls_is_an_error(settings):
    settings.ROOT_URLCONF = "tests.chatonly.urls"
    [message] = [m for m in checks.run_checks() if m.id == "notifications.W017"]
    assert "namespace='notifications'" in message.hint
    settings.ROOT_URLCONF = "project.urls"
    assert "notifications.W017" not in ids()


def test_static_files_no_one_serves_with_debug_off_are_a_warning(settings):
    settings.DEBUG = False
    settings.STATIC_ROOT = None
    [message] = [m for m in checks.run_checks() if m.id == "notifications.W018"]
    assert "404" in message.msg and "STATIC_ROOT" in message.hint
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "whitenoise.middleware.WhiteNoiseMiddleware"]
    assert "notifications.W018" not in ids()
    settings.STATIC_ROOT = "/srv/static"
    settings.DEBUG = True
    assert "notifications.W018" not in ids()


def test_an_unusable_backend_is_an_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "nowhere.Layer"}}
    assert "notifications.E002" in ids()
    settings.CHANNEL_LAYERS = {"other": {}}
    assert "notifications.E002" in ids()
    # A typo in the in-memory layer's path is not a missing channels-redis.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayr"}}
    [message] = [m for m in checks.run_checks() if m.id == "notifications.E002"]
    assert "channels-redis" not in message.hint and "channels.layers.InMemoryChannelLayer" in message.hint


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:6379", "localhost", {"address": "127.0.0.1:6379", "socket_timeout": 10}, "http://127.0.0.1:6379"],
)
def test_a_redis_host_that_is_not_a_redis_url_is_an_error(settings, host):
    """Every socket would close with 1011 on its first read."""
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}
    }
    [message] = [m for m in checks.run_checks() if m.id == "notifications.E031"]
    assert "redis://" in message.hint


@pytest.mark.parametrize(
    "host", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380", ("127.0.0.1", 6379), {"host": "127.0.0.1"}]
)
def test_redis_hosts_as_channels_redis_takes_them_pass(settings, host):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [host]}}
    }
    assert "notifications.E031" not in ids()


@pytest.mark.parametrize("path", ["project.asgii.application", "project.asgi.app"])
def test_an_asgi_application_that_cannot_be_imported_says_why(settings, path):
    settings.ASGI_APPLICATION = path
    [message] = [m for m in checks.run_checks() if m.id == "notifications.E032"]
    assert path in message.msg and ("No module named" in message.msg or 'define a "app"' in message.msg)
    assert "notifications.W010" not in ids()


@pytest.mark.parametrize("name", ["NOTIFICATIONS_CONFIG", "DJANGO_NOTIFICATION_CONFIG"])
def test_a_setting_named_almost_like_the_config_is_a_warning(settings, name):
    setattr(settings, name, {"PAGINATE_BY": 10})
    [message] = [m for m in checks.run_checks() if m.id == "notifications.W030"]
    assert name in message.msg and "DJANGO_NOTIFICATIONS_CONFIG" in message.hint


def test_the_in_memory_layer_in_production_is_a_warning(settings):
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert "notifications.W012" in ids()
    settings.DEBUG = True
    assert "notifications.W012" not in ids()


def test_an_asgi_application_without_the_notifications_route_is_a_warning(settings):
    settings.DEBUG = True
    settings.ASGI_APPLICATION = "tests.asgi_apps.http_only"  # startproject's asgi.py
    [message] = [m for m in checks.run_checks() if m.id == "notifications.W010"]
    assert "/ws/notifications/" in message.msg and "https://" in message.hint
    settings.ASGI_APPLICATION = "tests.asgi_apps.other_routes"
    assert "notifications.W010" in ids()
    del settings.ASGI_APPLICATION
    assert "notifications.W010" in ids()


def test_the_route_is_found_under_a_prefix_and_not_asked_for_without_a_layer(settings):
    settings.DEBUG = True
    settings.ASGI_APPLICATION = "tests.asgi_apps.prefixed"
    assert "notifications.W010" not in ids()
    settings.ASGI_APPLICATION = "tests.asgi_apps.http_only"
    del settings.CHANNEL_LAYERS  # a site moving over that has not set up Channels yet
    assert "notifications.W010" not in ids()


def test_the_checks_follow_the_application_through_the_gc_freeze(settings):
    settings.DEBUG = True
    settings.ASGI_APPLICATION = "tests.asgi_apps.frozen_gc"
    assert {"notifications.W006", "notifications.W010"}.isdisjoint(ids())
    settings.ASGI_APPLICATION = "tests.asgi_apps.frozen_gc_unguarded"
    assert "notifications.W006" in ids()


def test_runserver_without_daphne_is_a_warning_in_debug(settings):
    settings.DEBUG = True
    apps = [app for app in settings.INSTALLED_APPS if app != "daphne"]
    settings.INSTALLED_APPS = apps
    assert "notifications.W011" in ids()
    settings.INSTALLED_APPS = [*apps, "daphne"]  # after staticfiles: its runserver wins
    assert "notifications.W011" in ids()
    settings.INSTALLED_APPS = ["daphne", *apps]
    assert "notifications.W011" not in ids()
    settings.INSTALLED_APPS = apps
    settings.DEBUG = False
    assert "notifications.W011" not in ids()


def test_every_hint_links_to_the_published_docs(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    settings.ASGI_APPLICATION = "tests.asgi_apps.http_only"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    messages = [m for m in checks.run_checks(include_deployment_checks=True) if m.id.startswith("notifications.")]
    assert {m.id for m in messages} >= {"notifications.E005", "notifications.W010", "notifications.W012"}
    for message in messages:
        assert "https://github.com/django-notifications-live/" in message.hint, message
        assert "docs/" not in message.hint.replace("/blob/main/docs/", ""), message


def test_redis_py_8_without_a_socket_timeout_is_an_error(settings):
    import redis

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://x"]}}
    }
    # Only redis-py 8 defaults socket_timeout to 5 s; 7.x has no such trap.
    assert ("notifications.E004" in ids()) == (int(redis.__version__.split(".")[0]) >= 8)
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": "redis://x", "socket_timeout": 15}]
    assert "notifications.E004" not in ids()


def test_allowed_hosts_star_without_debug_is_an_error(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    assert "notifications.E005" in ids()


def test_a_websocket_route_without_origin_validation_is_a_warning(settings):
    settings.ASGI_APPLICATION = "tests.unsafe_asgi.application"
    assert "notifications.W006" in ids()


@pytest.mark.parametrize(
    ("conn_max_age", "options", "warned"),
    [
        (0, {}, "opens a new connection"),
        (60, {}, "advises against"),
        (60, {"pool": True}, "refuses at the first query"),
        (0, {"pool": True}, None),
        (0, {"pool": {"min_size": 2, "max_size": 20}}, None),
    ],
)
@pytest.mark.parametrize("engine", ["django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"])
def test_postgresql_connections_are_checked_as_django_advises_under_asgi(
    settings, engine, conn_max_age, options, warned
):
    postgres = {
        "ENGINE": engine,
        "NAME": "x",
        "CONN_MAX_AGE": conn_max_age,
        "OPTIONS": options,
    }
    settings.DATABASES = {**settings.DATABASES, "pg": postgres}
    found = [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "notifications.W007"]
    assert "notifications.W007" not in ids()  # only with --deploy
    if warned is None:
        assert found == []
    else:
        [message] = found
        assert "'pg'" in message.msg and warned in message.msg and "'pool': True" in message.hint


def test_sqlite_connections_are_not_checked(settings):
    """SQLite has no pool, and opening its file costs little."""
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "CONN_MAX_AGE": 0}
    settings.DATABASES = {"default": {**settings.DATABASES["default"], "CONN_MAX_AGE": 0}, "other": sqlite}
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        assert "notifications.W007" not in ids(include_deployment_checks=True)


@pytest.mark.parametrize(
    ("setting", "config", "key", "meant", "check_id", "page"),
    [
        (
            "DJANGO_NOTIFICATIONS_CONFIG",
            {"HEARTBEAT_SECOND": 10, "SYNC_PAGE_SIZE": 50},
            "HEARTBEAT_SECOND",
            "HEARTBEAT_SECONDS",
            "notifications.E030",
            "settings.md",
        ),
        (
            "CHAT_CONFIG",
            {"HISTORY_PAGE": 5, "MAX_MESSAGE_LENGTH": 500},
            "HISTORY_PAGE",
            "HISTORY_PAGE_SIZE",
            "chat.E001",
            "chat.md",
        ),
    ],
)
def test_an_unknown_settings_key_is_an_error_that_names_it(setting, config, key, meant, check_id, page):
    with override_settings(**{setting: config}):
        [message] = [m for m in checks.run_checks() if m.id == check_id]
    assert message.level == checks.ERROR
    assert f"'{key}'" in message.msg and setting in message.msg
    assert f"'{meant}'" in message.hint and f"/docs/{page}" in message.hint
    assert not [m for m in checks.run_checks() if m.id == check_id]


def test_a_settings_dict_that_is_not_a_dict_is_reported_by_the_same_check():
    with override_settings(CHAT_CONFIG=["MAX_MESSAGE_LENGTH"]):
        [message] = [m for m in checks.run_checks() if m.id == "chat.E001"]
    assert "CHAT_CONFIG must be a dict" in message.msg


def test_a_notifications_setting_that_is_not_a_dict_is_one_error_and_no_crash():
    with override_settings(DJANGO_NOTIFICATIONS_CONFIG=["CHANNELS"]):
        messages = checks.run_checks()
    assert [m.id for m in messages if m.level >= checks.ERROR] == ["notifications.E030"]


@pytest.mark.parametrize(
    "key, value",
    [("CHANNELS", "email"), ("CHANNELS", [1]), ("CHANNEL_CLASSES", ["x"]), ("CATEGORIES", []), ("VERB_RULES", "x")],
)
def test_a_delivery_setting_of_the_wrong_type_is_an_error_naming_it_and_no_crash(key, value):
    with override_settings(DJANGO_NOTIFICATIONS_CONFIG={key: value}):
        errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    [error] = errors
    assert error.id == "notifications.E026" and f"['{key}']" in error.msg


def test_a_setting_named_almost_like_chats_config_is_a_warning(settings):
    settings.CHAT_CONFIGS = {"MAX_MESSAGE_LENGTH": 500}
    [message] = [m for m in checks.run_checks() if m.id == "chat.W001"]
    assert "CHAT_CONFIGS" in message.msg and "CHAT_CONFIG" in message.hint


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("FRAMES_PER_SECOND", 0, "must be a positive number, not 0"),
        ("FRAME_BURST", 0.5, "must be at least 1"),
        ("MAX_SOCKETS_PER_USER", 2.5, "must be a positive integer, not 2.5"),
        ("MAX_FRAME_BYTES", 4096, "must be at least 8192"),
        ("ABUSE_COOLDOWN_SECONDS", 9, "from 0 to 4"),
    ],
)
@pytest.mark.parametrize("setting", ["DJANGO_NOTIFICATIONS_CONFIG", "CHAT_CONFIG"])
def test_both_apps_refuse_the_same_bad_socket_limits_alike(setting, key, value, says):
    from chat.conf import conf as chat_conf
    from notifications.conf import conf as notifications_conf

    conf = chat_conf if setting == "CHAT_CONFIG" else notifications_conf
    check_id = "chat.E002" if setting == "CHAT_CONFIG" else "notifications.E033"
    with override_settings(**{setting: {key: value}}):
        with pytest.raises(ImproperlyConfigured) as refused:
            conf.socket_limits()
        [error] = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert str(refused.value).startswith(f"{setting}['{key}'] ") and says in str(refused.value)
    assert (error.id, error.msg) == (check_id, str(refused.value))
