"""The bulk-store baseline: django-notifications-community's notify.send to a
Group, timed. Runs in the separate virtualenv bench/bulk.py makes for it
(bench/.venv-dnc), on its own SQLite file with the demo site's pragmas.

    python bench/dnc_store.py DATABASE USERS ROUNDS

Prints one JSON line: {"store_ms": [one figure per round]}.
"""

import json
import sys
import time
from pathlib import Path

import django
from django.conf import settings


def main() -> None:
    database, users, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    database.unlink(missing_ok=True)
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "notifications"],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(database),
                "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
            }
        },
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from notifications.signals import notify  # django-notifications-community's, in its venv

    call_command("migrate", verbosity=0)
    User.objects.bulk_create([User(username=f"bench{i}", password="!") for i in range(users)], batch_size=1000)
    group = Group.objects.create(name="everyone")
    group.user_set.add(*User.objects.values_list("pk", flat=True))
    actor = User.objects.create(username="actor", password="!")
    timings = []
    for round_index in range(rounds):
        started = time.perf_counter()
        notify.send(actor, recipient=group, verb=f"bulk-{round_index}")
        timings.append(round((time.perf_counter() - started) * 1000, 1))
    print(json.dumps({"store_ms": timings}), flush=True)


if __name__ == "__main__":
    main()
