"""Announcements: stored once, published now or on schedule, to everyone,
staff or groups; dismissed per user; from the admin and the command line."""

import asyncio
import io
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from notifications import protocol, selectors, services
from notifications.consumers import NotificationConsumer
from notifications.models import Announcement, AnnouncementRead, Audience
from tests import factories


@pytest.fixture
def people(db):
    staff = factories.user("sam", is_staff=True)
    editor = factories.user("eve")
    plain = factories.user("pat")
    editors = factories.group("editors", editor)
    return staff, editor, plain, editors


def titles(user):
    return [a.title for a in selectors.announcements_for(user=user)]


def publish(**kwargs):
    announcement = services.announcement_create(**kwargs)
    services.announcement_publish(announcement=announcement)
    return announcement


# Services -------------------------------------------------------------------------


def test_audiences_resolve_to_everyone_staff_or_groups(people):
    staff, editor, plain, editors = people
    publish(title="all")
    publish(title="staff", audience=Audience.STAFF)
    publish(title="editors", audience=Audience.GROUPS, groups=[editors])
    assert sorted(titles(staff)) == ["all", "staff"]
    assert sorted(titles(editor)) == ["all", "editors"]
    assert titles(plain) == ["all"]
    assert selectors.badge_count(user=editor) == 2


def test_it_is_stored_once_whatever_the_audience(people):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_to_publish(title):
        with CaptureQueriesContext(connection) as captured:
            publish(title=title)
        return len(captured)

    few = queries_to_publish("to three users")
    for _ in range(50):
        factories.user()
    assert queries_to_publish("to fifty-three users") == few
    assert Announcement.objects.count() == 2 and AnnouncementRead.objects.count() == 0


def test_scheduled_announcements_wait_then_publish_exactly_once(people):
    staff, *_ = people
    soon = timezone.now() + timedelta(minutes=5)
    announcement = services.announcement_create(title="later")
    assert services.announcement_publish(announcement=announcement, at=soon) is False
    assert announcement.status == "scheduled" and titles(staff) == []
    assert services.announcements_publish_due() == []
    later = soon + timedelta(seconds=1)
    assert services.announcements_publish_due(now=later) == [announcement.pk]
    assert services.announcements_publish_due(now=later) == []
    announcement.refresh_from_db()
    assert announcement.published_at == later and announcement.status == "live"
    assert services.announcement_publish(announcement=announcement) is False  # already out


def test_a_due_announcement_is_visible_before_any_server_claims_it(people):
    staff, *_ = people
    services.announcement_create(title="due", publish_at=timezone.now() - timedelta(seconds=1))
    assert titles(staff) == ["due"]


def test_expired_announcements_disappear_and_cannot_be_published(people):
    staff, *_ = people
    announcement = publish(title="brief", expires_at=timezone.now() + timedelta(minutes=1))
    assert titles(staff) == ["brief"]
    Announcement.objects.filter(pk=announcement.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert titles(staff) == [] and selectors.badge_count(user=staff) == 0
    announcement.refresh_from_db()
    assert announcement.status == "expired"
    with pytest.raises(ValidationError):
        services.announcement_publish(announcement=announcement)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"title": " "}, "title"),
        ({"title": "x", "level": "loud"}, "level"),
        ({"title": "x", "audience": "friends"}, "audience"),
        ({"title": "x", "audience": Audience.GROUPS}, "groups"),
        ({"title": "x", "expires_at": timezone.now() - timedelta(seconds=1)}, "expires_at"),
    ],
)
def test_bad_fields_are_clear_errors(people, kwargs, field):
    with pytest.raises(ValidationError) as error:
        services.announcement_create(**kwargs)
    assert field in error.value.message_dict
    assert not Announcement.objects.exists()


def test_dismissing_records_one_read_and_only_for_visible_announcements(people):
    _staff, editor, plain, _editors = people
    mine = publish(title="all")
    hidden = publish(title="staff", audience=Audience.STAFF)
    services.announcement_dismiss(user=plain, announcement_id=mine.pk)
    services.announcement_dismiss(user=plain, announcement_id=mine.pk)
    assert AnnouncementRead.objects.filter(user=plain).count() == 1
    assert titles(plain) == [] and titles(editor) == ["all"]
    for target in (hidden.pk, hidden.pk + 100):
        with pytest.raises(services.AnnouncementNotFound):
            services.announcement_dismiss(user=plain, announcement_id=target)


