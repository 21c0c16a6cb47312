"""Code samples in docs/ that no other test copies from a tested file, run as written."""

import io
import re
import shlex

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.urls import reverse

from notifications.models import Announcement
from notifications.signals import notify
from tests import factories
from tests.live import ROOT

pytestmark = pytest.mark.django_db


def blocks(page: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)


def test_the_announce_commands_in_the_docs_work_as_written():
    factories.group("editors")
    factories.group("reviewers")
    commands = [line for line in blocks("announcements.md", "sh")[0].splitlines() if line.strip()]
    assert len(commands) == 3
    for line in commands:
        words = shlex.split(line)
        assert words[:3] == ["python", "manage.py", "announce"]
        out = io.StringIO()
        call_command(*words[2:], stdout=out)
        assert out.getvalue().startswith(("Published", "Scheduled"))
    assert Announcement.objects.count() == 3


def test_the_mark_as_read_form_in_migrating_md_posts(client, alice, bob):
    [(_, [notice])] = notify.send(bob, recipient=alice, verb="pinged")
    [snippet] = blocks("migrating.md", "django")
    client.force_login(alice)
    request = client.get(reverse("notifications:all")).wsgi_request
    html = Template(snippet).render(Context({"notice": notice, "csrf_token": "x", "request": request}))
    action = re.search(r'action="([^"]+)"', html).group(1)
    assert action == reverse("notifications:mark_as_read", args=[notice.slug])
    assert client.post(action).status_code == 302
    notice.refresh_from_db()
    assert notice.unread is False


def test_the_production_settings_in_deployment_md_pass_the_checks(monkeypatch, settings):
    import os

    import dj_database_url
    from django.core import checks

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    namespace = {"os": os, "dj_database_url": dj_database_url}
    exec(blocks("deployment.md", "python")[0], namespace)
    for name in ("DEBUG", "ALLOWED_HOSTS", "CHANNEL_LAYERS"):
        setattr(settings, name, namespace[name])
    assert namespace["DATABASES"]["default"]["CONN_MAX_AGE"] == 60
    found = {m.id for m in checks.run_checks() if m.id.startswith("notifications.")}
    assert found == set()


def test_the_python_samples_in_grouping_md_run_as_written(alice, bob):
    from notifications.models import Notification

    carol = factories.user("carol")
    photo = factories.group("photo")
    import textwrap

    unseen_api, custom_key, reading = [textwrap.dedent(block) for block in blocks("grouping.md", "python")]
    notify.send(bob, recipient=alice, verb="pinged")
    exec(unseen_api, {"user": alice, "Notification": Notification})
    assert alice.notifications.unseen().count() == 0
    exec(custom_key, {"bob": bob, "carol": carol, "alice": alice, "photo": photo})
    namespace = {"alice": alice}
    exec(reading, namespace)
    [reactions, ping] = namespace["entries"]
    assert (reactions.count, reactions.key, reactions.actors_text) == (2, f"reactions:{photo.pk}", "carol and bob")
    assert ping.count == 1
