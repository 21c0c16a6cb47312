"""The demo's pages at a phone's width (390 px) in Chromium, and the grouped
inbox, which groups as the bell does and opens a group."""

import pytest

from notifications.signals import notify
from project.models import Task
from tests import factories
from tests.conftest import browser_login
from tests.system.test_browser import connected

pytestmark = [pytest.mark.browser, pytest.mark.daphne]

PHONE = {"width": 390, "height": 844}


def fits_the_width(page) -> None:
    """Nothing sticks out sideways: no horizontal scrolling of the page."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def on_screen(page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)


def test_the_demo_works_on_a_390_px_phone(daphne, new_page):
    alice = factories.user("alice")
    bob = factories.user("bob")
    factories.room("general")
    task = Task.objects.create(title="Review the launch plan", created_by=bob, assignee=alice)
    for name in ("carol", "dave", "erin"):
        notify.send(factories.user(name), recipient=alice, verb="commented on", target=task)
    server = daphne()
    page = new_page()
    page.set_viewport_size(PHONE)
    browser_login(page, server, "alice")
    connected(page)
    for path in (
        "/",
        "/notifications/groups/",
        "/notifications/",
        "/chat/",
        "/chat/general/",
        "/notifications/preferences/",
    ):
        page.goto(server.url + path)
        connected(page)
        fits_the_width(page)
        on_screen(page, "[data-notifications-toggle]")
        on_screen(page, ".nav-user form button")  # Log out
    page.click("[data-notifications-toggle]")
    on_screen(page, ".nf-dropdown")
    page.goto(server.url + "/chat/general/")
    on_screen(page, "#chat-room textarea, #chat-room input[type=text]")
    page.click(".nav-user form button")
    page.wait_for_url("**/accounts/login/**")


def test_the_inbox_groups_as_the_bell_does_and_opens_a_group(daphne, new_page):
    alice = factories.user("alice")
    bob = factories.user("bob")
    task = Task.objects.create(title="Design doc", created_by=bob, assignee=alice)
    for name in ("carol", "dave", "erin"):
        notify.send(factories.user(name), recipient=alice, verb="commented on", target=task)
    notify.send(bob, recipient=alice, verb="pinged")
    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")
    page.click("text=Notifications")  # the header's link: the grouped inbox
    connected(page)
    titles = page.eval_on_selector_all(".nf-notice-title", "els => els.map(e => e.textContent.trim())")
    # The task's creation notified alice too (project/live.py).
    assert titles == ["bob pinged", "erin, dave and carol commented on Design doc", "bob assigned you Design doc"]
    times = page.eval_on_selector_all(".nf-notice-time time", "els => els.map(e => e.textContent)")
    assert times == ["just now"] * 3
    page.click("text=Show all 3")
    rows = page.eval_on_selector_all(".nf-notice-title", "els => els.map(e => e.textContent.trim())")
    assert rows == ["erin commented on Design doc", "dave commented on Design doc", "carol commented on Design doc"]
    # Each row of the opened group has its own actions, live over the socket.
    connected(page)
    page.click(".nf-notice[data-unread=true] [data-action=mark_read]")
    page.wait_for_function("() => document.querySelectorAll('.nf-notice[data-unread=true]').length === 2")