def test_announcements_are_listed_in_the_inbox_marked_as_such(people, client):
    staff, *_ = people
    publish(title="Maintenance <tonight>", body="See https://example.com/status")
    dismissed = publish(title="Old news")
    services.announcement_dismiss(user=staff, announcement_id=dismissed.pk)
    client.force_login(staff)
    page = client.get(reverse("notifications:all")).content.decode()
    assert '<span class="nf-tag">Announcement</span> Maintenance &lt;tonight&gt;' in page
    assert '<a href="https://example.com/status" rel="nofollow">https://example.com/status</a>' in page
    assert "Old news" in page  # read ones stay in the full list, without a dismiss button
    unread_page = client.get(reverse("notifications:unread")).content.decode()
    assert "Maintenance" in unread_page and "Old news" not in unread_page


# The command ------------------------------------------------------------------------


def announce(*args):
    out = io.StringIO()
    call_command("announce", *args, stdout=out)
    return out.getvalue()


def test_the_command_publishes_and_schedules(people):
    _staff, editor, *_ = people
    out = announce("Maintenance at 22:00", "--level", "warning", "--audience", "staff", "--expires-in", "2h")
    assert out.startswith("Published announcement #") and "to staff, until" in out
    announcement = Announcement.objects.get()
    assert (announcement.level, announcement.status) == ("warning", "live")
    assert timedelta(hours=1, minutes=59) < announcement.expires_at - timezone.now() <= timedelta(hours=2)
    out = announce("Editors", "--group", "editors", "--publish-at", "2099-01-01T09:00:00+00:00")
    assert "Scheduled announcement" in out and "groups editors" in out
    assert titles(editor) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["x", "--group", "nobody"], "No group named 'nobody'"),
        (["x", "--expires-in", "0s"], "expiry is already past"),
        (["x", "--expires-in", "soon"], "not a duration"),
        (["x", "--publish-at", "tomorrow"], "not an ISO 8601"),
        (["x", "--audience", "groups"], "at least one group"),
        (["x", "--level", "loud"], "invalid choice"),
        (["  "], "needs a title"),
    ],
)
def test_bad_command_arguments_fail_and_publish_nothing(people, args, message):
    with pytest.raises(CommandError, match=message):
        announce(*args)
    assert not Announcement.objects.exists()


# The admin ---------------------------------------------------------------------------


def test_save_and_publish_needs_the_permission(people, client):
    staff, *_ = people
    client.force_login(staff)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["add_announcement", "view_announcement"]))
    url = reverse("admin:notifications_announcement_add")
    form = {"title": "Hello", "body": "", "level": "info", "audience": "everyone"}
    assert "save-and-publish" not in client.get(url).content.decode()
    assert client.post(url, {**form, "_publish": "1"}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="publish_announcement"))
    page = client.get(url).content.decode()
    assert 'data-testid="save-and-publish"' in page
    response = client.post(url, {**form, "title": "Hi all", "_publish": "1"})
    assert response.status_code == 302
    published = Announcement.objects.get(title="Hi all")
    assert published.status == "live" and published.created_by == staff


def test_the_change_list_shows_status_audience_and_reads(people, admin_client):
    _staff, editor, _plain, editors = people
    read = publish(title="Read one", audience=Audience.GROUPS, groups=[editors])
    services.announcement_dismiss(user=editor, announcement_id=read.pk)
    services.announcement_create(title="Draft one")
    page = admin_client.get(reverse("admin:notifications_announcement_changelist")).content.decode()
    assert "Read one" in page and "live" in page and "editors" in page
    assert "Draft one" in page and "draft" in page
    assert '<td class="field-reads_display">1</td>' in page


# The socket -----------------------------------------------------------------------------


async def socket_for(user):
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = user
    assert (await communicator.connect())[0]
    hello = await communicator.receive_json_from()
    return communicator, hello


