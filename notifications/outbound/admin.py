"""Admin for deliveries (failed ones included), preferences and push
subscriptions. Imported by ``notifications.admin``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from notifications.outbound import services
from notifications.outbound.models import ChannelPreference, Delivery, PushSubscription


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "channel",
        "recipient",
        "notification_id",
        "category",
        "state",
        "attempts",
        "due_at",
        "sent_at",
    )
    list_filter = ("state", "channel", "category", "critical", "digest")
    search_fields = ("last_error",)
    raw_id_fields = ("recipient",)
    readonly_fields = [f.name for f in Delivery._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    @admin.action(description=_("Send again now"), permissions=["change"])
    def retry(self, request: Any, queryset: Any) -> None:
        count = services.deliveries_retry(queryset=queryset)
        self.message_user(request, _("%(count)d deliveries will be sent again.") % {"count": count}, messages.SUCCESS)


@admin.register(ChannelPreference)
class ChannelPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "category", "channel", "frequency", "updated_at")
    list_filter = ("channel", "frequency", "category")
    raw_id_fields = ("user",)

    def save_model(self, request: Any, obj: ChannelPreference, form: Any, change: bool) -> None:
        # Through the service, so the user's open tabs hear of it.
        services.preference_set(user=obj.user, category=obj.category, channel=obj.channel, frequency=obj.frequency)


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ("user", "endpoint", "created_at")
    raw_id_fields = ("user",)
