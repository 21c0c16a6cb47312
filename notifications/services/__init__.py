"""Every write. Views, consumers, the admin, commands, triggers and signal
receivers call these; none of them writes to the database itself.

The layers, each importing only the ones below it:

- ``services`` (this package): writes, then hands the change to delivery;
- ``delivery``: pushes stored changes to sockets after commit;
- ``selectors``: reads, for pages, endpoints and frames;
- ``models`` (``notifications.base.models``): the tables and
  django-notifications' model and queryset methods.

The models import none of them. django-notifications' model methods that
write (``mark_as_read``, ``mark_all_as_read``, ...) must push like any
write: the app's ``ready()`` hands them this package
(``notifications.base.models.bind``).
"""

from notifications.services.announcements import (
    AnnouncementNotFound,
    announcement_create,
    announcement_dismiss,
    announcement_publish,
    announcements_publish_due,
    audience_changed,
)
from notifications.services.notifications import (
    NotificationNotFound,
    notification_create,
    notification_delete,
    notification_group_mark_read,
    notification_mark_read,
    notification_mark_unread,
    notification_save,
    notifications_delete,
    notifications_mark_all_read,
    notifications_mark_seen,
    notifications_set_deleted,
    notifications_set_seen,
    notifications_set_unread,
)

__all__ = [
    "AnnouncementNotFound",
    "NotificationNotFound",
    "announcement_create",
    "announcement_dismiss",
    "announcement_publish",
    "announcements_publish_due",
    "audience_changed",
    "notification_create",
    "notification_delete",
    "notification_group_mark_read",
    "notification_mark_read",
    "notification_mark_unread",
    "notification_save",
    "notifications_delete",
    "notifications_mark_all_read",
    "notifications_mark_seen",
    "notifications_set_deleted",
    "notifications_set_seen",
    "notifications_set_unread",
]
