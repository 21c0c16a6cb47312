from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import (
            checks,  # noqa: F401  (registers the checks)
            receivers,
        )
        from notifications.realtime.revocation import connect_revocation_signals

        connect_revocation_signals()
        receivers.connect()
