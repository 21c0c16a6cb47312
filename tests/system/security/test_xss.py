"""Markup in user text shows as text in the admin and the JSON, in Chromium.
(The page, toast and banner are proven in tests/system/test_browser.py, chat
messages in tests/system/test_chat_browser.py.)"""

import json

import pytest

from chat.models import Message
from notifications.models import Notification
from notifications.services import announcement_create
from notifications.signals import notify
from tests import factories
from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.daphne]

EVIL = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


def assert_inert(page):
    assert page.evaluate("() => window.pwned") is None
    assert page.query_selector("img[src=x]") is None


def test_markup_is_text_in_the_admin_and_the_json(daphne, new_page):
    admin = factories.user("root", is_staff=True, is_superuser=True)
    alice = factories.user("alice")
    room = factories.room("general")
    notify.send(admin, recipient=alice, verb=EVIL, description=EVIL)
    announcement_create(title=EVIL, body=EVIL)
    Message.objects.create(room=room, author=alice, body=EVIL, client_id="1")
    notification = Notification.objects.get()
    server = daphne()

    page = new_page()
    dialogs = []
    page.on("dialog", lambda dialog: dialogs.append(dialog) or dialog.dismiss())
    browser_login(page, server, "root")
    for path in [
        "/admin/notifications/notification/",
        f"/admin/notifications/notification/{notification.pk}/change/",
        "/admin/notifications/announcement/",
        "/admin/chat/message/",
    ]:
        page.goto(server.url + path)
        assert_inert(page)
        assert "<img src=x" in page.inner_text("body"), path  # shown, as text

    alice_page = new_page()
    browser_login(alice_page, server, "alice")
    response = alice_page.goto(server.url + "/notifications/api/unread_list/")
    assert response.headers["content-type"].startswith("application/json")
    assert_inert(alice_page)
    [item] = json.loads(alice_page.inner_text("body"))["unread_list"]
    assert item["verb"] == EVIL and item["description"] == EVIL
    assert dialogs == []
