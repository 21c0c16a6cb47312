"""The user of each WebSocket handshake, found as Channels' ``AuthMiddleware``
finds it (channels 4.3, ``channels.auth.get_user``), with the handshakes that
wait together looked up together.

Channels' ``get_user`` makes two ORM ``get()`` calls per handshake on the
database thread, the session and then the user: most of a connect storm's
profile after a deploy (docs/benchmarks.md). Here a
handshake that arrives while a lookup runs waits for the next one, which takes
every waiting handshake: their sessions in one query and their users in one.
The rest is per handshake, as Channels does it: decoding the session,
checking its auth hash, and flushing a session whose hash no longer matches.
Each session is left loaded, as after Channels' lookup, so a consumer reads
it without a query.

Sessions are fetched together only from Django's database store as it ships
(``SESSION_ENGINE`` ``db``, or a subclass that loads the same way), and users
only through ``ModelBackend.get_user`` (or a subclass that keeps it). Any
other session store loads itself, and any other backend's ``get_user`` is
called, per handshake. tests/unit/test_auth.py checks every case against
Channels' own ``get_user``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from channels.auth import AuthMiddleware as ChannelsAuthMiddleware
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import LazyObject

from notifications.realtime.batch import Batched

Scope = dict[str, Any]


class AuthMiddleware(ChannelsAuthMiddleware):
    """Channels' ``AuthMiddleware``, with ``scope["user"]`` from
    ``user_of``. Wrap it in Channels' ``CookieMiddleware`` and
    ``SessionMiddleware``, as ``AuthMiddlewareStack`` does."""

    async def resolve_scope(self, scope: Scope) -> None:
        scope["user"]._wrapped = await user_of(scope)


async def user_of(scope: Scope) -> Any:
    """The user of ``scope``'s session, or ``AnonymousUser``, as
    ``channels.auth.get_user`` returns it, looked up with the handshakes
    waiting beside it."""
    return await _batched(scope)


# users_of is looked up at each trip, so that a test can wrap it.
_batched: Batched[Scope] = Batched(lambda scopes: users_of(scopes))


def users_of(scopes: list[Scope]) -> list[Any]:
    """On the database thread: the user of each scope's session, or the
    exception that finding it raised (for that scope alone)."""
    # Auth's models need the app registry, which this module loads before.
    from django.contrib.auth.models import AnonymousUser

    sessions = [scope.get("session") for scope in scopes]
    data = _session_data(sessions)
    found: list[Any] = [None] * len(scopes)
    # (backend path, user id) of each scope whose session names a user.
    wanted: dict[int, tuple[str, Any]] = {}
    for index, values in enumerate(data):
        try:
            if isinstance(values, BaseException):
                raise values
            user_id = get_user_model()._meta.pk.to_python(values[SESSION_KEY])
            backend_path = values[BACKEND_SESSION_KEY]
        except KeyError:
            continue
        except Exception as exc:
            found[index] = exc
            continue
        if backend_path in settings.AUTHENTICATION_BACKENDS:
            wanted[index] = (backend_path, user_id)
    users = _users(wanted)
    for index, user in users.items():
        if isinstance(user, BaseException):
            found[index] = user
            continue
        if hasattr(user, "get_session_auth_hash"):
            session_hash = data[index].get(HASH_SESSION_KEY)
            if not (session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())):
                try:
                    sessions[index].flush()
                except Exception as exc:
                    found[index] = exc
                    continue
                user = None
        found[index] = user
    return [user or AnonymousUser() for user in found]


def _store(session: Any) -> Any:
    # Channels' SessionMiddleware puts the store in a LazyObject.
    return session._wrapped if isinstance(session, LazyObject) else session


def _loads_as_shipped(session: Any) -> bool:
    store = _store(session)
    kind = type(store)
    return (
        isinstance(store, DatabaseSessionStore)
        and kind.load is DatabaseSessionStore.load
        and kind._get_session_from_db is DatabaseSessionStore._get_session_from_db
        and not hasattr(store, "_session_cache")  # not loaded yet
    )


def _loaded(session: Any, data: dict[str, Any] | None) -> dict[str, Any]:
    """Leave the store as its own ``load()`` would (Django 5.2-6.1's
    ``SessionBase._get_session`` and the database store's
    ``_get_session_from_db``): its data cached, and no key when no live row
    was found. A consumer then reads the session without a query, as after
    Channels' ``get_user``; tests/unit/test_auth.py checks it."""
    store = _store(session)
    if data is None:
        store._session_key = None
        data = {}
    store._session_cache = data
    store.accessed = True
    return data


def _session_data(sessions: list[Any]) -> list[Any]:
    """Each session's data (a mapping), or the exception loading it raised.
    Database sessions as shipped in one query per model; others load
    themselves."""
    data: list[Any] = [None] * len(sessions)
    batched: dict[Any, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index, session in enumerate(sessions):
        if session is None:
            data[index] = ValueError(
                "Cannot find session in scope. You should wrap your consumer in SessionMiddleware."
            )
        elif _loads_as_shipped(session):
            key = session.session_key
            if key is None:
                data[index] = {}
            else:
                batched[session.get_model_class()][key].append(index)
        else:
            try:
                session.get(SESSION_KEY)  # loads it, as get_user's first lookup does
                data[index] = session
            except Exception as exc:
                data[index] = exc
    for model, indexes in batched.items():
        try:
            rows = dict(
                model.objects.filter(session_key__in=list(indexes), expire_date__gt=timezone.now()).values_list(
                    "session_key", "session_data"
                )
            )
        except Exception as exc:
            rows, failed = {}, exc
        else:
            failed = None
        for key, at in indexes.items():
            for index in at:
                if failed is not None:
                    data[index] = failed
                elif key in rows:
                    data[index] = _loaded(sessions[index], sessions[index].decode(rows[key]))
                else:
                    data[index] = _loaded(sessions[index], None)
    return data


def _users(wanted: dict[int, tuple[str, Any]]) -> dict[int, Any]:
    """The user (or None, or an exception) for each (backend path, user id):
    one query per ModelBackend as shipped, the backend's ``get_user`` for
    others."""
    users: dict[int, Any] = {}
    by_backend: dict[str, dict[Any, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index, (path, user_id) in wanted.items():
        by_backend[path][user_id].append(index)
    for path, ids in by_backend.items():
        try:
            backend = load_backend(path)
        except Exception as exc:
            users.update({index: exc for at in ids.values() for index in at})
            continue
        if isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user:
            try:
                rows = get_user_model()._default_manager.in_bulk(list(ids))
            except Exception:
                # One id the query cannot take (past the column's range, say)
                # fails only its own handshakes, as get_user's get() would.
                pass
            else:
                for user_id, at in ids.items():
                    user = rows.get(user_id)
                    user = user if user is not None and backend.user_can_authenticate(user) else None
                    users.update(dict.fromkeys(at, user))
                continue
        for user_id, at in ids.items():
            try:
                user = backend.get_user(user_id)
            except Exception as exc:
                user = exc
            users.update(dict.fromkeys(at, user))
    return users
