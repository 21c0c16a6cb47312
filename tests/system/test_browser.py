"""What a person sees in a real browser: the live bell, toasts, tabs that
agree, recovery of a dropped push, and user text shown as text."""

import pytest

from notifications.models import Notification
from notifications.signals import notify
from tests import factories
from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.daphne]

BADGE = "[data-notifications-badge]"


def badge(page):
    return page.eval_on_selector(BADGE, "el => el.hidden ? '0' : el.textContent")


def wait_badge(page, value, timeout=2000):
    page.wait_for_function(
        "([sel, value]) => { const el = document.querySelector(sel);"
        " return (el.hidden ? '0' : el.textContent) === value; }",
        arg=[BADGE, value],
        timeout=timeout,
    )


def connected(page):
    page.wait_for_selector("[data-notifications-bell][data-connected=true]", state="attached")


def test_an_assigned_task_raises_the_badge_and_a_toast_and_reading_it_clears_every_tab(daphne, new_page):
    factories.user("alice")
    factories.user("bob")
    server = daphne()
    alice_tab, bob_tab = new_page(), new_page()
    browser_login(alice_tab, server, "alice")
    browser_login(bob_tab, server, "bob")
    alice_second_tab = alice_tab.context.new_page()
    alice_second_tab.goto(server.url + "/")
    for page in (alice_tab, alice_second_tab):
        connected(page)
        assert badge(page) == "0"

    bob_tab.fill("#id_title", "Review the <b>launch</b> plan")
    bob_tab.select_option("#id_assignee", label="alice")
    bob_tab.click("[data-testid=task-form] button[type=submit]")

    wait_badge(alice_tab, "1", timeout=2000)
    toast = alice_tab.wait_for_selector(".nf-toast", timeout=2000)
    assert toast.inner_text().startswith("bob assigned you Review the <b>launch</b> plan")
    assert alice_tab.query_selector(".nf-toast b") is None  # text, not markup
    assert alice_tab.get_attribute("[data-notifications-toasts]", "aria-live") == "polite"
    wait_badge(alice_second_tab, "1")

    # A page loaded after the push shows it in its list but does not toast it again.
    alice_tab.goto(server.url + "/notifications/")
    connected(alice_tab)
    alice_tab.wait_for_timeout(500)
    assert alice_tab.query_selector(".nf-toast") is None
    assert alice_tab.inner_text(".nf-notice-title").startswith("bob assigned you")

    # Alice reads it from the dropdown of her second tab; the first tab follows.
    alice_second_tab.click("[data-notifications-toggle]")
    alice_second_tab.click(".nf-item[data-unread=true] .nf-item-action")
    wait_badge(alice_second_tab, "0")
    wait_badge(alice_tab, "0")


def test_a_dropped_push_reaches_the_page_within_a_heartbeat(daphne, new_page, alice, bob):
    server = daphne(NOTIFICATIONS_HEARTBEAT_SECONDS="1")
    page = new_page()
    browser_login(page, server, "alice")
    connected(page)
    # Stored without a push, as if the channel layer had dropped it.
    Notification.objects.create(recipient=alice, actor=bob, verb="sent a dropped message")
    wait_badge(page, "1", timeout=4000)
    page.click("[data-notifications-toggle]")
    page.wait_for_selector(".nf-item:has-text('sent a dropped message')", timeout=2000)


def test_a_dropped_push_reaches_the_page_with_the_next_push(daphne, new_page, alice, bob, redis_layer):
    # No heartbeat within the test: only the next push can reveal the drop.
    server = daphne(redis_url=redis_layer, NOTIFICATIONS_HEARTBEAT_SECONDS="300")
    page = new_page()
    browser_login(page, server, "alice")
    connected(page)
    Notification.objects.create(recipient=alice, actor=bob, verb="sent a dropped message")
    notify.send(bob, recipient=alice, verb="sent a later message")
    # The later push says 2 unread where the page expected 1: it syncs.
    wait_badge(page, "2", timeout=2000)
    page.click("[data-notifications-toggle]")
    page.wait_for_selector(".nf-item:has-text('sent a dropped message')", timeout=2000)
    page.wait_for_selector(".nf-item:has-text('sent a later message')", timeout=2000)


def test_the_inbox_page_is_live(daphne, new_page, alice, bob, redis_layer):
    server = daphne(redis_url=redis_layer)
    page = new_page()
    browser_login(page, server, "alice")
    page.goto(server.url + "/notifications/")
    connected(page)
    assert page.inner_text("[data-notifications-inbox-list]").strip() == "No notifications."
    notify.send(bob, recipient=alice, verb="posted", description="<script>window.pwned=1</script>")
    item = page.wait_for_selector(".nf-notice", timeout=4000)
    assert "<script>window.pwned=1</script>" in item.inner_text()
    assert page.evaluate("window.pwned") is None
    item.query_selector("[data-action=mark_read]").click()
    page.wait_for_selector(".nf-notice[data-unread=false]", timeout=2000)
    assert Notification.objects.get().unread is False


