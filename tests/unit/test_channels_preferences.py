"""Preferences per category and channel: the page, its JSON, the admin, and
the socket frame that keeps an open tab in step."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from notifications.models import ChannelPreference
from notifications.outbound.services import deliveries_send_due
from notifications.signals import notify

pytestmark = pytest.mark.django_db

CONFIG = {
    "CHANNELS": ["email", "webpush"],
    "CATEGORIES": {"mentions": {"label": "Mentions", "verbs": ["mentioned you in"]}},
}


@pytest.fixture(autouse=True)
def channels_on(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = dict(CONFIG)


def test_the_page_shows_every_category_and_channel_and_saves_a_choice(client, alice):
    client.force_login(alice)
    page = client.get("/notifications/preferences/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="mentions:email"' in html and 'name="default:webpush"' in html
    assert '<option value="daily">Daily digest</option>' in html
    webpush = html[html.index('name="default:webpush"') :].split("</select>")[0]
    assert "hourly" not in webpush  # digests are email only

    saved = client.post("/notifications/preferences/", {"mentions:email": "daily", "default:webpush": "never"})
    assert saved.status_code == 302 and saved["Location"] == "/notifications/preferences/?saved=1"
    choices = set(ChannelPreference.objects.filter(user=alice).values_list("category", "channel", "frequency"))
    assert choices == {("mentions", "email", "daily"), ("default", "webpush", "never")}
    assert b'<option value="daily" selected>' in client.get("/notifications/preferences/?saved=1").content


def test_the_page_needs_a_login_and_csrf_and_rejects_bad_choices(alice):
    assert Client().get("/notifications/preferences/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/notifications/preferences/", {"default:email": "never"}).status_code == 403
    client = Client()
    client.force_login(alice)
    bad = client.post("/notifications/preferences/", {"default:webpush": "hourly", "nope:email": "never"})
    assert bad.status_code == 400
    assert b"webpush cannot be set to &#x27;hourly&#x27;" in bad.content and b"Unknown category" in bad.content
    assert not ChannelPreference.objects.exists()


def test_the_json_endpoint_reads_and_writes(client, alice):
    assert client.get("/notifications/api/preferences/").status_code == 401
    client.force_login(alice)
    data = client.get("/notifications/api/preferences/").json()
    assert [c["name"] for c in data["channels"]] == ["email", "webpush"]
    assert data["categories"][1] == {
        "name": "mentions",
        "label": "Mentions",
        "frequencies": {"email": "immediate", "webpush": "immediate"},
    }
    changed = client.post(
        "/notifications/api/preferences/", json.dumps({"mentions:email": "hourly"}), content_type="application/json"
    )
    assert changed.status_code == 200
    assert changed.json()["categories"][1]["frequencies"]["email"] == "hourly"
    bad = client.post("/notifications/api/preferences/", "[1]", content_type="application/json")
    assert bad.status_code == 400 and "category" in bad.json()["error"]
    assert client.post("/notifications/api/preferences/", "{", content_type="application/json").status_code == 400


def test_the_admin_change_goes_through_the_service(admin_client, alice):
    response = admin_client.post(
        "/admin/notifications/channelpreference/add/",
        {"user": alice.pk, "category": "mentions", "channel": "email", "frequency": "never"},
    )
    assert response.status_code == 302, response.content
    assert ChannelPreference.objects.get(user=alice).frequency == "never"


def test_failed_deliveries_are_listed_in_the_admin(admin_client, smtp, settings, alice, bob):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {**CONFIG, "DELIVERY_MAX_ATTEMPTS": 1}
    alice.email = "alice@example.com"
    alice.save()
    smtp.refuse = True
    notify.send(bob, recipient=alice, verb="pinged", channels={"email": "immediate"})
    assert len(deliveries_send_due().failed) == 1
    page = admin_client.get("/admin/notifications/delivery/?state__exact=failed")
    assert page.status_code == 200 and b"Failed" in page.content and b"pinged" not in page.content
    assert b"1 delivery" in page.content
