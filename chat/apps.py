from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"
    # notifications.asgi.get_asgi_application() routes these sockets.
    websocket_urlpatterns = "chat.routing.websocket_urlpatterns"

    def ready(self) -> None:
        # Imported once the app registry is ready, as Django asks.
        from chat import (
            checks,  # noqa: F401  (registers the checks)
            receivers,
        )
        from notifications.realtime.revocation import connect_revocation_signals

        connect_revocation_signals()
        receivers.connect()
