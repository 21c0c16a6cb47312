"""Mentions become notifications, through the notifications app's public
trigger API. The notifications app imports this module at start-up (as it
imports every app's ``live.py``); without that app installed nothing imports
it, and chat works without mentions."""

from __future__ import annotations

from typing import Any

from chat.models import Message
from chat.selectors import message_mentions
from notifications.triggers import Notice, on_create


@on_create(Message)
def mention_notifies(message: Message) -> Any:
    mentioned = list(message_mentions(message=message))
    if not mentioned:
        return None
    return Notice(
        recipient=mentioned,
        actor=message.author,
        verb="mentioned you in",
        target=message.room,
        description=message.body[:200],
        data={"chat_message": message.pk},
    )
