from django.contrib import admin
from django.urls import include, path

from project import views

urlpatterns = [
    path("", views.home, name="home"),
    path("tasks/<int:task_id>/complete/", views.complete, name="task_complete"),
    path("compat/", views.compat, name="compat"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("notifications/", include("notifications.urls", namespace="notifications")),
    path("chat/", include("chat.urls", namespace="chat")),
]
