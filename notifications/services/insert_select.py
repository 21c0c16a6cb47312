"""Storing one notification per user of a SELECT with a single
``INSERT ... SELECT ... RETURNING``, which the ORM has no API for.

The database reads the recipients and writes the rows, so no per-row Python
runs before the commit (``bulk_create`` prepares every value of every row,
which for 10,000 recipients is most of a second). Building the statement
leans on Django ORM internals, so it stands apart here:

- ``Query.get_compiler(using=...)``, ``SQLCompiler.as_sql()`` and the
  compiler's ``col_count`` and ``has_extra_select``, set by ``as_sql()``: the
  SQL of the recipients' SELECT, and whether it reads only the pk column;
- ``Field.pre_save(instance, add)`` and ``Field.get_db_prep_save(value,
  connection)``: each column's value, prepared as the insert compiler
  prepares it (``SQLInsertCompiler.prepare_value``);
- ``Options.concrete_fields``, ``Options.pk.db_returning``,
  ``Options.unique_together``, ``Options.total_unique_constraints`` and
  ``Field.db_default`` against ``django.db.models.fields.NOT_PROVIDED``:
  whether every row can be a copy of one template;
- ``connection.features.can_return_rows_from_bulk_insert``;
- ``Model.from_db(db, field_names, values)``: the instances returned (Django 6.1 adds ``fetch_mode``, with a default).

Tested with Django 5.2 (from 5.2.0) and 6.1, the range pyproject.toml allows
and noxfile.py runs. ``tests/unit/test_insert_select.py`` fails when one of these
changes shape; ``tests/unit/test_api.py`` checks what the statement stores.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections, models
from django.db.models.fields import NOT_PROVIDED

from notifications.users import members_of

# The SQL and parameters of a SELECT of user pks.
UserSelect = tuple[str, tuple[Any, ...]]


def recipient_select(recipient: Any, db: str) -> UserSelect | None:
    """The SQL and parameters of a SELECT of the user pks of a Group or a
    QuerySet of users, for the insert to read; None for a user or a list, and
    for a query that needs more than the pk column (``distinct()`` ordered by
    another field) or reads another database, which take the per-row path."""
    if isinstance(recipient, Group):
        users = members_of(recipient)
    elif isinstance(recipient, models.QuerySet):
        if not issubclass(recipient.model, get_user_model()):
            raise TypeError(
                f"notify.send() recipient QuerySet must be of users; got one of {recipient.model.__name__}."
            )
        users = recipient
    else:
        return None
    if users.db != db:
        return None  # the users are read from another database (or a replica)
    compiler = users.values_list("pk").query.get_compiler(using=db)
    sql, params = compiler.as_sql()
    if compiler.col_count != 1 or compiler.has_extra_select:
        return None
    return sql, tuple(params)


def can_insert_from_select(model: Any, connection: Any, values: dict[str, Any]) -> bool:
    """Whether every row can be a copy of one template: the database makes
    the pk and returns it, and no other column must differ between rows
    (unique, or a callable default that was not given), and no column has a
    database default, which the insert would have to leave out."""
    meta = model._meta
    if connection.vendor not in {"sqlite", "postgresql"} or not connection.features.can_return_rows_from_bulk_insert:
        return False
    if not meta.pk.db_returning or meta.unique_together or meta.total_unique_constraints:
        return False
    given = {meta.get_field(name).attname for name in values} | {"recipient_id"}
    return not any(
        field.unique
        or (field.has_default() and callable(field.default) and field.attname not in given)
        or getattr(field, "db_default", NOT_PROVIDED) is not NOT_PROVIDED
        for field in meta.concrete_fields
        if field is not meta.pk
    )


def insert_from_select(template: Any, users: UserSelect, db: str) -> list[Any]:
    """One notification per user pk that the ``users`` SELECT gives, each a
    copy of ``template``, stored by a single ``INSERT ... SELECT ...
    RETURNING`` built from the model's own column names and each field's
    ``get_db_prep_save``, as the ORM's insert compiler does per value."""
    model, connection = type(template), connections[db]
    meta = model._meta
    recipient = meta.get_field("recipient")
    fields = [field for field in meta.concrete_fields if field is not meta.pk and field is not recipient]
    constants = [field.get_db_prep_save(field.pre_save(template, add=True), connection) for field in fields]
    select, select_params = users
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in [*fields, recipient])}) "
        f"SELECT {', '.join(['%s'] * len(fields))}, recipients.* FROM ({select}) recipients "
        f"RETURNING {quote(meta.pk.column)}, {quote(recipient.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constants, *select_params])
        rows = sorted(cursor.fetchall())
    names = [field.attname for field in meta.concrete_fields]
    base = [getattr(template, name) for name in names]
    pk_at, recipient_at, data_at = names.index(meta.pk.attname), names.index(recipient.attname), names.index("data")
    notifications = []
    # The cursor gives a UUID key as SQLite stores it (hex text): as the ORM
    # would, make it the field's value again.
    user_key = recipient.target_field.to_python
    for pk, user_id in rows:
        if type(user_id) is not int:
            user_id = user_key(user_id)
        row = base.copy()
        row[pk_at], row[recipient_at] = pk, user_id
        if isinstance(row[data_at], dict):
            row[data_at] = dict(row[data_at])
        notifications.append(model.from_db(db, names, row))
    return notifications
