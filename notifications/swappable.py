"""Resolve the Notification model, honouring NOTIFICATIONS_NOTIFICATION_MODEL
(the same convention as AUTH_USER_MODEL)."""

from typing import Any

from django.apps import apps
from django.conf import settings

NOTIFICATION_MODEL_SETTING = "NOTIFICATIONS_NOTIFICATION_MODEL"
DEFAULT_NOTIFICATION_MODEL = "notifications.Notification"


def notification_model_label() -> str:
    return getattr(settings, NOTIFICATION_MODEL_SETTING, DEFAULT_NOTIFICATION_MODEL)


def load_notification_model() -> Any:
    """Return the configured Notification model class."""
    return apps.get_model(notification_model_label(), require_ready=False)
