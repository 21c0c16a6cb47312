from notifications.base.models import AbstractNotification, NotificationQuerySet, notify_handler
from notifications.swappable import NOTIFICATION_MODEL_SETTING

__all__ = ["AbstractNotification", "Notification", "NotificationQuerySet", "notify_handler"]


class Notification(AbstractNotification):
    class Meta(AbstractNotification.Meta):
        abstract = False
        swappable = NOTIFICATION_MODEL_SETTING
