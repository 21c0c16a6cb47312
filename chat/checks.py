"""System checks for the chat app's settings, registered in ChatConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.core.checks import register

from chat.conf import conf
from notifications.realtime.appconf import DOCS_URL, socket_limit_errors, unknown_key_errors

CHAT_DOCS = f"{DOCS_URL}chat.md"


@register()
def check_settings_keys(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """CHAT_CONFIG keys that chat does not know: a typo would otherwise go
    unnoticed until the first chat socket or page reads the setting."""
    return unknown_key_errors(conf, check_id="chat.E001", docs=CHAT_DOCS)


@register()
def check_socket_limits(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return socket_limit_errors(conf, check_id="chat.E002", docs=CHAT_DOCS)
