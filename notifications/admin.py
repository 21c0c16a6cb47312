from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from notifications.base.admin import AbstractNotificationAdmin
from notifications.models import Announcement, Audience
from notifications.outbound import admin as outbound_admin  # noqa: F401  (registers its models)
from notifications.services import announcement_publish
from notifications.services.announcements import announcement_errors
from notifications.swappable import load_notification_model

Notification = load_notification_model()


class NotificationAdmin(AbstractNotificationAdmin):
    pass


if Notification._meta.app_label == "notifications":
    admin.site.register(Notification, NotificationAdmin)


class AnnouncementForm(forms.ModelForm):
    class Meta:
        model = Announcement
        fields = ("title", "body", "level", "audience", "groups", "publish_at", "expires_at")

    def __init__(self, *args: Any, can_publish: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.can_publish = can_publish

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        errors = announcement_errors(
            title=data.get("title") or "",
            body=data.get("body") or "",
            level=data.get("level") or "",
            audience=data.get("audience") or "",
            groups=list(data.get("groups") or []),
            publish_at=data.get("publish_at"),
            expires_at=data.get("expires_at"),
            check_expiry_past="expires_at" in self.changed_data,
        )
        if data.get("publish_at") and "publish_at" in self.changed_data and not self.can_publish:
            errors["publish_at"] = _("You do not have permission to publish or schedule announcements.")
        for field, message in errors.items():
            if field not in self.errors:
                self.add_error(field, message)
        return data


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    form = AnnouncementForm
    change_form_template = "admin/notifications/announcement/change_form.html"
    list_display = (
        "title",
        "level",
        "status_display",
        "audience_display",
        "reads_display",
        "publish_at",
        "expires_at",
    )
    list_filter = ("level", "audience")
    search_fields = ("title", "body")
    filter_horizontal = ("groups",)
    readonly_fields = ("published_at", "created_by")

    def can_publish(self, request: Any) -> bool:
        return request.user.has_perm("notifications.publish_announcement")

    def get_form(self, request: Any, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        can_publish = self.can_publish(request)

        class RequestForm(form):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, can_publish=can_publish, **kw)

        return RequestForm

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).annotate(read_by=Count("reads")).prefetch_related("groups")

    @admin.display(description=_("status"))
    def status_display(self, obj: Announcement) -> str:
        return obj.status

    @admin.display(description=_("audience"))
    def audience_display(self, obj: Announcement) -> str:
        if obj.audience == Audience.GROUPS:
            return ", ".join(g.name for g in obj.groups.all())
        return obj.get_audience_display()

    @admin.display(description=_("read by"), ordering="read_by")
    def reads_display(self, obj: Announcement) -> int:
        return obj.read_by

    def render_change_form(self, request: Any, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        context["can_publish"] = self.can_publish(request)
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request: Any, obj: Announcement, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _publish_if_asked(self, request: Any, obj: Announcement) -> None:
        if "_publish" not in request.POST:
            return
        if not self.can_publish(request):
            raise PermissionDenied
        try:
            pushed = announcement_publish(announcement=obj)
        except ValidationError as exc:
            self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            return
        if pushed:
            self.message_user(request, _("Published “%s” to its audience.") % obj, messages.SUCCESS)
        else:
            self.message_user(request, _("“%s” was already published.") % obj, messages.WARNING)

    def response_add(self, request: Any, obj: Announcement, *args: Any, **kwargs: Any) -> Any:
        self._publish_if_asked(request, obj)
        return super().response_add(request, obj, *args, **kwargs)

    def response_change(self, request: Any, obj: Announcement) -> Any:
        self._publish_if_asked(request, obj)
        return super().response_change(request, obj)
