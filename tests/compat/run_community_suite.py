"""Run django-notifications-community's own test suite against this package.

    python tests/compat/run_community_suite.py [VERSION]

It downloads that release's source distribution from PyPI (pip download),
lays its ``notifications/tests/`` package over this package's
``notifications`` (so ``notifications.tests.*`` are theirs and everything
else is ours), runs it with their test settings, and prints one line per test
class: passed, or the tests that failed. docs/compatibility.md records the
result and explains each failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fetch(version: str, into: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"django-notifications-community=={version}",
            "-d",
            str(into),
        ],
        check=True,
    )
    [archive] = into.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    [source] = [p for p in into.iterdir() if p.is_dir()]
    return source / "notifications" / "tests"


def main() -> int:
    version = sys.argv[1] if len(sys.argv) > 1 else "1.12.3"
    work = Path(tempfile.mkdtemp(prefix="community-suite-"))
    theirs = fetch(version, work / "download")
    overlay = work / "overlay" / "notifications"
    shutil.copytree(theirs, overlay / "tests")
    # A template their tests render, shipped in their app's own templates
    # directory; notifications.tests is an installed app, so it is found there.
    fixture = theirs.parent / "templates" / "notifications" / "test_tags.html"
    if fixture.exists():
        (overlay / "tests" / "templates" / "notifications").mkdir(parents=True, exist_ok=True)
        shutil.copy(fixture, overlay / "tests" / "templates" / "notifications" / fixture.name)
    os.chdir(work)
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "notifications.tests.settings"

    import notifications

    notifications.__path__.append(str(overlay))  # notifications.tests comes from their release
    import django
    from django.conf import settings
    from django.test.utils import get_runner

    django.setup()
    # Their settings keep Django's default hasher: 229 PBKDF2 hashes were 90%
    # of a run (0.4 s each). No test of theirs is about hashing; Django's
    # docs suggest a fast hasher for test runs.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Their models that subclass AbstractNotification (the swapped sample
    # app's, and a test app's) predate its fields seen_at and group_key: a
    # site with such a model runs makemigrations after upgrading
    # (docs/migrating.md), and so does this run, in its copy of their apps.
    from django.core.management import call_command

    call_command("makemigrations", name="seen_and_group_key", verbosity=0)
    runner = get_runner(settings)(verbosity=0, interactive=False)
    runner.setup_test_environment()
    old = runner.setup_databases()
    modules = sorted(f"notifications.tests.{p.stem}" for p in (overlay / "tests").glob("test*.py"))
    if os.environ.get("SAMPLE_APP"):
        # Their swapped-model mode: a sample app replaces `notifications` in
        # INSTALLED_APPS, and their settings point at the package's templates.
        modules.append("notifications.tests.sample_notifications.tests")
        shutil.copytree(ROOT / "notifications" / "templates", overlay / "templates")
    only = os.environ.get("COMMUNITY_TESTS")  # e.g. "tests.NotificationTestPages.test_next_pages"
    names = [f"notifications.tests.{name}" for name in only.split(",")] if only else modules
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    classes: dict[str, int] = defaultdict(int)
    for test in _iterate(suite):  # before running: a suite forgets its tests as it runs them
        classes[f"{type(test).__module__.split('.')[-1]}.{type(test).__name__}"] += 1
    with open(os.devnull, "w") as quiet:
        result = unittest.TextTestRunner(verbosity=0, stream=quiet).run(suite)
    runner.teardown_databases(old)
    runner.teardown_test_environment()

    failed: dict[str, list[str]] = defaultdict(list)
    for test, _ in [*result.failures, *result.errors]:
        failed[type(test).__name__].append(getattr(test, "_testMethodName", str(test)))
    print(
        f"django-notifications-community {version}: {result.testsRun} tests, "
        f"{len(result.failures) + len(result.errors)} failed"
    )
    for name, count in sorted(classes.items()):
        short = name.split(".")[-1]
        if short in failed:
            print(f"FAIL {name} ({len(failed[short])}/{count}): {', '.join(sorted(failed[short]))}")
        else:
            print(f"pass {name} ({count})")
    for test, trace in [*result.failures, *result.errors]:
        detail = trace.strip() if only else trace.strip().splitlines()[-1]
        print(f"\n--- {test}\n{detail}")
    return 0


def _iterate(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _iterate(item)
        else:
            yield item


if __name__ == "__main__":
    raise SystemExit(main())
