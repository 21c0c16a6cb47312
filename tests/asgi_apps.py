"""ASGI applications that check tests point ASGI_APPLICATION at."""

from channels.generic.websocket import WebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application
from django.urls import path

import notifications.routing

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
