from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from notifications.services import notifications_set_unread


@admin.action(description=_("Mark selected notifications as unread"))
def mark_unread(modeladmin: Any, request: Any, queryset: Any) -> None:
    notifications_set_unread(queryset=queryset, unread=True)


@admin.action(description=_("Mark selected notifications as read"))
def mark_read(modeladmin: Any, request: Any, queryset: Any) -> None:
    notifications_set_unread(queryset=queryset, unread=False)


class AbstractNotificationAdmin(admin.ModelAdmin):
    raw_id_fields = ("recipient",)
    readonly_fields = ("action_object_url", "actor_object_url", "target_object_url")
    list_display = (
        "recipient",
        "actor_display",
        "verb",
        "level",
        "target_display",
        "unread",
        "public",
        "timestamp",
    )
    list_filter = ("level", "unread", "public", "timestamp")
    search_fields = ("verb", "description", "recipient__username")
    actions = [mark_unread, mark_read]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).prefetch_related("actor", "action_object", "target")

    @admin.display(description=_("actor"))
    def actor_display(self, obj: Any) -> Any:
        return obj.actor

    @admin.display(description=_("target"))
    def target_display(self, obj: Any) -> Any:
        return obj.target
