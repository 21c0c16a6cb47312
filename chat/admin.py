from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from chat import services
from chat.models import Message, Room


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_private", "created_at"]
    list_filter = ["is_private"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    readonly_fields = ["created_by", "created_at", "last_message"]

    def save_model(self, request: HttpRequest, obj: Room, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # New rooms go through the service, which shows them in room lists.
        # Members are saved by save_related() right after.
        created = services.room_create(
            name=obj.name, slug=obj.slug, is_private=obj.is_private, created_by=request.user, creator_is_member=False
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "author", "body", "created_at"]
    list_filter = ["room"]
    search_fields = ["body", "author__username"]
    list_select_related = ["room", "author"]
    raw_id_fields = ["room", "author"]
    readonly_fields = ["client_id", "created_at"]
