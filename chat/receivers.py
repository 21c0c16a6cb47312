"""Keeping sockets in step with private-room membership: a new member's
room list shows the room, and a removed member's sockets lose it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_save, pre_save

from chat import delivery
from chat.models import Room
from notifications.realtime.stored import stored_values


def _members_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if action == "post_add":
        if reverse:
            for room in Room.objects.filter(pk__in=pk_set or (), is_private=True):
                delivery.room_added(room, member_ids=[instance.pk])
        elif instance.is_private:
            delivery.room_added(instance, member_ids=sorted(pk_set or ()))
        return
    if action not in {"post_remove", "post_clear"}:
        return
    if reverse:
        # user.chat_rooms.remove(room, ...): instance is the user. A clear
        # does not say which rooms it left, so every private room is told.
        rooms = Room.objects.filter(is_private=True)
        if action == "post_remove":
            rooms = rooms.filter(pk__in=pk_set)
        for room in rooms:
            delivery.access_removed(room, user_ids=[instance.pk])
        return
    if instance.is_private:
        delivery.access_removed(instance, user_ids=None if action == "post_clear" else sorted(pk_set or ()))


def _remember_privacy(sender: Any, instance: Room, **kwargs: Any) -> None:
    if instance.pk is not None:
        old = stored_values(instance, "is_private")
        instance._was_private = old["is_private"] if old is not None else None


def _privacy_changed(sender: Any, instance: Room, created: bool, **kwargs: Any) -> None:
    was_private = instance.__dict__.pop("_was_private", None)
    if not created and was_private is False and instance.is_private:
        delivery.access_removed(instance, user_ids=None)


def connect() -> None:
    m2m_changed.connect(_members_changed, sender=Room.members.through, dispatch_uid="chat.members_changed")
    pre_save.connect(_remember_privacy, sender=Room, dispatch_uid="chat.remember_privacy")
    post_save.connect(_privacy_changed, sender=Room, dispatch_uid="chat.privacy_changed")
