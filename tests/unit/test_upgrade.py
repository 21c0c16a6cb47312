"""In-place upgrade: a database left by django-notifications-hq 1.8 (migrations
up to 0009) or django-notifications-community 1.12 (up to 0013), with rows in
it, runs `migrate` and keeps every notification, read state and payload.

The legacy schema is built by migrating back to the legacy migration (ours
0001-0013 are those packages' migrations), then rows from
tests/fixtures/legacy_notifications.json are written with raw SQL, as the old
package would have written them.
"""

import json
from datetime import datetime
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from notifications.models import Notification
from tests import factories

FIXTURE = Path(__file__).parents[1] / "fixtures" / "legacy_notifications.json"
LEGACY = {
    "django-notifications-hq 1.8": "0009_alter_notification_options_and_more",
    "django-notifications-community 1.12": "0013_alter_notification_level",
}


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)


def schema(table):
    """Columns (name, type, null) and constraints/indexes (columns, kind) of a table."""
    with connection.cursor() as cursor:
        columns = sorted(
            (c.name, str(c.type_code), bool(c.null_ok))
            for c in connection.introspection.get_table_description(cursor, table)
        )
        constraints = sorted(
            (tuple(info["columns"]), bool(info["primary_key"]), bool(info["unique"]), bool(info["index"]))
            for info in connection.introspection.get_constraints(cursor, table).values()
        )
    return columns, constraints


def column_type(table, column):
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, table)
    return next(c.type_code for c in description if c.name == column)


@pytest.fixture
def latest():
    yield
    # Leave the schema as the rest of the suite expects it.
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("package", LEGACY)
def test_a_legacy_database_upgrades_in_place(package, latest, client):
    users = {name: factories.user(name) for name in ("alice", "bob")}
    user_type = ContentType.objects.get_for_model(users["alice"])
    table = Notification._meta.db_table
    fresh = schema(table)
    migrate([("notifications", LEGACY[package])])
    json_cast = "%s"
    if connection.vendor == "postgresql":
        if package.startswith("django-notifications-hq"):
            # hq's jsonfield kept `data` in a text column.
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table} ALTER COLUMN data TYPE text USING data::text")
        else:
            json_cast = "CAST(%s AS jsonb)"

    rows = json.loads(FIXTURE.read_text())
    with connection.cursor() as cursor:
        for row in rows:
            cursor.execute(
                f"INSERT INTO {table} (level, recipient_id, unread, actor_content_type_id, actor_object_id, verb,"
                " description, timestamp, public, deleted, emailed, data)"
                f" VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, {json_cast})",
                [
                    row["level"],
                    users[row["recipient"]].pk,
                    row["unread"],
                    user_type.pk,
                    str(users[row["actor"]].pk),
                    row["verb"],
                    row["description"],
                    datetime.fromisoformat(row["timestamp"]),
                    row["public"],
                    row["deleted"],
                    row["emailed"],
                    row["data"],
                ],
            )

    migrate([("notifications", "0016_data_to_jsonb")])
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())
    if connection.vendor == "postgresql":
        assert column_type(table, "data") == 3802  # jsonb
    assert schema(table) == fresh  # the same final schema as a fresh install

    stored = list(Notification.objects.order_by("timestamp"))
    assert len(stored) == len(rows)
    for notification, row in zip(stored, rows, strict=True):
        assert notification.verb == row["verb"] and notification.description == row["description"]
        assert notification.recipient == users[row["recipient"]] and notification.actor == users[row["actor"]]
        assert (notification.unread, notification.public, notification.deleted, notification.emailed) == (
            row["unread"],
            row["public"],
            row["deleted"],
            row["emailed"],
        )
        assert notification.level == row["level"]
        assert notification.timestamp == datetime.fromisoformat(row["timestamp"])
        assert notification.data == (json.loads(row["data"]) if row["data"] else None)

    # Served as before, and writable with the new code.
    client.force_login(users["alice"])
    served = client.get(reverse("notifications:live_all_notification_list")).json()
    assert served["all_count"] == 2
    assert served["all_list"][1]["data"] == {"url": "/posts/1/", "nested": {"n": [1, 2, 3]}}
    assert client.get(reverse("notifications:live_unread_notification_count")).json() == {"unread_count": 1}
    stored[0].mark_as_read()
    Notification.objects.create(recipient=users["bob"], actor=users["alice"], verb="new", data={"after": "upgrade"})
    assert Notification.objects.get(verb="new").data == {"after": "upgrade"}
