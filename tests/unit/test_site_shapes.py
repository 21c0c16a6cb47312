"""The product on the site shape the suite runs on (tests/shapes,
``SITE_SHAPE``): the pages, the JSON and the admin; what the checks say.
(Sockets on a real daphne: tests/system/test_site_shapes.py.)"""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from notifications.swappable import load_notification_model
from tests import factories


@pytest.mark.django_db
def test_the_pages_the_json_and_the_admin_work(alice, bob):
    from notifications.signals import notify

    notify.send(bob, recipient=alice, verb="commented on", description="nice")
    client = Client()
    client.force_login(alice)
    for url in ("/notifications/", "/notifications/unread/", "/notifications/groups/", "/notifications/preferences/"):
        assert client.get(url).status_code == 200, url
    [item] = client.get("/notifications/api/unread_list/").json()["unread_list"]
    assert item["actor"] == str(bob) and item["recipient"] == factories.wire(alice.pk)
    assert client.get("/notifications/api/preferences/").status_code == 200

    admin = factories.user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    Notification = load_notification_model()
    pages = [
        "/admin/notifications/announcement/",
        "/admin/notifications/announcement/add/",
        "/admin/notifications/channelpreference/",
        "/admin/notifications/delivery/",
        "/admin/notifications/pushsubscription/",
        "/admin/chat/room/",
        "/admin/chat/message/",
    ]
    if Notification._meta.label == "notifications.Notification":
        pages += ["/admin/notifications/notification/", f"/admin/notifications/notification/{item['id']}/change/"]
    for url in pages:
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_a_group_audience_on_a_user_model_without_groups_is_a_clear_error(capsys):
    from django.core.exceptions import ValidationError

    from notifications import services

    if factories.has_groups():
        call_command("check", deploy=True)
        assert "notifications.I015" not in capsys.readouterr().out
        return
    call_command("check")  # not on every command: under --deploy
    assert "notifications.I015" not in capsys.readouterr().err
    call_command("check", deploy=True)
    assert "notifications.I015" in capsys.readouterr().err
    # The command says so before it looks a group up by name.
    with pytest.raises(CommandError, match="has no groups"):
        call_command("announce", "Editors", "--group", "editors")
    group = factories.group("editors")
    with pytest.raises(ValidationError, match="has no groups"):
        services.announcement_create(title="x", audience="groups", groups=[group])
