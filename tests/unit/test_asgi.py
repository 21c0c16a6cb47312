"""notifications.asgi.get_asgi_application: the one import that builds a
site's ASGI application."""

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import path

from notifications.asgi import get_asgi_application
from notifications.consumers import NotificationConsumer
from tests import factories


async def _get(application, url):
    """The status code of a GET (the body is not read: static files stream)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": url,
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return start["status"]


@pytest.mark.django_db
async def test_static_files_are_served_while_debug_is_on(settings):
    settings.DEBUG = True
    assert await _get(get_asgi_application(), "/static/notifications/bell.js") == 200
    settings.DEBUG = False  # a proxy or WhiteNoise serves them in production
    assert await _get(get_asgi_application(), "/static/notifications/bell.js") == 404


def _websocket_paths(application):
    router = application.application_mapping["websocket"]
    while not isinstance(router, URLRouter):
        router = getattr(router, "application", None) or router.inner
    return [str(route.pattern) for route in router.routes]


def test_the_package_routes_and_the_sites_own_are_served(settings):
    site_route = path("ws/site/", NotificationConsumer.as_asgi())
    paths = _websocket_paths(get_asgi_application(websocket_urlpatterns=[site_route]))
    # The last route refuses the paths no other serves.
    assert paths == ["ws/site/", "ws/notifications/", "ws/chat/", "ws/chat/<str:slug>/", ""]
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "chat"]
    assert _websocket_paths(get_asgi_application()) == ["ws/notifications/", ""]


def test_an_installed_app_hands_over_its_routes_on_its_app_config(monkeypatch):
    """As chat does: the package names no other app, so a site's own app
    called ``chat`` (or anything) adds no route unless it declares one."""
    from django.apps import apps

    site_route = path("ws/tasks/", NotificationConsumer.as_asgi())
    monkeypatch.setattr(apps.get_app_config("auth"), "websocket_urlpatterns", [site_route], raising=False)
    paths = _websocket_paths(get_asgi_application())
    assert paths == ["ws/notifications/", "ws/tasks/", "ws/chat/", "ws/chat/<str:slug>/", ""]  # in INSTALLED_APPS order


def _scope(origin, host="example.com", scheme="wss", **headers):
    pairs = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
    pairs += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return {"type": "websocket", "scheme": scheme, "headers": pairs, "server": ("10.0.0.2", 8001)}


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://example.com", True),
        ("http://example.com", False),  # another scheme
        ("https://example.com:8443", False),  # another port
        ("https://evil.example", False),
        ("null", False),
        (None, False),
        ("https://trusted.example.net", True),  # CSRF_TRUSTED_ORIGINS
        ("https://eu.example.org", True),  # CSRF_TRUSTED_ORIGINS' https://*.example.org
        ("http://eu.example.org", False),
    ],
)
def test_the_origin_check_is_djangos_csrf_origin_check(settings, origin, allowed):
    from notifications.realtime.origin import handshake_origin_allowed

    settings.ALLOWED_HOSTS = ["example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://trusted.example.net", "https://*.example.org"]
    assert handshake_origin_allowed(_scope(origin)) is allowed


def test_behind_a_tls_proxy_the_origin_check_takes_the_forwarded_scheme_and_host(settings):
    """daphne behind nginx sees ws:// and nginx's Host: Django's own
    settings for a proxy (SECURE_PROXY_SSL_HEADER, USE_X_FORWARDED_HOST)
    make the request's origin the browser's, as they do for forms."""
    from notifications.realtime.origin import handshake_origin_allowed

    settings.ALLOWED_HOSTS = ["example.com"]
    forwarded = _scope("https://example.com", scheme="ws", x_forwarded_proto="https")
    assert not handshake_origin_allowed(forwarded)
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert handshake_origin_allowed(forwarded)
    upstream = _scope(
        "https://example.com",
        host="daphne:8001",
        scheme="ws",
        x_forwarded_proto="https",
        x_forwarded_host="example.com",
    )
    assert not handshake_origin_allowed(upstream)
    settings.USE_X_FORWARDED_HOST = True
    assert handshake_origin_allowed(upstream)
    # A Host that ALLOWED_HOSTS does not list is refused, whatever the Origin.
    assert not handshake_origin_allowed(_scope("https://evil.example", host="evil.example"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [b"http://evil.example", None])
async def test_a_foreign_origin_is_refused_and_the_application_ends(origin):
    headers = [(b"origin", origin)] if origin else []
    communicator = WebsocketCommunicator(get_asgi_application(), "/ws/notifications/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert not connected
    await communicator.wait(timeout=1)  # returns: it does not wait for a disconnect


@pytest.mark.django_db
def test_the_bell_connects_to_the_configured_url(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"WEBSOCKET_URL": "/live/ws/notifications/"}
    request = RequestFactory().get("/")
    request.user = factories.user()
    html = Template("{% load notifications_tags %}{% notifications_bell %}").render(Context({"request": request}))
    assert 'data-ws-url="/live/ws/notifications/"' in html
