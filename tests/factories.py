"""Small builders for test data."""

from itertools import count
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

_n = count(1)


def login_name(name: str) -> str:
    """What ``name`` logs in with on this site shape: the name itself, or an
    email address where the user model logs in by email."""
    User = get_user_model()
    return f"{name}@example.com" if User.USERNAME_FIELD == "email" else name


def user(username: str | None = None, **fields: Any) -> Any:
    """A user named ``username`` (``get_username()`` is ``login_name(username)``)
    whose password is "pw"; staff and superuser flags work on every shape."""
    username = username or f"user{next(_n)}"
    User = get_user_model()
    field_names = {f.name for f in User._meta.concrete_fields}
    if "is_admin" in field_names:  # a user model without PermissionsMixin
        staff, superuser = fields.pop("is_staff", False), fields.pop("is_superuser", False)
        fields["is_admin"] = bool(staff or superuser)
    if User.USERNAME_FIELD == "email":
        fields.pop("email", None)
        return User._default_manager.create_user(email=login_name(username), password="pw", **fields)
    return User._default_manager.create_user(username=username, password="pw", **fields)


def has_groups() -> bool:
    """Whether the site's user model has auth groups (``PermissionsMixin``)."""
    from notifications.users import groups_field

    return groups_field() is not None


def group(name: str, *members: Any) -> Group:
    """A group of ``members``. On a user model without groups, a test that
    puts users in a group does not apply: it is skipped, saying why."""
    if members and not has_groups():
        pytest.skip(f"{get_user_model()._meta.label} has no groups (no PermissionsMixin)")
    instance = Group.objects.create(name=name)
    if members:
        instance.user_set.add(*members)
    return instance


def wire(pk: Any) -> Any:
    """A primary key as a JSON frame carries it."""
    return pk if isinstance(pk, int) else str(pk)


def room(slug: str = "general", *, private: bool = False, members: tuple[Any, ...] = ()) -> Any:
    from chat.services import room_create

    return room_create(name=slug.title(), slug=slug, is_private=private, members=members)
