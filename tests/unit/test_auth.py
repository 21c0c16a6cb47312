"""notifications.realtime.auth: the user of each handshake, as Channels'
``get_user`` finds it, with the handshakes that wait together looked up
together. Every case is checked against Channels' own ``get_user``."""

import asyncio
import threading
from datetime import timedelta
from importlib import import_module

import pytest
from channels.auth import get_user as channels_get_user
from channels.db import database_sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.functional import LazyObject

from notifications.realtime import auth
from tests import factories

DB = "django.contrib.sessions.backends.db"
CACHED_DB = "django.contrib.sessions.backends.cached_db"
MODEL = "django.contrib.auth.backends.ModelBackend"
ALLOW_ALL = "django.contrib.auth.backends.AllowAllUsersModelBackend"
OWN = "tests.unit.test_auth.NamedBackend"


class NamedBackend:
    """A backend with a get_user of its own: it is asked per handshake."""

    def get_user(self, user_id):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.filter(pk=user_id, username__startswith="named").first()


def session_key(user=None, *, engine=DB, backend=MODEL, user_id=None, auth_hash=None, **fields):
    store = import_module(engine).SessionStore()
    if user is not None or user_id is not None:
        store[SESSION_KEY] = user_id if user_id is not None else str(user.pk)
        store[BACKEND_SESSION_KEY] = backend
        store[HASH_SESSION_KEY] = auth_hash if auth_hash is not None else user.get_session_auth_hash()
    store.update(fields)
    store.save(must_create=True)
    return store.session_key


def scope_of(key, engine=DB):
    """A scope as Channels' SessionMiddleware makes it."""
    session = LazyObject()
    session._wrapped = import_module(engine).SessionStore(key)
    return {"session": session}


def channels(key, engine=DB):
    """What Channels' get_user gives, on a scope of its own."""
    try:
        return channels_get_user.func(scope_of(key, engine))
    except Exception as exc:
        return type(exc)


def ours(keys, engine=DB):
    return [
        type(found) if isinstance(found, Exception) else found
        for found in auth.users_of([scope_of(key, engine) for key in keys])
    ]


@pytest.fixture
def backends(settings):
    settings.AUTHENTICATION_BACKENDS = [MODEL, ALLOW_ALL, OWN]


@pytest.fixture
def people(db):
    gone = factories.user()
    people = {
        "carol": factories.user("carol"),
        "inactive": factories.user(is_active=False),
        "named": factories.user("named-dan"),
        "gone": gone,
    }
    gone.delete()
    gone.pk = gone.id = 10**6
    return people


