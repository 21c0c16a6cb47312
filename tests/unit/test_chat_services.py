"""Chat services and selectors: posting, idempotency, history, membership,
unread counts and mentions."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import selectors, services
from chat.models import Message, Presence
from notifications.swappable import load_notification_model
from tests import factories

# The site's notification model (tests/shapes swaps one in).
Notification = load_notification_model()

pytestmark = pytest.mark.django_db


def post(room, author, body="hi", client_id=None):
    post.n = getattr(post, "n", 0) + 1
    return services.message_post(room=room, author=author, body=body, client_id=client_id or f"c{post.n}")[0]


@pytest.mark.parametrize("slug", ["Upper", "has space", "under_score", "x" * 51, "", "ünï"])
def test_a_bad_slug_is_refused(alice, slug):
    with pytest.raises(ValidationError) as caught:
        services.room_create(name="Room", slug=slug, created_by=alice)
    assert "slug" in caught.value.message_dict


def test_a_taken_slug_is_refused(alice):
    factories.room("general")
    with pytest.raises(ValidationError):
        services.room_create(name="Again", slug="general", created_by=alice)


def test_a_private_room_creator_is_a_member(alice, bob):
    room = services.room_create(name="Secret", slug="secret", is_private=True, created_by=alice, members=[bob])
    assert set(room.members.all()) == {alice, bob}


def test_a_resend_with_the_same_client_id_stores_nothing_new(alice):
    room = factories.room()
    first, created = services.message_post(room=room, author=alice, body="hello", client_id="abc")
    again, created_again = services.message_post(room=room, author=alice, body="hello", client_id="abc")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Message.objects.count() == 1


def test_client_ids_are_per_author(alice, bob):
    room = factories.room()
    services.message_post(room=room, author=alice, body="a", client_id="same")
    services.message_post(room=room, author=bob, body="b", client_id="same")
    assert Message.objects.count() == 2


@pytest.mark.parametrize("body", ["", "   \n", "x" * 2001])
def test_an_empty_or_too_long_body_is_refused(alice, body):
    room = factories.room()
    with pytest.raises(ValidationError):
        services.message_post(room=room, author=alice, body=body, client_id="x")
    assert not Message.objects.exists()


def test_the_length_limit_is_a_setting(alice, settings):
    settings.CHAT_CONFIG = {"MAX_MESSAGE_LENGTH": 5}
    room = factories.room()
    with pytest.raises(ValidationError):
        services.message_post(room=room, author=alice, body="123456", client_id="x")
    services.message_post(room=room, author=alice, body="12345", client_id="y")


def test_a_non_member_cannot_post_read_or_see_a_private_room(alice, bob):
    carol = factories.user("carol")
    room = factories.room("team", private=True, members=(alice, bob))
    with pytest.raises(services.RoomNotFound):
        services.message_post(room=room, author=carol, body="hi", client_id="x")
    with pytest.raises(services.RoomNotFound):
        services.read_mark(room=room, user=carol, last_id=1)
    assert selectors.room_for_user(user=carol, slug="team") is None
    assert selectors.room_for_user(user=carol, slug="missing") is None
    assert selectors.room_for_user(user=bob, slug="team") == room
    assert [r["slug"] for r in selectors.room_list(user=carol)] == []


def test_history_pages_back_with_has_more(alice):
    room = factories.room()
    ids = [post(room, alice, f"m{i}").pk for i in range(120)]
    first = selectors.message_history(room=room)
    assert [m["id"] for m in first["messages"]] == ids[-50:]
    assert first["has_more"] is True
    second = selectors.message_history(room=room, before=ids[-50])
    assert [m["id"] for m in second["messages"]] == ids[-100:-50]
    third = selectors.message_history(room=room, before=ids[-100])
    assert [m["id"] for m in third["messages"]] == ids[:20]
    assert third["has_more"] is False


def test_history_is_only_the_rooms_own(alice):
    general, other = factories.room("general"), factories.room("other")
    post(other, alice, "elsewhere")
    mine = post(general, alice, "here")
    assert [m["id"] for m in selectors.message_history(room=general)["messages"]] == [mine.pk]


def test_unread_counts_follow_the_read_position(alice, bob):
    room = factories.room()
    post(room, alice, "mine does not count")
    first = post(room, bob, "one")
    last = post(room, bob, "two")
    [listed] = selectors.room_list(user=alice)
    assert listed["unread_count"] == 2
    assert listed["last_message"]["id"] == last.pk
    assert services.read_mark(room=room, user=alice, last_id=first.pk) == (first.pk, 1)
    # Never backwards, never past the newest message.
    assert services.read_mark(room=room, user=alice, last_id=0) == (first.pk, 1)
    assert services.read_mark(room=room, user=alice, last_id=10**12) == (last.pk, 0)
    assert selectors.room_list(user=alice)[0]["unread_count"] == 0


def test_the_room_list_costs_the_same_queries_for_any_number_of_rooms(alice, bob):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            selectors.room_list(user=alice)
        return len(captured)

    room = factories.room("r0")
    post(room, bob)
    few = queries()
    for i in range(1, 8):
        room = factories.room(f"r{i}", private=bool(i % 2), members=(alice, bob))
        post(room, bob)
    assert queries() == few
    assert len(selectors.room_list(user=alice)) == 8


def test_a_mention_notifies_with_the_room_as_target(alice, bob):
    room = factories.room()
    message = post(room, alice, f"hey @{bob.get_username()}, and @{alice.get_username()} and @nobody.")
    [notification] = Notification.objects.all()
    assert notification.recipient == bob
    assert notification.actor == alice
    assert notification.target == room
    assert notification.verb == "mentioned you in"
    assert notification.data == {"chat_message": message.pk}


def test_a_mention_in_a_private_room_notifies_members_only(alice, bob):
    factories.user("carol")
    room = factories.room("team", private=True, members=(alice, bob))
    post(room, alice, f"@{bob.get_username()} @{factories.login_name('carol')} look")
    assert [n.recipient for n in Notification.objects.all()] == [bob]


def test_mentions_parse_like_usernames(alice):
    room = factories.room()
    names = {factories.login_name(name) for name in ("bob", "b.o-b+", "x_y")}
    for name in ("bob", "b.o-b+", "x_y", "mail"):
        factories.user(name)
    bob, dotted, underscored = (factories.login_name(name) for name in ("bob", "b.o-b+", "x_y"))
    message = post(room, alice, f"@{bob}: @{dotted}. hi@{factories.login_name('mail')} @{underscored}")
    assert {u.get_username() for u in selectors.message_mentions(message=message)} == names


def test_presence_counts_a_user_once_while_any_tab_is_open(alice):
    room = factories.room()
    assert services.presence_enter(room=room, user=alice, connection="tab1") is True
    assert services.presence_enter(room=room, user=alice, connection="tab2") is False
    assert [u["username"] for u in selectors.online_users(room=room)] == [alice.get_username()]
    assert services.presence_leave(connection="tab1") is None
    assert services.presence_leave(connection="tab2") == (room.pk, alice.pk)
    assert selectors.online_users(room=room) == []
    assert services.presence_leave(connection="tab2") is None


def test_entries_that_stop_being_refreshed_expire(alice, bob):
    room = factories.room()
    services.presence_enter(room=room, user=alice, connection="alive")
    services.presence_enter(room=room, user=bob, connection="crashed")
    Presence.objects.filter(connection="crashed").update(seen_at=timezone.now() - timedelta(seconds=61))
    assert [u["username"] for u in selectors.online_users(room=room)] == [alice.get_username()]
    services.presence_refresh(connections=["alive"])
    assert services.presence_expire() == [(room.pk, bob.pk)]
    assert list(Presence.objects.values_list("connection", flat=True)) == ["alive"]


@pytest.mark.parametrize(
    ("config", "named"),
    [({"MAX_MESSAGE_LENGTH": 0}, "MAX_MESSAGE_LENGTH"), ({"HISTORY_PAGE": 5}, "HISTORY_PAGE"), ("50", "CHAT_CONFIG")],
)
def test_a_bad_chat_config_names_the_setting(settings, config, named):
    from django.core.exceptions import ImproperlyConfigured

    from chat.conf import conf

    settings.CHAT_CONFIG = config
    with pytest.raises(ImproperlyConfigured, match=named):
        assert conf.max_message_length


@pytest.mark.parametrize("value", [-1, 5, "3", True])
def test_the_abuse_cooldown_must_fit_in_a_handshake(settings, value):
    from django.core.exceptions import ImproperlyConfigured

    from chat.conf import conf as chat_conf
    from notifications.conf import conf as notifications_conf

    settings.CHAT_CONFIG = {"ABUSE_COOLDOWN_SECONDS": value}
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"ABUSE_COOLDOWN_SECONDS": value}
    for conf in (chat_conf, notifications_conf):
        with pytest.raises(ImproperlyConfigured, match="ABUSE_COOLDOWN_SECONDS"):
            assert conf.abuse_cooldown_seconds
    settings.CHAT_CONFIG = settings.DJANGO_NOTIFICATIONS_CONFIG = {"ABUSE_COOLDOWN_SECONDS": 0}
    assert chat_conf.abuse_cooldown_seconds == notifications_conf.abuse_cooldown_seconds == 0
