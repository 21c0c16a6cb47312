from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

# django-notifications' path for the admin base class; like the models, it
# writes through the services the app's ready() hands them.
from notifications.base.models import services


@admin.action(description=_("Mark selected notifications as unread"))
def mark_unread(modeladmin: Any, request: Any, queryset: Any) -> None:
    services().notifications_set_unread(queryset=queryset, unread=True)


@admin.action(description=_("Mark selected notifications as read"))
def mark_read(modeladmin: Any, request: Any, queryset: Any) -> None:
    services().notifications_set_unread(queryset=queryset, unread=False)


class AbstractNotificationAdmin(admin.ModelAdmin):
    raw_id_fields = ("recipient",)
    readonly_fields = ("action_object_url", "actor_object_url", "target_object_url")
    list_display = (
        "recipient",
        "actor",
        "verb",
        "level",
        "target",
        "unread",
        "public",
        "timestamp",
    )
    list_filter = ("level", "unread", "public", "timestamp")
    search_fields = ("verb", "description", "recipient__username")
    actions = [mark_unread, mark_read]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).prefetch_related("actor", "action_object", "target")

    # Named like the generic relations, so label_for_field() and custom
    # list_display entries written for django-notifications keep working.
    @admin.display(description=_("actor"))
    def actor(self, obj: Any) -> Any:
        return obj.actor

    @admin.display(description=_("target"))
    def target(self, obj: Any) -> Any:
        return obj.target

    @admin.display(description=_("action object"))
    def action_object(self, obj: Any) -> Any:
        return obj.action_object

    # Admin writes go through the services too, so open tabs hear about them.
    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        services().notification_save(notification=obj, changed_fields=form.changed_data if change else ())

    def delete_model(self, request: Any, obj: Any) -> None:
        services().notifications_delete(queryset=type(obj).objects.filter(pk=obj.pk), soft=False)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        services().notifications_delete(queryset=queryset, soft=False)
