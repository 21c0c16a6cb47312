"""ASGI applications that check tests point ASGI_APPLICATION at."""

from channels.generic.websocket import WebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.urls import path

import notifications.routing
from notifications import asgi as notifications_asgi
from notifications.realtime.gcfreeze import FreezeLongLived

# What `django-admin startproject` writes: HTTP only.
http_only = get_asgi_application()

# WebSockets, but none to the notifications consumer.
other_routes = ProtocolTypeRouter(
    {
        "http": http_only,
        "websocket": AllowedHostsOriginValidator(URLRouter([path("ws/other/", WebsocketConsumer.as_asgi())])),
    }
)

# The consumer mounted under a prefix, inside a nested router.
prefixed = ProtocolTypeRouter(
    {
        "http": http_only,
        "websocket": AllowedHostsOriginValidator(
            URLRouter([path("live/", URLRouter(notifications.routing.websocket_urlpatterns))])
        ),
    }
)

# The package's application with freeze_gc, which wraps the router; and a
# router without the origin check, wrapped the same way.
frozen_gc = notifications_asgi.get_asgi_application(freeze_gc=True)
frozen_gc_unguarded = FreezeLongLived(
    ProtocolTypeRouter({"http": http_only, "websocket": URLRouter(notifications.routing.websocket_urlpatterns)})
)