def test_an_admin_announcement_appears_live_and_a_dismiss_clears_every_tab(daphne, new_page):
    factories.user("admin", is_staff=True, is_superuser=True)
    factories.user("alice")
    server = daphne()
    admin_page, alice_page = new_page(), new_page()
    browser_login(admin_page, server, "admin")
    browser_login(alice_page, server, "alice")
    alice_other_tab = alice_page.context.new_page()
    alice_other_tab.goto(server.url + "/")
    for page in (alice_page, alice_other_tab):
        connected(page)

    admin_page.goto(server.url + "/admin/notifications/announcement/add/")
    admin_page.fill("#id_title", "Deploy at <noon>")
    admin_page.fill("#id_body", "Details: https://example.com/deploy <img src=x onerror=window.pwned=1>")
    admin_page.select_option("#id_level", "warning")
    admin_page.click("[data-testid=save-and-publish]")
    admin_page.wait_for_selector(".messagelist .success")

    banner = alice_page.wait_for_selector(".nf-announcement.nf-level-warning", timeout=2000)
    assert banner.query_selector(".nf-announcement-title").inner_text() == "Deploy at <noon>"
    link = banner.query_selector(".nf-announcement-body a")
    assert link.get_attribute("href") == "https://example.com/deploy"
    assert banner.query_selector("img") is None and alice_page.evaluate("window.pwned") is None
    wait_badge(alice_page, "1")
    alice_other_tab.wait_for_selector(".nf-announcement")

    banner.query_selector("[data-dismiss]").click()
    alice_page.wait_for_selector(".nf-announcement", state="detached", timeout=2000)
    alice_other_tab.wait_for_selector(".nf-announcement", state="detached", timeout=2000)
    wait_badge(alice_other_tab, "0")
    alice_page.reload()
    assert alice_page.query_selector(".nf-announcement") is None


def test_an_expired_announcement_leaves_open_pages_without_a_reload(daphne, new_page, alice):
    from datetime import timedelta

    from django.utils import timezone

    from notifications import services

    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")  # the slow part, before the announcement's clock starts
    services.announcement_create(
        title="Brief", publish_at=timezone.now(), expires_at=timezone.now() + timedelta(seconds=5)
    )
    page.goto(server.url + "/")
    page.wait_for_selector(".nf-announcement")
    page.wait_for_selector(".nf-announcement", state="detached", timeout=10_000)


def test_django_notifications_callbacks_are_driven_by_the_socket(daphne, new_page, alice, bob):
    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")
    page.goto(server.url + "/compat/")  # refresh_period 15 s: only the socket can be this quick
    page.wait_for_function("document.querySelector('.live_notify_badge').textContent === '0'")
    bob_page = new_page()
    browser_login(bob_page, server, "bob")
    bob_page.fill("#id_title", "Check the compat page")
    bob_page.select_option("#id_assignee", label="alice")
    bob_page.click("[data-testid=task-form] button[type=submit]")
    page.wait_for_function("document.querySelector('.live_notify_badge').textContent === '1'", timeout=2000)
    assert "bob assigned you" in page.inner_text(".live_notify_list")


def test_django_notifications_callbacks_poll_while_the_socket_is_down(daphne, new_page, alice, bob):
    from notifications.signals import notify

    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")
    page.goto(server.url + "/compat/?refresh_period=1&ws_url=/ws/nowhere/")
    page.wait_for_function("document.querySelector('.live_notify_badge').textContent === '0'")
    notify.send(bob, recipient=alice, verb="polled")
    page.wait_for_function("document.querySelector('.live_notify_badge').textContent === '1'", timeout=4000)


def test_the_dropdown_stays_on_screen_when_the_bell_sits_at_the_left_edge(daphne, new_page, alice):
    server = daphne()
    page = new_page()
    page.set_viewport_size({"width": 800, "height": 600})
    browser_login(page, server, "alice")
    page.wait_for_selector("[data-notifications-bell][data-connected=true]", state="attached")
    page.add_style_tag(content=".nf-bell { position: fixed !important; left: 4px; top: 4px; }")
    page.click("[data-notifications-toggle]")
    box = page.locator(".nf-dropdown").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 800, box
    page.click("[data-notifications-toggle]")

    page.add_style_tag(content=".nf-bell { left: auto; right: 4px; }")
    page.click("[data-notifications-toggle]")
    box = page.locator(".nf-dropdown").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 800, box


def test_the_socket_base_keeps_a_wss_url_and_stop_cancels_a_pending_reconnect(daphne, new_page, alice):
    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")
    result = page.evaluate(
        """async () => {
        const { RealtimeSocket } = await import("/static/notifications/socket.js");
        const { NotificationsClient } = await import("/static/notifications/client.js");
        const schemes = ["wss://example.com/ws/", "ws://example.com/ws/", "/ws/notifications/"].map(
          (url) => new RealtimeSocket(url).url.protocol
        );
        const Original = window.WebSocket;
        let opened = 0;
        window.WebSocket = class extends Original {
          constructor(...args) { super(...args); opened += 1; }
        };
        // Nothing listens on port 9: the first socket closes, a reconnect is scheduled.
        const client = new NotificationsClient("ws://127.0.0.1:9/ws/notifications/", { maxBackoff: 300 });
        client.start();
        await new Promise((resolve) => client.addEventListener("notifications:status", resolve, { once: true }));
        client.stop();
        await new Promise((resolve) => setTimeout(resolve, 800));
        window.WebSocket = Original;
        return { schemes, opened };
      }"""
    )
    assert result == {"schemes": ["wss:", "ws:", "ws:"], "opened": 1}