async def next_frame(communicator, kind):
    while True:
        data = await communicator.receive_json_from(timeout=3)
        if data["type"] != "heartbeat":
            assert data["type"] == kind, data
            return data


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub_shutdown")
async def test_sockets_get_their_audiences_announcements_and_dismiss_everywhere():
    staff = await database_sync_to_async(factories.user)("sam", is_staff=True)
    plain = await database_sync_to_async(factories.user)("pat")
    (staff_tab, _), (plain_tab, _), (plain_tab2, _) = [await socket_for(u) for u in (staff, plain, plain)]

    await database_sync_to_async(publish)(title="Staff only", audience=Audience.STAFF)
    frame = await next_frame(staff_tab, "announcement")
    assert frame["announcement"]["title"] == "Staff only" and frame["announcement"]["level"] == "info"
    assert await plain_tab.receive_nothing(timeout=0.3)

    everyone = await database_sync_to_async(publish)(title="All <b>hands</b>", body="See https://example.com")
    for tab in (staff_tab, plain_tab, plain_tab2):
        assert (await next_frame(tab, "announcement"))["announcement"]["id"] == everyone.pk

    await plain_tab.send_json_to({"type": "dismiss", "announcement": everyone.pk})
    for tab in (plain_tab, plain_tab2):
        assert await next_frame(tab, "dismissed") == {
            "type": "dismissed",
            "announcement": everyone.pk,
            "unread_count": 0,
            "unseen_count": 0,
        }
    staff_only = await database_sync_to_async(Announcement.objects.get)(title="Staff only")
    await plain_tab.send_json_to({"type": "dismiss", "announcement": staff_only.pk})
    assert (await next_frame(plain_tab, "error"))["code"] == "not_found"

    # A new socket's hello lists what is live and unread for that user.
    fresh, hello = await socket_for(staff)
    assert [a["title"] for a in hello["announcements"]] == ["All <b>hands</b>", "Staff only"]
    assert hello["unread_count"] == 2
    for tab in (staff_tab, plain_tab, plain_tab2, fresh):
        await tab.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub_shutdown")
async def test_leaving_a_group_stops_its_announcements_at_once():
    editor = await database_sync_to_async(factories.user)("eve")
    editors = await database_sync_to_async(factories.group)("editors", editor)
    tab, _ = await socket_for(editor)
    await database_sync_to_async(publish)(title="one", audience=Audience.GROUPS, groups=[editors])
    assert (await next_frame(tab, "announcement"))["announcement"]["title"] == "one"
    await database_sync_to_async(editors.user_set.remove)(editor)
    await tab.receive_nothing(timeout=0.3)  # the audience refresh is applied
    await database_sync_to_async(publish)(title="two", audience=Audience.GROUPS, groups=[editors])
    assert await tab.receive_nothing(timeout=0.5)
    await database_sync_to_async(editors.user_set.add)(editor)
    await tab.receive_nothing(timeout=0.3)
    await database_sync_to_async(publish)(title="three", audience=Audience.GROUPS, groups=[editors])
    assert (await next_frame(tab, "announcement"))["announcement"]["title"] == "three"
    await tab.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub_shutdown")
async def test_a_scheduled_announcement_is_pushed_by_the_server_when_due(settings):
    settings.DJANGO_NOTIFICATIONS_CONFIG = {"SCHEDULE_SECONDS": 1}
    user = await database_sync_to_async(factories.user)("pat")
    tab, _ = await socket_for(user)
    await database_sync_to_async(services.announcement_create)(
        title="on time", publish_at=timezone.now() + timedelta(seconds=1)
    )
    frame = await next_frame(tab, "announcement")
    assert frame["announcement"]["title"] == "on time"
    assert await tab.receive_nothing(timeout=1.5)  # pushed once
    await tab.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hub_shutdown")
async def test_one_layer_message_per_announcement_whatever_the_audience():
    """Observed on the real (in-memory) layer: a channel in the announcements
    group, standing for one server process, gets one message for 100 users."""
    for _ in range(100):
        await database_sync_to_async(factories.user)()
    layer = get_channel_layer()
    process = await layer.new_channel()
    await layer.group_add(protocol.ANNOUNCEMENTS_GROUP, process)
    user = await database_sync_to_async(factories.user)("pat")
    tab, _ = await socket_for(user)  # starts this loop's hub, so publish runs here
    await database_sync_to_async(publish)(title="to 101 users")
    message = await layer.receive(process)
    assert message["type"] == "notifications.announcement"
    assert message["announcement"]["title"] == "to 101 users"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await layer.receive(process)
    await tab.disconnect()
