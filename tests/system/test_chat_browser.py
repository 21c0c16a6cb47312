"""Chat in a real browser: alice and bob in the private room `team`."""

import pytest

from tests import factories
from tests.conftest import browser_login
from tests.system.test_browser import connected, wait_badge

pytestmark = [pytest.mark.browser, pytest.mark.daphne]

MESSAGES = "[data-testid=messages]"


def open_room(page, server, slug):
    page.goto(f"{server.url}/chat/{slug}/")
    page.wait_for_selector("[data-testid=online] li", state="attached")


def send(page, text):
    page.fill("#chat-room textarea", text)
    page.press("#chat-room textarea", "Enter")


def wait_message(page, text, timeout=5000):
    page.wait_for_function(
        "([sel, text]) => [...document.querySelectorAll(sel + ' li[data-id] .chat-body')]"
        ".some((el) => el.textContent === text)",
        arg=[MESSAGES, text],
        timeout=timeout,
    )


def test_alice_and_bob_chat_in_team(daphne, new_page):
    alice, bob = factories.user("alice"), factories.user("bob")
    factories.room("team", private=True, members=(alice, bob))
    server = daphne()
    alice_page, bob_page = new_page(), new_page()
    browser_login(alice_page, server, "alice")
    browser_login(bob_page, server, "bob")
    open_room(alice_page, server, "team")
    open_room(bob_page, server, "team")
    connected(alice_page)
    alice_page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=online] li').length === 2", timeout=2000
    )

    # Nothing older to load in a new room.
    assert not alice_page.is_visible("[data-role=older]")

    # Each sees the other's message live (the page has no other way to get it).
    send(alice_page, "hello bob")
    wait_message(bob_page, "hello bob")
    send(bob_page, "hi alice")
    wait_message(alice_page, "hi alice")

    # Typing shows on the other side, and clears itself.
    bob_page.type("#chat-room textarea", "thinking")
    alice_page.wait_for_function(
        "() => document.querySelector('[data-testid=typing]').textContent === 'bob is typing…'", timeout=3000
    )
    alice_page.wait_for_function(
        "() => document.querySelector('[data-testid=typing]').textContent === ''", timeout=6000
    )
    bob_page.fill("#chat-room textarea", "")

    # A mention raises alice's notification badge.
    wait_badge(alice_page, "0")
    send(bob_page, "@alice look at this")
    wait_badge(alice_page, "1", timeout=2000)

    # Markup is shown as text, never run.
    dialogs = []
    alice_page.on("dialog", lambda dialog: dialogs.append(dialog) or dialog.dismiss())
    send(bob_page, "<img src=x onerror=alert(1)>")
    wait_message(alice_page, "<img src=x onerror=alert(1)>")
    assert alice_page.query_selector(f"{MESSAGES} img") is None
    assert bob_page.query_selector(f"{MESSAGES} img") is None
    alice_page.wait_for_timeout(300)
    assert dialogs == []

    # The room list shows the last message, as text, and no unread for alice.
    alice_page.goto(server.url + "/chat/")
    row = alice_page.wait_for_selector("[data-room=team] .chat-last")
    assert row.text_content() == "bob: <img src=x onerror=alert(1)>"


def test_a_non_member_gets_404_for_a_private_room(daphne, new_page):
    alice, bob = factories.user("alice"), factories.user("bob")
    factories.user("carol")
    factories.room("team", private=True, members=(alice, bob))
    server = daphne()
    page = new_page()
    browser_login(page, server, "carol")
    response = page.goto(server.url + "/chat/team/")
    assert response.status == 404
    page.goto(server.url + "/chat/")
    assert page.query_selector("[data-room=team]") is None


def test_the_room_list_counts_unread_messages_live(daphne, new_page, alice, bob):
    factories.room("general")
    server = daphne()
    alice_page, bob_page = new_page(), new_page()
    browser_login(alice_page, server, "alice")
    browser_login(bob_page, server, "bob")
    alice_page.goto(server.url + "/chat/")
    alice_page.wait_for_selector("[data-room=general]")
    open_room(bob_page, server, "general")
    send(bob_page, "one")
    send(bob_page, "two")
    alice_page.wait_for_function(
        "() => document.querySelector('[data-room=general] [data-testid=unread]').textContent === '2'",
        timeout=2000,
    )
    # Reading the room in another tab clears the count in the list.
    room_tab = alice_page.context.new_page()
    open_room(room_tab, server, "general")
    alice_page.wait_for_function(
        "() => document.querySelector('[data-room=general] [data-testid=unread]').hidden", timeout=2000
    )
