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


# Headless Chromium has no push service to subscribe with (it would reach
# Google's over the internet), so the page's PushManager.subscribe answers
# with a subscription of the test's local push service: everything else, the
# bell's control, the service worker, the subscription endpoint and the push
# that pywebpush signs and encrypts for those keys, is the real thing.
FAKE_SUBSCRIBE = """
(() => {
  const stored = { current: null };
  const make = (json) => ({
    endpoint: json.endpoint,
    toJSON: () => json,
    unsubscribe: async () => { stored.current = null; return true; },
  });
  PushManager.prototype.getSubscription = async function () { return stored.current; };
  PushManager.prototype.subscribe = async function (options) {
    window.subscribedWith = options;
    stored.current = make(SUBSCRIPTION);
    return stored.current;
  };
})();
"""


def test_the_bell_subscribes_to_push_alerts_and_a_push_reaches_that_subscription(daphne, new_page, settings):
    import json

    from notifications.models import PushSubscription
    from notifications.outbound.webpush import generate_vapid_keys
    from tests.pushservice import b64, start_push_service

    alice, bob = factories.user("alice"), factories.user("bob")
    vapid = generate_vapid_keys("mailto:admin@example.com")
    service, push_server = start_push_service(vapid)
    settings.DJANGO_NOTIFICATIONS_CONFIG = {
        **settings.DJANGO_NOTIFICATIONS_CONFIG,
        "CHANNELS": ["webpush"],
        "WEBPUSH": {**vapid, "PUSH_SERVICES": [service.origin]},
    }
    try:
        browser = service.subscribe("chromium")
        subscription = {"endpoint": browser.endpoint, "expirationTime": None, "keys": browser.keys}
        server = daphne(
            NOTIFICATIONS_PUSH_SERVICES=service.origin,
            NOTIFICATIONS_CHANNELS="webpush",
            VAPID_PUBLIC_KEY=vapid["VAPID_PUBLIC_KEY"],
            VAPID_PRIVATE_KEY=vapid["VAPID_PRIVATE_KEY"],
        )
        page = new_page()
        page.context.grant_permissions(["notifications"], origin=server.url)
        page.add_init_script(FAKE_SUBSCRIBE.replace("SUBSCRIPTION", json.dumps(subscription)))
        browser_login(page, server, "alice")
        connected(page)
        button = page.wait_for_selector("[data-notifications-push]:not([hidden])", state="attached")
        page.click("[data-notifications-toggle]")
        button.click()
        page.wait_for_selector("[data-notifications-push][data-subscribed=true]", state="attached")
        # The browser was asked for a subscription to the site's own key.
        key = page.evaluate("Array.from(window.subscribedWith.applicationServerKey)")
        assert b64(bytes(key)) == vapid["VAPID_PUBLIC_KEY"].rstrip("=")
        stored = PushSubscription.objects.get()
        assert (stored.user_id, stored.endpoint) == (alice.pk, browser.endpoint)

        [(_, [notice])] = notify.send(bob, recipient=alice, verb="pinged", channels={"webpush": "immediate"})
        settled()
        assert service.rejected == []
        [(path, payload)] = service.received
        assert (path, payload["id"], payload["title"]) == ("/push/chromium", notice.pk, "bob pinged")

        button.click()
        page.wait_for_selector("[data-notifications-push][data-subscribed=false]", state="attached")
        deadline = time.monotonic() + 5
        while PushSubscription.objects.exists():
            assert time.monotonic() < deadline, "the subscription was not deleted"
            time.sleep(0.05)
    finally:
        push_server.shutdown()
        push_server.server_close()
