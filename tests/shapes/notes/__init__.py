"""A site's own notification model (``NOTIFICATIONS_NOTIFICATION_MODEL``)."""