def cases(people, engine):
    """The session key of each case, built afresh for each lookup (a lookup
    may flush a session)."""
    carol, inactive, named = people["carol"], people["inactive"], people["named"]

    def key(*args, **kwargs):
        return session_key(*args, engine=engine, **kwargs)

    expired = key(carol)
    Session.objects.filter(session_key=expired).update(expire_date=timezone.now() - timedelta(seconds=1))
    return {
        "a user": key(carol),
        "no cookie": None,
        "an unknown key": "x" * 32,
        "an anonymous session": key(cart=3),
        "an expired session": expired,
        "a password changed since": key(carol, auth_hash="stale"),
        "an inactive user": key(inactive),
        "an inactive user of a backend that allows them": key(inactive, backend=ALLOW_ALL),
        "a deleted user": key(people["gone"]),
        "a backend no longer configured": key(carol, backend="django.contrib.auth.backends.RemoteUserBackend"),
        "a backend with its own get_user": key(named, backend=OWN),
        "the same user by its own backend's lookup": key(carol, backend=OWN),
        "a user id that is not one": key(user_id="not-a-number", auth_hash="x"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("engine", [DB, CACHED_DB])
def test_every_case_finds_what_channels_finds_in_one_batch(backends, people, engine):
    expected = {name: channels(key, engine) for name, key in cases(people, engine).items()}
    found = dict(zip(expected, ours(list(cases(people, engine).values()), engine), strict=True))
    for name, user in expected.items():
        if isinstance(user, type):
            assert found[name] is user, name
        else:
            assert type(found[name]) is type(user) and found[name].pk == user.pk, name
    assert found["a user"].get_username() == factories.login_name("carol")
    assert found["a user id that is not one"] is ValidationError
    assert isinstance(found["a password changed since"], AnonymousUser)


@pytest.mark.django_db
def test_a_session_whose_user_changed_password_is_flushed_as_channels_does(backends):
    carol = factories.user("carol")
    stale = session_key(carol, auth_hash="stale")
    [found] = ours([stale])
    assert isinstance(found, AnonymousUser)
    assert not Session.objects.filter(session_key=stale).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("handshakes", [1, 40])
def test_database_sessions_and_model_users_cost_two_queries_a_batch(backends, handshakes):
    users = [factories.user() for _ in range(handshakes)]
    keys = [session_key(user) for user in users]
    with CaptureQueriesContext(connection) as queries:
        found = ours(keys)
    assert [user.pk for user in found] == [user.pk for user in users]
    assert len(queries) == 2


@pytest.mark.django_db(transaction=True)
async def test_handshakes_that_arrive_while_a_lookup_runs_go_together_in_the_next(backends, monkeypatch):
    users = await database_sync_to_async(lambda: [factories.user() for _ in range(30)])()
    keys = await database_sync_to_async(lambda: [session_key(user) for user in users])()
    batches, running = [], threading.Event()
    release = threading.Event()
    real = auth.users_of

    def counted(scopes):
        batches.append(len(scopes))
        running.set()
        release.wait(10)
        return real(scopes)

    monkeypatch.setattr(auth, "users_of", counted)
    first = asyncio.ensure_future(auth.user_of(scope_of(keys[0])))
    await asyncio.get_running_loop().run_in_executor(None, running.wait, 10)
    rest = [asyncio.ensure_future(auth.user_of(scope_of(key))) for key in keys[1:]]
    await asyncio.sleep(0)
    release.set()
    found = [await first, *[await handshake for handshake in rest]]
    assert [user.pk for user in found] == [user.pk for user in users]
    assert batches == [1, 29]


@pytest.mark.django_db(transaction=True)
async def test_a_failing_lookup_fails_its_handshakes_and_the_next_ones_go_on(backends, monkeypatch):
    carol = await database_sync_to_async(factories.user)("carol")
    key = await database_sync_to_async(session_key)(carol)
    real = auth.users_of
    monkeypatch.setattr(auth, "users_of", lambda scopes: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        await auth.user_of(scope_of(key))
    monkeypatch.setattr(auth, "users_of", real)
    assert (await auth.user_of(scope_of(key))).pk == carol.pk


@pytest.mark.django_db(transaction=True)
async def test_a_handshake_that_goes_away_does_not_stop_the_others(backends):
    users = await database_sync_to_async(lambda: [factories.user() for _ in range(3)])()
    keys = await database_sync_to_async(lambda: [session_key(user) for user in users])()
    first = asyncio.ensure_future(auth.user_of(scope_of(keys[0])))
    gone = asyncio.ensure_future(auth.user_of(scope_of(keys[1])))
    last = asyncio.ensure_future(auth.user_of(scope_of(keys[2])))
    await asyncio.sleep(0)
    gone.cancel()
    assert [(await first).pk, (await last).pk] == [users[0].pk, users[2].pk]
    assert gone.cancelled()


@pytest.mark.django_db(transaction=True)
async def test_the_stack_in_deployment_md_lets_a_logged_in_user_in_as_written(settings):
    from channels.testing import WebsocketCommunicator

    from tests.unit.test_docs import blocks

    settings.ALLOWED_HOSTS = ["testserver"]
    namespace: dict = {}
    exec(blocks("deployment.md", "python")[1], namespace)
    carol = await database_sync_to_async(factories.user)("carol")
    key = await database_sync_to_async(session_key)(carol)
    headers = [(b"origin", b"http://testserver"), (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode())]
    communicator = WebsocketCommunicator(namespace["application"], "/ws/notifications/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    await communicator.disconnect()


@pytest.mark.django_db
def test_the_session_is_left_loaded_as_channels_leaves_it(backends):
    """After the lookup a consumer reads the session without a query (in
    an async consumer a query would raise), as after Channels' get_user; a
    session with no live row has no key, as its own load() leaves it."""
    carol = factories.user("carol")
    live, gone = scope_of(session_key(carol, cart=3)), scope_of("y" * 32)
    auth.users_of([live, gone])
    with CaptureQueriesContext(connection) as queries:
        assert live["session"]["cart"] == 3
        assert gone["session"].session_key is None and dict(gone["session"].items()) == {}
    assert len(queries) == 0


@pytest.mark.django_db
def test_a_user_id_the_query_cannot_take_fails_alone(backends):
    carol = factories.user("carol")
    if not isinstance(carol.pk, int):
        pytest.skip("an integer out of the column's range: the user model's keys are not integers")
    expected = [channels(session_key(carol)), channels(session_key(user_id=str(10**20), auth_hash="x"))]
    found = ours([session_key(carol), session_key(user_id=str(10**20), auth_hash="x")])
    assert found[0].pk == carol.pk == expected[0].pk
    assert isinstance(found[1], AnonymousUser) and isinstance(expected[1], AnonymousUser)
