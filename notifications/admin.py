from django.contrib import admin

from notifications.base.admin import AbstractNotificationAdmin
from notifications.swappable import load_notification_model

Notification = load_notification_model()


class NotificationAdmin(AbstractNotificationAdmin):
    pass


if Notification._meta.app_label == "notifications":
    admin.site.register(Notification, NotificationAdmin)
