"""ASGI entry point: HTTP goes to Django, WebSocket to the two apps' consumers
behind the session auth and an origin check against ALLOWED_HOSTS."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Set up Django before importing consumers (they import models).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

import chat.routing  # noqa: E402
import notifications.routing  # noqa: E402

# The demo is served by the daphne CLI, which does not serve static files;
# in production a proxy or WhiteNoise does.
http_app = ASGIStaticFilesHandler(django_asgi_app) if settings.DEBUG else django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                URLRouter(notifications.routing.websocket_urlpatterns + chat.routing.websocket_urlpatterns)
            )
        ),
    }
)
