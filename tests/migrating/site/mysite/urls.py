from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("account/", include("accounts.urls")),
    path("", include("lending.urls")),
    path("inbox/notifications/", include("notifications.urls", namespace="notifications")),
]
