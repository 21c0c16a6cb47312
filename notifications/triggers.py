"""Model changes become notifications, declared in one place per app.

Put the declarations in ``<app>/live.py``; it is imported at start-up like
``admin.py``::

    from notifications.triggers import Notice, on_create, on_update

    @on_create(Comment)
    def comment_notifies_post_author(comment):
        if comment.author_id != comment.post.author_id:
            return Notice(recipient=comment.post.author, actor=comment.author,
                          verb="commented on", target=comment.post)

    @on_update(Order, fields=["status"])  # only when status really changed
    def order_status_changed(order, changes):
        old, new = changes["status"]
        return Notice(recipient=order.customer, verb=f"is now {new}", actor=order)

A receiver returns nothing, one ``Notice`` or an iterable of them. It runs
inside the saving transaction, in a savepoint: the notifications are stored
with the change and pushed after commit, and an exception in a receiver is
logged and rolls back only its own notifications, never the save.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils.module_loading import autodiscover_modules

from notifications.conf import conf
from notifications.realtime.stored import stored_values

logger = logging.getLogger("notifications.triggers")

Changes = dict[str, tuple[Any, Any]]

# receiver -> the (signal, sender, dispatch_uid) it is connected with.
_connections: dict[Callable[..., Any], list[tuple[Any, Any, str]]] = {}


def _connect(receiver: Callable[..., Any], signal: Any, handler: Callable[..., Any], sender: Any, uid: str) -> None:
    signal.connect(handler, sender=sender, weak=False, dispatch_uid=uid)
    _connections.setdefault(receiver, []).append((signal, sender, uid))


def disconnect(receiver: Callable[..., Any]) -> None:
    """Undo a declaration (for tests, or a plugin that is switched off)."""
    for signal, sender, uid in _connections.pop(receiver, []):
        signal.disconnect(sender=sender, dispatch_uid=uid)


@dataclass
class Notice:
    """One notification to create, for one recipient or several (a user,
    a Group, a QuerySet or a list). ``actor`` defaults to the saved instance."""

    recipient: Any
    verb: str
    actor: models.Model | None = None
    target: models.Model | None = None
    action_object: models.Model | None = None
    level: str = "info"
    description: str | None = None
    public: bool = True
    group_key: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # Delivery beyond the inbox, as notify.send takes them (docs/channels.md).
    channels: Any = None
    category: str | None = None
    critical: bool = False


def _notices(result: Any) -> list[Notice]:
    if result is None:
        return []
    if isinstance(result, Notice):
        return [result]
    if isinstance(result, Iterable) and not isinstance(result, str | bytes | dict):
        notices = list(result)
        if all(isinstance(n, Notice) for n in notices):
            return notices
    raise TypeError(f"a trigger must return None, a Notice or Notices, not {result!r}")


def _run(receiver: Callable[..., Any], instance: models.Model, *args: Any) -> None:
    # A site's models module may import this one; the services import every
    # model, so they load when a trigger first runs.
    from notifications.receivers import delivery_category
    from notifications.services import notification_create

    db = instance._state.db or "default"
    try:
        with transaction.atomic(using=db):
            for notice in _notices(receiver(instance, *args)):
                options = {"category": notice.category} if notice.category is not None else {}
                category = delivery_category(options)
                if notice.data:
                    options["data"] = notice.data
                notification_create(
                    recipient=notice.recipient,
                    actor=notice.actor if notice.actor is not None else instance,
                    verb=notice.verb,
                    target=notice.target,
                    action_object=notice.action_object,
                    level=notice.level,
                    description=notice.description,
                    public=notice.public,
                    group_key=notice.group_key,
                    channels=notice.channels,
                    category=category,
                    critical=notice.critical,
                    extra=options or None,
                )
    except Exception:
        logger.exception(
            "trigger %s.%s failed for %r; the save stands",
            receiver.__module__,
            receiver.__qualname__,
            instance,
        )


def _uid(receiver: Callable[..., Any], kind: str) -> str:
    return f"notifications.triggers.{kind}.{receiver.__module__}.{receiver.__qualname__}"


def on_create(model: type[models.Model]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``receiver(instance)`` runs when an instance of ``model`` is created."""

    def register(receiver: Callable[..., Any]) -> Callable[..., Any]:
        def handler(sender: Any, instance: Any, created: bool, raw: bool = False, **kw: Any) -> None:
            if created and not raw:
                _run(receiver, instance)

        _connect(receiver, post_save, handler, model, _uid(receiver, "create"))
        return receiver

    return register


def on_update(
    model: type[models.Model], fields: Sequence[str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``receiver(instance, changes)`` runs when an existing instance is saved.
    With ``fields``, only when one of them changed; ``changes`` maps each
    changed field to ``(old, new)``."""
    names = list(fields) if fields else [f.attname for f in model._meta.concrete_fields]
    for name in names:
        model._meta.get_field(name)  # a typo fails at start-up, not on save
    attnames = [model._meta.get_field(name).attname for name in names]

    def register(receiver: Callable[..., Any]) -> Callable[..., Any]:
        key = f"_notifications_before_{id(receiver)}"

        def before(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kw: Any) -> None:
            if raw or instance.pk is None or instance._state.adding:
                return
            if update_fields is not None and not set(update_fields) & (set(names) | set(attnames)):
                return
            old = stored_values(instance, *attnames)
            if old is not None:
                setattr(instance, key, old)

        def after(sender: Any, instance: Any, created: bool, raw: bool = False, **kw: Any) -> None:
            old = instance.__dict__.pop(key, None)
            if created or raw or old is None:
                return
            changes: Changes = {}
            for name, attname in zip(names, attnames, strict=True):
                new = getattr(instance, attname)
                if old[attname] != new:
                    changes[name] = (old[attname], new)
            if changes:
                _run(receiver, instance, changes)

        uid = _uid(receiver, "update")
        _connect(receiver, pre_save, before, model, uid + ".pre")
        _connect(receiver, post_save, after, model, uid)
        return receiver

    return register


def on_delete(model: type[models.Model]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``receiver(instance)`` runs after an instance of ``model`` is deleted.
    The notification must not use the deleted instance as actor or target."""

    def register(receiver: Callable[..., Any]) -> Callable[..., Any]:
        def handler(sender: Any, instance: Any, **kw: Any) -> None:
            _run(receiver, instance)

        _connect(receiver, post_delete, handler, model, _uid(receiver, "delete"))
        return receiver

    return register


def autodiscover() -> None:
    """Import ``<app>.live`` (TRIGGERS_MODULE) of every installed app."""
    autodiscover_modules(conf.triggers_module)
