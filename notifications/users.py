"""What the apps ask of the site's user model, asked of Django.

A site's user model may have any name (the ``groups`` through table then
names its key after it: ``member_id`` for ``accounts.Member``), no
``PermissionsMixin`` (no ``groups``, no ``is_staff`` column), a UUID primary
key and email login. Nothing else in the apps spells a column name Django
derives from the user model; they ask here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models

from notifications.realtime.wire import wire_key


def groups_field() -> models.ManyToManyField | None:
    """The user model's ``groups`` relation to ``auth.Group``, or None when it
    has none (an ``AbstractBaseUser`` without ``PermissionsMixin``)."""
    try:
        field = get_user_model()._meta.get_field("groups")
    except Exception:  # FieldDoesNotExist
        return None
    if not isinstance(field, models.ManyToManyField) or field.related_model is not Group:
        return None
    return field


def group_ids_of(*, user_ids: Iterable[Any]) -> dict[Any, list[int]]:
    """The auth groups of each user, in one query; empty without ``groups``."""
    field = groups_field()
    user_ids = list(user_ids)
    memberships: dict[Any, list[int]] = defaultdict(list)
    if field is None or not user_ids:
        return memberships
    through = field.remote_field.through
    user_column, group_column = field.m2m_field_name(), field.m2m_reverse_field_name()
    rows = through._default_manager.filter(**{f"{user_column}__in": user_ids}).values_list(
        f"{user_column}_id", f"{group_column}_id"
    )
    for user_id, group_id in rows:
        memberships[user_id].append(group_id)
    return memberships


def members_of(group: Group) -> models.QuerySet:
    """The users in ``group``."""
    field = groups_field()
    if field is None:
        raise TypeError(
            f"notify.send() got a Group as recipient, but {get_user_model()._meta.label} has no 'groups' "
            "relation (no PermissionsMixin). Send to a list or a QuerySet of users instead."
        )
    return get_user_model()._default_manager.filter(**{field.name: group})


def staff_column() -> bool:
    """Whether ``is_staff`` is a column (``AbstractUser``), not a property."""
    return any(f.name == "is_staff" for f in get_user_model()._meta.concrete_fields)


def staff_ids(*, user_ids: Iterable[Any]) -> set[Any]:
    """The staff among ``user_ids``: in one query, by column or property."""
    user_ids = list(user_ids)
    if not user_ids:
        return set()
    manager = get_user_model()._default_manager
    if staff_column():
        return set(manager.filter(pk__in=user_ids, is_staff=True).values_list("pk", flat=True))
    return {user.pk for user in manager.filter(pk__in=user_ids) if getattr(user, "is_staff", False)}


def pk_from_text(value: Any) -> Any:
    """A user's primary key from its text in a group name, a signed token or
    an event (``pk_to_wire``)."""
    return get_user_model()._meta.pk.to_python(value)


def pk_parser() -> Callable[[Any], Any]:
    """``pk_from_text`` for a loop over many ids."""
    return get_user_model()._meta.pk.to_python


# A user's primary key as frames and channel-layer events carry it.
pk_to_wire = wire_key


def display_name(user: Any) -> str:
    """How frames and pages name a user: ``get_username()`` (the email address
    on a site that logs in by email)."""
    return user.get_username()
