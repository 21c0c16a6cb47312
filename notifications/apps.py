from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Config(AppConfig):
    """Named ``Config`` like django-notifications' own, so a site that lists
    ``notifications.apps.Config`` in INSTALLED_APPS keeps working."""

    name = "notifications"
    verbose_name = _("Notifications")
    # The legacy migrations created an AutoField id; keep it.
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        # Imported once the app registry is ready, as Django asks.
        import notifications
        from notifications import (
            checks,  # noqa: F401  (registers the checks)
            receivers,
            services,
        )
        from notifications.base import models as base_models
        from notifications.realtime.revocation import connect_revocation_signals
        from notifications.signals import notify
        from notifications.triggers import autodiscover

        # django-notifications exposed the signal on the package too.
        notifications.notify = notify  # type: ignore[attr-defined]
        notify.connect(receivers.notify_handler, dispatch_uid="notifications.models.notification")
        base_models.bind(services=services, notify_handler=receivers.notify_handler)
        connect_revocation_signals()
        receivers.connect()
        autodiscover()
