"""The preferences page in a real browser: reached from the bell, saved in
one tab and shown in the other, and obeyed by the next email."""

import time

import pytest

from notifications.models import Delivery
from notifications.outbound.services import deliveries_send_due
from notifications.signals import notify
from tests import factories
from tests.conftest import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.daphne]

EMAIL_SELECT = "select[data-preference='default:email']"


def connected(page):
    page.wait_for_selector("[data-notifications-bell][data-connected=true]", state="attached")


def settled(timeout=10.0):
    """Wait until no delivery is pending or being sent (this process or the server's ticker)."""
    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(state__in=["pending", "sending"]).exists():
        assert time.monotonic() < deadline, "deliveries still pending"
        deliveries_send_due()
        time.sleep(0.05)


def test_a_preference_saved_in_one_tab_shows_in_the_other_and_only_a_critical_email_gets_through(
    daphne, new_page, smtp
):
    alice = factories.user("alice", email="alice@example.com")
    bob = factories.user("bob")
    server = daphne(NOTIFICATIONS_CHANNELS="email", EMAIL_HOST=smtp.host, EMAIL_PORT=str(smtp.port))
    page = new_page()
    browser_login(page, server, "alice")
    other = page.context.new_page()
    other.goto(server.url + "/notifications/preferences/")
    connected(other)
    assert other.input_value(EMAIL_SELECT) == "immediate"

    connected(page)
    page.click("[data-notifications-toggle]")
    page.click("[data-notifications-preferences-link]")
    page.wait_for_selector("[data-notifications-preferences]")
    page.select_option(EMAIL_SELECT, "never")
    page.click("[data-notifications-preferences] button[type=submit]")
    page.wait_for_selector("[data-preferences-saved]")
    assert page.input_value(EMAIL_SELECT) == "never"
    other.wait_for_function(f'document.querySelector("{EMAIL_SELECT}").value === "never"', timeout=5000)

    notify.send(bob, recipient=alice, verb="reset your password", channels={"email": "immediate"})
    settled()
    assert Delivery.objects.get().last_error == "turned off in the recipient's preferences"
    notify.send(bob, recipient=alice, verb="locked your account", channels={"email": "immediate"}, critical=True)
    settled()
    [message] = smtp.wait_for(1)
    assert message["Subject"] == "bob locked your account"
    assert len(smtp.messages) == 1


def test_the_bell_offers_push_alerts_when_the_site_has_a_vapid_key(daphne, new_page):
    from notifications.outbound.webpush import generate_vapid_keys

    factories.user("alice")
    keys = generate_vapid_keys()
    server = daphne(VAPID_PUBLIC_KEY=keys["VAPID_PUBLIC_KEY"], VAPID_PRIVATE_KEY=keys["VAPID_PRIVATE_KEY"])
    page = new_page()
    browser_login(page, server, "alice")
    connected(page)
    button = page.wait_for_selector("[data-notifications-push]:not([hidden])", state="attached")
    assert button.get_attribute("data-subscribed") == "false"
    scope = page.evaluate('navigator.serviceWorker.getRegistration("/notifications/").then((r) => r && r.scope)')
    assert scope == server.url + "/notifications/"


def test_without_a_vapid_key_the_bell_shows_no_push_control(daphne, new_page):
    factories.user("alice")
    server = daphne()
    page = new_page()
    browser_login(page, server, "alice")
    connected(page)
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("[data-notifications-push]", "hidden") is not None
