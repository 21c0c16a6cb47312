"""System checks catch deployments that would silently lose live delivery."""

from django.core import checks


def ids(**kwargs):
    return {message.id for message in checks.run_checks(**kwargs) if message.id.startswith("notifications.")}


def test_the_demo_settings_pass(settings):
    settings.DEBUG = True  # the demo's default; pytest-django turns it off
    assert ids() == set()


def test_missing_channel_layers_is_only_a_warning(settings):
    del settings.CHANNEL_LAYERS
    messages = [m for m in checks.run_checks() if m.id == "notifications.W001"]
    assert messages and messages[0].level == checks.WARNING and "polls" in messages[0].hint


def test_an_unusable_backend_is_an_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "nowhere.Layer"}}
    assert "notifications.E002" in ids()
    settings.CHANNEL_LAYERS = {"other": {}}
    assert "notifications.E002" in ids()


def test_the_in_memory_layer_in_production_is_a_warning(settings):
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert "notifications.W003" in ids()


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


def test_closing_database_connections_after_each_call_is_a_deploy_warning(settings, monkeypatch):
    database = settings.DATABASES["default"]
    monkeypatch.setitem(database, "CONN_MAX_AGE", 0)
    assert "notifications.W007" in ids(include_deployment_checks=True)
    assert "notifications.W007" not in ids()  # only with --deploy
    monkeypatch.setitem(database, "CONN_MAX_AGE", 60)
    assert "notifications.W007" not in ids(include_deployment_checks=True)
