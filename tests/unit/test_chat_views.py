"""The chat pages: the room list, creating rooms, room pages and the admin."""

import pytest
from django.test import Client

from chat.models import Message, Room
from tests import factories

pytestmark = pytest.mark.django_db


def logged_in(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_pages_need_a_login(client):
    factories.room("general")
    for url in ("/chat/", "/chat/general/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_room_list_shows_last_messages_and_unread_counts(alice, bob):
    room = factories.room("general")
    Message.objects.create(room=room, author=bob, body="<b>bold</b>", client_id="1")
    Room.objects.filter(pk=room.pk).update(last_message=Message.objects.get())
    page = logged_in(alice).get("/chat/").content.decode()
    assert 'data-room="general"' in page
    assert f"{bob.get_username()}: &lt;b&gt;bold&lt;/b&gt;" in page
    assert '<span class="chat-unread" data-testid="unread">1</span>' in page


def test_a_user_creates_a_public_room(alice):
    response = logged_in(alice).post("/chat/", {"name": "Random", "slug": "random"})
    assert response.status_code == 302 and response["Location"] == "/chat/random/"
    room = Room.objects.get(slug="random")
    assert (room.is_private, room.created_by) == (False, alice)


def test_a_user_creates_a_private_room_with_chosen_members(alice, bob):
    factories.user("carol")
    client = logged_in(alice)
    response = client.post("/chat/", {"name": "Pair", "slug": "pair", "is_private": "on", "members": [bob.pk]})
    assert response.status_code == 302
    room = Room.objects.get(slug="pair")
    assert room.is_private and set(room.members.all()) == {alice, bob}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "X", "slug": "Bad Slug"}, "slug"),
        ({"name": "X", "slug": "x" * 51}, "slug"),
        ({"name": "", "slug": "ok"}, "name"),
        ({"name": "X", "slug": "ok", "is_private": "on", "members": ["999999"]}, "members"),
    ],
)
def test_a_bad_room_is_refused_with_the_reason(alice, data, field):
    response = logged_in(alice).post("/chat/", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Room.objects.exists()


def test_a_taken_slug_is_refused(alice):
    factories.room("general")
    response = logged_in(alice).post("/chat/", {"name": "Again", "slug": "general"})
    assert response.status_code == 400
    assert Room.objects.count() == 1


def test_creating_a_room_needs_a_csrf_token(alice):
    client = logged_in(alice, enforce_csrf_checks=True)
    assert client.post("/chat/", {"name": "X", "slug": "x"}).status_code == 403
    assert not Room.objects.exists()


def test_a_private_room_is_404_to_others_exactly_like_a_missing_one(alice, bob):
    carol = factories.user("carol")
    factories.room("team", private=True, members=(alice, bob))
    client = logged_in(carol)
    private, missing = client.get("/chat/team/"), client.get("/chat/nope/")
    assert private.status_code == missing.status_code == 404
    assert logged_in(bob).get("/chat/team/").status_code == 200


def test_the_room_page_renders_its_socket_and_limits(alice):
    factories.room("general")
    page = logged_in(alice).get("/chat/general/").content.decode()
    assert 'data-socket="/ws/chat/general/"' in page
    assert 'maxlength="2000"' in page


def test_staff_create_a_room_in_the_admin(db):
    admin = factories.user("root", is_staff=True, is_superuser=True)
    alice, bob = factories.user("alice"), factories.user("bob")
    client = logged_in(admin)
    response = client.post(
        "/admin/chat/room/add/",
        {"name": "Ops", "slug": "ops", "is_private": "on", "members": [alice.pk, bob.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    room = Room.objects.get(slug="ops")
    assert set(room.members.all()) == {alice, bob}
    assert client.get("/admin/chat/room/").status_code == 200
    assert client.get(f"/admin/chat/room/{room.pk}/change/").status_code == 200
    Message.objects.create(room=room, author=alice, body="x", client_id="1")
    assert client.get("/admin/chat/message/").status_code == 200
