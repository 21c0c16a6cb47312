"""Extension hooks for downstream packages, as in django-notifications-community.

With nothing registered each hook is a no-op. Register from AppConfig.ready():
``register_queryset_filter(fn)`` where ``fn(queryset, request)`` returns a
queryset; ``register_cache_key_modifier(fn)`` where ``fn(base_key, user,
request)`` returns a key; ``register_cache_invalidation_keys(fn)`` where
``fn(user, request)`` returns extra keys to drop on every change.
"""

from collections.abc import Callable, Iterable
from typing import Any

_queryset_filters: list[Callable[[Any, Any], Any]] = []
_cache_key_modifiers: list[Callable[[str, Any, Any], str]] = []
_cache_invalidation_keys: list[Callable[[Any, Any], Iterable[str]]] = []


def register_queryset_filter(fn: Callable[[Any, Any], Any]) -> None:
    _queryset_filters.append(fn)


def has_queryset_filters() -> bool:
    return bool(_queryset_filters)


def apply_queryset_filters(queryset: Any, request: Any) -> Any:
    for fn in _queryset_filters:
        queryset = fn(queryset, request)
    return queryset


def register_cache_key_modifier(fn: Callable[[str, Any, Any], str]) -> None:
    _cache_key_modifiers.append(fn)


def derive_cache_key(base_key: str, user: Any, request: Any = None) -> str:
    for fn in _cache_key_modifiers:
        base_key = fn(base_key, user, request)
    return base_key


def register_cache_invalidation_keys(fn: Callable[[Any, Any], Iterable[str]]) -> None:
    _cache_invalidation_keys.append(fn)


def collect_invalidation_keys(user: Any, request: Any = None) -> list[str]:
    keys: list[str] = []
    for fn in _cache_invalidation_keys:
        keys.extend(fn(user, request))
    return keys
