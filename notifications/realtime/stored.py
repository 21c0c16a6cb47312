"""Reading a row as stored, from a ``pre_save`` receiver.

A receiver that acts on a change (a password, ``is_staff``, a room made
private, a trigger's fields) reads the old values before the save writes
the new ones. Both apps' receivers use this one reader; it imports no
models, so chat can use it without the notifications app.
"""

from __future__ import annotations

from typing import Any

from django.db import models


def stored_values(instance: models.Model, *fields: str) -> dict[str, Any] | None:
    """``fields`` of ``instance``'s row as the database has them, read through
    its model's default manager; None for an unsaved instance or a row that
    is no longer there."""
    if instance.pk is None:
        return None
    return type(instance)._default_manager.filter(pk=instance.pk).values(*fields).first()
