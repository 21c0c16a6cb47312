from django.urls import path

from notifications import views
from notifications.outbound import views as outbound

app_name = "notifications"

urlpatterns = [
    path("", views.AllNotificationsList.as_view(), name="all"),
    path("unread/", views.UnreadNotificationsList.as_view(), name="unread"),
    path("groups/", views.GroupedNotificationsList.as_view(), name="groups"),
    path("groups/unread/", views.UnreadGroupedNotificationsList.as_view(), name="unread_groups"),
    path("groups/<int:slug>/", views.GroupRowsList.as_view(), name="group"),
    path("mark-all-as-read/", views.mark_all_as_read, name="mark_all_as_read"),
    path("mark-as-read/<int:slug>/", views.mark_as_read, name="mark_as_read"),
    path("mark-group-as-read/<int:slug>/", views.mark_group_as_read, name="mark_group_as_read"),
    path("mark-as-unread/<int:slug>/", views.mark_as_unread, name="mark_as_unread"),
    path("delete/<int:slug>/", views.delete, name="delete"),
    path("announcements/<int:pk>/dismiss/", views.announcement_dismiss, name="announcement_dismiss"),
    path("api/unread_count/", views.live_unread_notification_count, name="live_unread_notification_count"),
    path("api/unseen_count/", views.live_unseen_notification_count, name="live_unseen_notification_count"),
    path("api/groups/", views.live_notification_groups, name="live_notification_groups"),
    path("api/all_count/", views.live_all_notification_count, name="live_all_notification_count"),
    path("api/unread_list/", views.live_unread_notification_list, name="live_unread_notification_list"),
    path("api/all_list/", views.live_all_notification_list, name="live_all_notification_list"),
    path("api/events/", views.events, name="events"),
    path("api/frames/", views.frames, name="frames"),
    path("preferences/", outbound.preferences, name="preferences"),
    path("api/preferences/", outbound.preferences_json, name="preferences_json"),
    path("unsubscribe/<str:token>/", outbound.unsubscribe, name="unsubscribe"),
    path("service-worker.js", outbound.service_worker, name="service_worker"),
    path("api/push-subscription/", outbound.push_subscription, name="push_subscription"),
]
