"""Give legacy databases a real JSON ``data`` column on PostgreSQL.

django-notifications-hq stored ``data`` with the third-party ``jsonfield``,
which made a text column. Its migration 0011 (native JSONField) changes only
the migration state, so a site that came from hq still has text there, and
Django's JSONField cannot write to it on PostgreSQL. This converts such a
column in place; on a fresh database, SQLite or any other backend it does
nothing.
"""

from django.db import migrations


def text_to_jsonb(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    model = apps.get_model("notifications", "Notification")
    if model._meta.swapped:
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s AND column_name = 'data'",
            [table],
        )
        row = cursor.fetchone()
    if row is None or row[0] not in {"text", "character varying"}:
        return
    quoted = schema_editor.quote_name(table)
    schema_editor.execute(
        f"ALTER TABLE {quoted} ALTER COLUMN data TYPE jsonb "
        "USING (CASE WHEN data IS NULL OR btrim(data) = '' THEN NULL ELSE data::jsonb END)"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0015_announcements"),
    ]

    operations = [
        migrations.RunPython(text_to_jsonb, migrations.RunPython.noop, elidable=True),
    ]
