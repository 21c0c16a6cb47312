"""Closing a user's sockets when their session or account stops being valid.

Channels checks the session once, at connect. These receivers publish a
``realtime.revoke`` event to the user's control group, so every socket of
that user, in any app and any process, gets ``closing`` and close code 4408.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save, pre_save

from .publish import publish
from .stored import stored_values
from .wire import control_group


def revoke(*, user_id: int, session_key: str | None = None, reason: str = "session_ended") -> None:
    """Close the sockets of one session of a user, or all of them."""
    message: dict[str, Any] = {"type": "realtime.revoke", "reason": reason}
    if session_key is not None:
        message["session_key"] = session_key
    publish([(control_group(user_id), message)])


def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None or request is None:
        return
    session_key = getattr(request.session, "session_key", None)
    revoke(user_id=user.pk, session_key=session_key, reason="logged_out")


def _credentials(user: Any) -> tuple[str, bool]:
    return hashlib.sha256((user.password or "").encode()).hexdigest(), bool(user.is_active)


def _remember_credentials(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. the last_login update on every login
    old = stored_values(instance, "password", "is_active")
    if old is not None:
        instance._realtime_credentials = (
            hashlib.sha256((old["password"] or "").encode()).hexdigest(),
            bool(old["is_active"]),
        )


def _revoke_if_changed(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = instance.__dict__.pop("_realtime_credentials", None)
    if created or before is None or before == _credentials(instance):
        return
    reason = "deactivated" if not instance.is_active else "password_changed"
    user_id = instance.pk
    transaction.on_commit(lambda: revoke(user_id=user_id, reason=reason), robust=True)


def connect_revocation_signals() -> None:
    """Connect once; both apps call this from AppConfig.ready()."""
    user_model = get_user_model()
    user_logged_out.connect(_on_logout, dispatch_uid="realtime.revoke.logout")
    pre_save.connect(_remember_credentials, sender=user_model, dispatch_uid="realtime.revoke.pre")
    post_save.connect(_revoke_if_changed, sender=user_model, dispatch_uid="realtime.revoke.post")
