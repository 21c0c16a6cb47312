"""Small builders for test data."""

from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

_n = count(1)


def user(username: str | None = None, **fields: Any) -> Any:
    username = username or f"user{next(_n)}"
    instance = get_user_model().objects.create_user(username=username, password="pw", **fields)
    return instance


def group(name: str, *members: Any) -> Group:
    instance = Group.objects.create(name=name)
    instance.user_set.add(*members)
    return instance


def room(slug: str = "general", *, private: bool = False, members: tuple[Any, ...] = ()) -> Any:
    from chat.services import room_create

    return room_create(name=slug.title(), slug=slug, is_private=private, members=members)
