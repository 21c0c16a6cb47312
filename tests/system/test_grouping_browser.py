"""Grouping and seen in Chromium: comments on one task are one entry that
updates in place, marking it read clears every row, and opening the bell
clears the unseen badge in every tab."""

import pytest

from notifications.models import Notification
from notifications.signals import notify
from project.models import Task
from tests import factories
from tests.conftest import browser_login
from tests.system.test_browser import badge, connected, wait_badge

pytestmark = [pytest.mark.browser, pytest.mark.daphne, pytest.mark.redis]


def test_five_comments_by_three_users_on_one_task_are_one_entry_that_updates_in_place(daphne, new_page, redis_layer):
    alice = factories.user("alice")
    bob, carol, dave = factories.user("bob"), factories.user("carol"), factories.user("dave")
    task = Task.objects.create(title="Design doc", created_by=alice, assignee=alice)
    # This test process sends, so the server hears it through Redis.
    server = daphne(redis_url=redis_layer)
    inbox = new_page()
    browser_login(inbox, server, "alice")
    inbox.goto(server.url + "/notifications/groups/")
    connected(inbox)

    for count, actor in enumerate((bob, carol, bob, dave, carol), start=1):
        notify.send(actor, recipient=alice, verb="commented on", target=task)
        inbox.wait_for_selector(f".nf-notice[data-group-count='{count}']", timeout=4000)
        assert len(inbox.query_selector_all(".nf-notice")) == 1

    title = inbox.inner_text(".nf-notice .nf-notice-title")
    assert title == "carol, dave, bob and 2 others commented on Design doc"
    # The same entry after a reload, rendered by the server's template.
    inbox.reload()
    connected(inbox)
    assert " ".join(inbox.inner_text(".nf-notice .nf-notice-title").split()) == title
    assert inbox.get_attribute(".nf-notice", "data-group-count") == "5"

    inbox.click(".nf-notice [data-action=mark_read]")
    inbox.wait_for_selector(".nf-notice[data-unread=false]", timeout=2000)
    assert Notification.objects.filter(recipient=alice, unread=True).count() == 0
    assert Notification.objects.filter(recipient=alice).count() == 5


def test_opening_the_bell_clears_the_unseen_badge_in_every_tab_but_not_unread(daphne, new_page, redis_layer):
    alice, bob = factories.user("alice"), factories.user("bob")
    # This test process sends, so the server hears it through Redis.
    server = daphne(redis_url=redis_layer)
    tab = new_page()
    browser_login(tab, server, "alice")
    other = tab.context.new_page()
    other.goto(server.url + "/")
    connected(tab)
    connected(other)

    for _ in range(3):
        notify.send(bob, recipient=alice, verb="pinged")
    for page in (tab, other):
        wait_badge(page, "3", timeout=4000)
    # Three pings are one entry in the bell.
    tab.click("[data-notifications-toggle]")
    tab.wait_for_selector(".nf-item[data-group-count='3']", timeout=2000)
    assert len(tab.query_selector_all(".nf-item")) == 1
    for page in (tab, other):
        wait_badge(page, "0")
    assert Notification.objects.filter(seen_at__isnull=True).count() == 0
    assert Notification.objects.filter(unread=True).count() == 3
    other.reload()
    connected(other)
    assert badge(other) == "0"
