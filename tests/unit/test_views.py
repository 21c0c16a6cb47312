"""django-notifications' URLs and JSON shapes, the inbox page, POST-only
writes with CSRF, and safe redirects."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from notifications.signals import notify
from notifications.swappable import load_notification_model
from project.models import Task

# The site's notification model (tests/shapes swaps one in).
Notification = load_notification_model()

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def send(actor, recipient, **kwargs):
    return notify.send(actor, recipient=recipient, **{"verb": "pinged", **kwargs})[0][1][0]


def test_json_endpoints_match_django_notifications(logged_in, alice, bob):
    task = Task.objects.create(title="Review", created_by=bob, assignee=bob)
    first = send(bob, alice, verb="commented on", target=task, description="nice", extra="x")
    second = send(bob, alice)
    second.mark_as_read()
    assert logged_in.get(reverse("notifications:live_unread_notification_count")).json() == {"unread_count": 1}
    assert logged_in.get(reverse("notifications:live_all_notification_count")).json() == {"all_count": 2}
    data = logged_in.get(reverse("notifications:live_unread_notification_list")).json()
    assert data["unread_count"] == 1
    [item] = data["unread_list"]
    assert item["id"] == first.id and item["slug"] == first.slug
    assert item["actor"] == str(bob) and item["target"] == "Review" and item["target_url"] == task.get_absolute_url()
    assert item["verb"] == "commented on" and item["description"] == "nice" and item["data"] == {"extra": "x"}
    # django-notifications-hq 1.8.3's item: model_to_dict() of the row, the
    # slug, and the related objects as text.
    hq_keys = {
        "id",
        "level",
        "recipient",
        "unread",
        "actor_content_type",
        "actor_object_id",
        "verb",
        "description",
        "target_content_type",
        "target_object_id",
        "action_object_content_type",
        "action_object_object_id",
        "timestamp",
        "public",
        "deleted",
        "emailed",
        "data",
        "slug",
        "actor",
        "target",
    }
    assert set(item) >= hq_keys
    user_type = ContentType.objects.get_for_model(type(bob))
    assert (item["recipient"], item["actor_content_type"], item["actor_object_id"]) == (
        str(alice.pk) if not isinstance(alice.pk, int) else alice.pk,
        user_type.pk,
        str(bob.pk),
    )
    assert (item["target_content_type"], item["target_object_id"]) == (
        ContentType.objects.get_for_model(Task).pk,
        str(task.pk),
    )
    assert item["action_object_content_type"] is None and item["action_object_object_id"] is None
    data = logged_in.get(reverse("notifications:live_all_notification_list") + "?max=1").json()
    assert data["all_count"] == 2 and [n["id"] for n in data["all_list"]] == [second.id]
    assert data["all_list"][0]["data"] is None  # as in hq: the key is there, empty


@pytest.mark.parametrize("excluded", [("recipient", "data"), ("actor_object_id",)])
def test_api_excluded_fields_leave_keys_out_of_the_items(logged_in, alice, bob, settings, excluded):
    send(bob, alice, extra="x")
    settings.DJANGO_NOTIFICATIONS_CONFIG = {**settings.DJANGO_NOTIFICATIONS_CONFIG, "API_EXCLUDED_FIELDS": excluded}
    [item] = logged_in.get(reverse("notifications:live_unread_notification_list")).json()["unread_list"]
    assert not set(excluded) & set(item) and "verb" in item


@pytest.mark.parametrize(
    ("headers", "marks"),
    [
        ({"HTTP_SEC_FETCH_SITE": "same-origin"}, True),  # the site's own fetch()
        ({"HTTP_SEC_FETCH_SITE": "none"}, True),  # typed in the address bar
        ({}, True),  # a script, or a browser that sends none of these
        ({"HTTP_ORIGIN": "http://testserver"}, True),
        ({"HTTP_REFERER": "http://testserver/notifications/"}, True),
        ({"HTTP_SEC_FETCH_SITE": "cross-site"}, False),  # a link on another site
        ({"HTTP_SEC_FETCH_SITE": "same-site"}, False),  # a sibling subdomain
        ({"HTTP_ORIGIN": "https://evil.example"}, False),
        ({"HTTP_ORIGIN": "null"}, False),
        ({"HTTP_REFERER": "https://evil.example/page"}, False),
        ({"HTTP_REFERER": "http://testserver:8080/"}, False),  # another port
        ({"HTTP_REFERER": "http://["}, False),  # not a URL: refused, not a crash
        # A sibling the site trusts (CSRF_TRUSTED_ORIGINS) is not another site.
        ({"HTTP_SEC_FETCH_SITE": "same-site", "HTTP_ORIGIN": "https://app.testserver"}, True),
    ],
)
def test_mark_as_read_on_a_get_is_refused_from_another_site(logged_in, alice, bob, headers, marks, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.testserver"]
    notification = send(bob, alice)
    url = reverse("notifications:live_unread_notification_list") + "?mark_as_read=true"
    response = logged_in.get(url, **headers)
    assert response.status_code == (200 if marks else 403)
    notification.refresh_from_db()
    assert notification.unread is not marks
    # Without mark_as_read, reading the list is allowed from anywhere (CORS
    # keeps another site from reading the answer).
    assert logged_in.get(reverse("notifications:live_unread_notification_list"), **headers).status_code == 200


def test_mark_as_read_query_parameter(logged_in, alice, bob):
    send(bob, alice)
    url = reverse("notifications:live_unread_notification_list") + "?mark_as_read=true"
    assert len(logged_in.get(url).json()["unread_list"]) == 1
    assert alice.notifications.unread().count() == 0


def test_anonymous_json_is_empty(client):
    assert client.get(reverse("notifications:live_unread_notification_count")).json() == {"unread_count": 0}
    assert client.get(reverse("notifications:live_all_notification_list")).json() == {
        "all_count": 0,
        "all_list": [],
    }


def test_writes_are_post_only_and_scoped_to_the_owner(logged_in, alice, bob):
    mine, theirs = send(bob, alice), send(alice, bob)
    for name in ("mark_as_read", "mark_as_unread", "delete"):
        assert logged_in.get(reverse(f"notifications:{name}", args=[mine.slug])).status_code == 405
        assert logged_in.post(reverse(f"notifications:{name}", args=[theirs.slug])).status_code == 404
        assert logged_in.post(reverse(f"notifications:{name}", args=[theirs.slug + 10**6])).status_code == 404
    assert logged_in.get(reverse("notifications:mark_all_as_read")).status_code == 405
    response = logged_in.post(reverse("notifications:mark_as_read", args=[mine.slug]))
    assert response.status_code == 302 and response.url == reverse("notifications:unread")
    mine.refresh_from_db()
    assert not mine.unread
    logged_in.post(reverse("notifications:delete", args=[mine.slug]))
    assert not Notification.objects.filter(pk=mine.pk).exists()
    assert Notification.objects.filter(pk=theirs.pk, unread=True).exists()


def test_csrf_is_required(alice, bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    n = send(bob, alice)
    assert client.post(reverse("notifications:mark_as_read", args=[n.slug])).status_code == 403
    assert client.post(reverse("notifications:mark_all_as_read")).status_code == 403
    n.refresh_from_db()
    assert n.unread


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/notifications/?page=2", "/notifications/?page=2"),
        ("https://evil.example/", "/notifications/unread/"),
        ("//evil.example/", "/notifications/unread/"),
        ("http://testserver.evil.example/", "/notifications/unread/"),
    ],
)
def test_next_never_leaves_the_site(logged_in, alice, bob, target, expected):
    response = logged_in.post(reverse("notifications:mark_all_as_read"), {"next": target})
    assert response.status_code == 302 and response.url == expected


def test_inbox_paginates_highlights_unread_and_escapes_html(logged_in, alice, bob, settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"PAGINATE_BY": 2}
    send(bob, alice, verb="<script>alert(1)</script>", description="<img src=x onerror=alert(1)>")
    send(bob, alice)
    send(bob, alice).mark_as_read()
    page = logged_in.get(reverse("notifications:all")).content.decode()
    assert page.count('class="nf-notice ') == 2 and "Page 1 of 2" in page
    page2 = logged_in.get(reverse("notifications:all") + "?page=2").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page2 and "<script>alert(1)" not in page2
    assert "&lt;img src=x onerror=alert(1)&gt;" in page2
    assert 'data-unread="true"' in page2
    unread = logged_in.get(reverse("notifications:unread")).content.decode()
    assert unread.count('class="nf-notice ') == 2


def test_inbox_and_json_lists_are_free_of_n_plus_one(logged_in, alice, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    task = Task.objects.create(title="t", created_by=bob, assignee=bob)

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(url).status_code == 200
        return len(captured)

    urls = [reverse("notifications:all"), reverse("notifications:live_all_notification_list") + "?max=50"]
    for _ in range(3):
        send(bob, alice, target=task, action_object=task)
    few = [queries(url) for url in urls]
    for _ in range(12):
        send(bob, alice, target=task, action_object=task)
    assert [queries(url) for url in urls] == few


def test_template_tags(alice, bob, rf):
    from django.template import Context, Template

    send(bob, alice)
    request = rf.get("/")
    request.user = alice
    html = Template(
        "{% load notifications_tags %}{% notifications_unread %}|{{ user|has_notification }}|"
        "{% live_notify_badge %}|{% live_notify_list %}|"
        "{% register_notify_callbacks callbacks='fill_notification_badge' %}"
    ).render(Context({"request": request, "user": alice}))
    count, has, badge, menu, config = html.split("|")
    assert count == "1" and has == "True"
    assert badge == "<span class='live_notify_badge'>1</span>"
    assert menu == "<ul class='live_notify_list'></ul>"
    assert 'id="notify-config"' in config and "fill_notification_badge" in config
    with pytest.raises(ValueError, match="Invalid callback"):
        Template("{% load notifications_tags %}{% register_notify_callbacks callbacks='x();y' %}").render(Context())
