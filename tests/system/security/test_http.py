"""Every state-changing HTTP endpoint needs POST and a CSRF token, and a
`next` redirect never leaves the site: over real daphne."""

import asyncio
import urllib.error
import urllib.parse
import urllib.request

import pytest
from channels.db import database_sync_to_async as sync_to_async

from chat.models import Room
from notifications.models import Announcement, Notification
from notifications.services import announcement_create
from notifications.signals import notify
from project.models import Task
from tests import factories
from tests.live import http_login

pytestmark = pytest.mark.daphne


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def no_redirects(opener):
    """The same cookies, with redirects returned instead of followed."""
    cookies = next(h for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor))
    return urllib.request.build_opener(NoRedirect, cookies)


def request(opener, url, data=None):
    """(status, Location) of one request, without following redirects."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(urllib.request.Request(url, data=body), timeout=10) as response:
            return response.status, response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")


def endpoints(alice, bob):
    n = notify.send(bob, recipient=alice, verb="pinged")[0][1][0]
    announcement = announcement_create(title="Hello", publish_at=n.timestamp)
    task = Task.objects.create(title="t", assignee=alice, created_by=bob)
    return [
        ("/notifications/mark-all-as-read/", {}),
        (f"/notifications/mark-as-read/{n.slug}/", {}),
        (f"/notifications/mark-as-unread/{n.slug}/", {}),
        (f"/notifications/delete/{n.slug}/", {}),
        (f"/notifications/announcements/{announcement.pk}/dismiss/", {}),
        ("/chat/", {"name": "New", "slug": "new"}),
        ("/", {"title": "x", "assignee": bob.pk}),
        (f"/tasks/{task.pk}/complete/", {}),
        ("/accounts/logout/", {}),
    ]


def state():
    return (
        list(Notification.objects.values_list("id", "unread", "deleted")),
        Announcement.objects.filter(reads__isnull=False).count(),
        Room.objects.count(),
        list(Task.objects.values_list("id", "done")),
    )


async def test_state_changing_endpoints_need_post_and_a_csrf_token(daphne):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    targets = await sync_to_async(endpoints)(alice, bob)
    server = await asyncio.to_thread(daphne)
    opener, cookies = await asyncio.to_thread(http_login, server, "alice")
    opener = no_redirects(opener)
    before = await sync_to_async(state)()
    for path, data in targets:
        status, _ = await asyncio.to_thread(request, opener, server.url + path, data)
        assert status == 403, path  # no token
        forged = {**data, "csrfmiddlewaretoken": "x" * 64}
        status, _ = await asyncio.to_thread(request, opener, server.url + path, forged)
        assert status == 403, path  # a wrong token
    assert await sync_to_async(state)() == before
    for path, _data in targets:
        if path in {"/", "/chat/"}:
            continue  # GET shows the page with its form
        status, _ = await asyncio.to_thread(request, opener, server.url + path)
        assert status == 405, path
    assert await sync_to_async(state)() == before
    for path, data in targets:
        status, _ = await asyncio.to_thread(
            request, opener, server.url + path, {**data, "csrfmiddlewaretoken": cookies["csrftoken"]}
        )
        assert status == 302, path  # with the token, each one works


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "http://127.0.0.1.evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
async def test_next_never_leaves_the_site(daphne, target):
    alice, bob = await sync_to_async(factories.user)("alice"), await sync_to_async(factories.user)("bob")
    await sync_to_async(notify.send)(bob, recipient=alice, verb="pinged")
    server = await asyncio.to_thread(daphne)
    opener, cookies = await asyncio.to_thread(http_login, server, "alice")
    opener = no_redirects(opener)
    status, location = await asyncio.to_thread(
        request,
        opener,
        server.url + "/notifications/mark-all-as-read/",
        {"next": target, "csrfmiddlewaretoken": cookies["csrftoken"]},
    )
    assert status == 302
    assert location == "/notifications/unread/"
