"""One import that builds a site's ASGI application.

In the site's ``asgi.py``::

    import os

    from notifications.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    application = get_asgi_application()

HTTP goes to Django (with static files served while ``DEBUG`` is on, as
``runserver`` does; the bell's event stream, its fallback without a
WebSocket, is served beside Django); WebSockets go to the package's routes, those of every installed app whose
AppConfig declares ``websocket_urlpatterns`` (a dotted path or a list;
``chat`` does), and the site's own ``websocket_urlpatterns``, behind
the session auth and an origin check against ``ALLOWED_HOSTS``. The auth
is Channels' ``AuthMiddlewareStack`` with the users of handshakes that arrive
together looked up together (``notifications.realtime.auth``).

``get_asgi_application(freeze_gc=True)`` also keeps the garbage collector's
full passes off what start-up built and off long-lived sockets
(``notifications.realtime.gcfreeze``; docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.security.websocket import OriginValidator as BaseOriginValidator

from notifications.realtime.origin import handshake_origin_allowed

Scope = dict[str, Any]


def get_asgi_application(*, websocket_urlpatterns: Sequence[Any] = (), freeze_gc: bool = False) -> Any:
    """The site's ASGI application. Sets Django up first (as Django's own
    ``get_asgi_application`` does), so call it before importing models.
    ``freeze_gc`` wraps it in ``FreezeLongLived``, which changes ``gc`` for
    the whole process: off unless the site asks."""
    # Imported here: Django must be set up before the rest loads.
    from django.core.asgi import get_asgi_application as django_asgi_application

    http: Any = django_asgi_application()

    from channels.routing import ProtocolTypeRouter, URLRouter
    from channels.sessions import CookieMiddleware, SessionMiddleware
    from django.apps import apps
    from django.conf import settings
    from django.utils.module_loading import import_string

    from notifications.realtime.auth import AuthMiddleware
    from notifications.routing import websocket_urlpatterns as notification_routes

    routes = [*websocket_urlpatterns, *notification_routes]
    for config in apps.get_app_configs():
        # An installed app hands over its sockets' routes on its AppConfig
        # (chat does): this module names no other app.
        declared = getattr(config, "websocket_urlpatterns", None)
        if declared:
            routes += import_string(declared) if isinstance(declared, str) else declared
    from django.urls import re_path

    from notifications.realtime.consumer import refuse_unknown_path

    routes.append(re_path(r"", refuse_unknown_path))
    if settings.DEBUG and apps.is_installed("django.contrib.staticfiles"):
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        http = ASGIStaticFilesHandler(http)
    # The bell's fallback without a WebSocket, served here rather than by the
    # Django view of the same URL, which would hold a thread per open stream.
    from notifications.consumers import NotificationConsumer
    from notifications.realtime.http import EventsRoute, EventStreams

    streams = CookieMiddleware(SessionMiddleware(AuthMiddleware(EventStreams(NotificationConsumer))))
    http = EventsRoute(http, streams, "notifications:events")
    application = ProtocolTypeRouter(
        {
            "http": http,
            "websocket": allowed_hosts_origin_validator(
                CookieMiddleware(SessionMiddleware(AuthMiddleware(URLRouter(routes))))
            ),
        }
    )
    if freeze_gc:
        from notifications.realtime.gcfreeze import FreezeLongLived

        return FreezeLongLived(application)
    return application


class OriginValidator(BaseOriginValidator):
    """The WebSocket origin check, as Django's CSRF origin check decides it
    (realtime.origin): the page's scheme, host and port must be the
    request's own, or one of CSRF_TRUSTED_ORIGINS. A Channels
    ``OriginValidator`` (check notifications.W006 finds it as one), whose
    denial refuses the handshake and returns.

    Channels denies with ``WebsocketDenier``, a consumer that first opens a
    channel-layer inbox. On channels-redis, cancelling that inbox's pending
    receive when the refused connection goes never finishes, so daphne kills
    the application after ``--application-close-timeout`` and logs "took too
    long to shut down and was killed", once per refused handshake: a flood of
    warnings under an attack. A refusal needs no inbox."""

    def __init__(self, application: Any):
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not handshake_origin_allowed(scope):
            await receive()  # websocket.connect
            await send({"type": "websocket.close"})  # before accept: HTTP 403
            return None
        return await self.application(scope, receive, send)


def allowed_hosts_origin_validator(application: Any) -> OriginValidator:
    """The origin check around ``application`` (OriginValidator)."""
    return OriginValidator(application)
