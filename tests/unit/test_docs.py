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
    from django.core import checks

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/1")
    namespace: dict = {}
    exec(blocks("deployment.md", "python")[0], namespace)
    for name in ("DEBUG", "ALLOWED_HOSTS", "CHANNEL_LAYERS", "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS"):
        setattr(settings, name, namespace[name])
    settings.DATABASES = {"default": settings.DATABASES["default"], "deployed": namespace["DATABASES"]["default"]}
    found = {m.id for m in checks.run_checks() if m.id.startswith("notifications.")}
    assert found == set()
    deploy = [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "notifications.W007"]
    assert not any("'deployed'" in m.msg for m in deploy)


# The repository speaks of the product, not of how it was built. Upstream
# projects' trackers may be named: "channels-redis issue #422" is a reference.
BUILD_HISTORY = re.compile(
    r"\b(?:sessions? \d+|issues? #?\d+|(?:this|the previous|the next) (?:session|issue)\b"
    r"|(?:today|yesterday)'s code|the session's (?:code|machine|changes))",
    re.IGNORECASE,
)
UPSTREAM = re.compile(
    r"(?:daphne|channels-redis|channels|autobahn-python|autobahn|django|twisted|cpython|redis-py|uvicorn"
    r"|websockets|asgiref|playwright|pytest)[ -]*$",
    re.IGNORECASE,
)


def build_history(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in BUILD_HISTORY.finditer(line):
            if not UPSTREAM.search(line[: match.start()]):
                found.append(f"{number}: {line.strip()[:120]}")
    return found


def test_the_history_check_tells_build_history_from_upstream_references():
    # Spelled in pieces so that this file does not match itself.
    for text in ("Fixed in sess" + "ion 9.", "As iss" + "ue 7 asks.", "Since this sess" + "ion", "Tod" + "ay's code"):
        assert build_history(text) == [f"1: {text}"]
    assert not build_history("channels-redis issue #422 and daphne #374 explain it.")
    assert not build_history("A session ended (logout); that session's sockets close.")


def test_no_tracked_file_speaks_of_how_it_was_built():
    from tests.live import project_files

    offending = {}
    for name in project_files():
        found = build_history((ROOT / name).read_text(errors="ignore"))
        if found:
            offending[name] = found
    assert offending == {}


def bench_report():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    report = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = report  # its dataclasses look their module up
    try:
        spec.loader.exec_module(report)
    finally:
        del sys.modules[spec.name]
    return report


def test_the_benchmarks_page_is_the_report_the_stored_results_make():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    assert page == bench_report().render(), "run: python bench/report.py --render"
    assert len(page.splitlines()) < 425


def test_a_new_benchmark_needs_only_its_json_and_hand_written_text_is_kept(tmp_path, monkeypatch):
    import json

    report = bench_report()
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    monkeypatch.setattr(report, "MACHINE", tmp_path / "machine.json")
    monkeypatch.setattr(report, "REPORT", tmp_path / "benchmarks.md")
    (tmp_path / "grouping.json").write_text(
        json.dumps(
            {
                "title": "Grouping",
                "command": "python bench/grouping.py",
                "table": {"columns": ["groups", "p99 ms", "vs raw"], "rows": [[100, 4.2, "1.10x"]]},
                "targets": [{"target": "p99 at most 2x raw", "result": "1.10x", "met": True}],
            }
        )
    )
    (tmp_path / "plain.json").write_text(json.dumps({"sockets": 10, "p99": {"ms": [1, 2]}}))
    page = report.render()
    assert "## Grouping\n\n```sh\npython bench/grouping.py\n```\n\n| groups | p99 ms | vs raw |" in page
    assert "| Grouping | p99 at most 2x raw | 1.10x | met |" in page
    assert "| sockets | p99.ms |\n|---|---|\n| 10 | 1 / 2 |" in page

    report.REPORT.write_text(page + "\n## Many processes\n\nWritten by hand.\n")
    again = report.render()
    assert again.endswith(report.KEPT + "\n\n## Many processes\n\nWritten by hand.\n")
    assert again.count("## Grouping") == 1


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
