"""The Django ORM internals that notifications.services.insert_select builds
its INSERT ... SELECT from still have the shape it uses. A failure here
means a Django release changed them: read that module's docstring and adapt
it before the behaviour tests in test_api.py start failing in odd ways."""

import inspect

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED
from django.db.models.options import Options
from django.db.models.sql.compiler import SQLCompiler
from django.db.models.sql.query import Query

from notifications.models import Notification
from notifications.services import insert_select

pytestmark = pytest.mark.django_db


def parameters(function):
    return list(inspect.signature(function).parameters)


def test_the_methods_it_calls_take_the_arguments_it_passes():
    assert parameters(Query.get_compiler)[:2] == ["self", "using"]
    assert [name for name, p in inspect.signature(SQLCompiler.as_sql).parameters.items() if p.default is p.empty] == [
        "self"
    ]
    assert parameters(models.Field.pre_save) == ["self", "model_instance", "add"]
    assert parameters(models.Field.get_db_prep_save) == ["self", "value", "connection"]
    assert parameters(models.JSONField.get_db_prep_save) == ["self", "value", "connection"]
    # Django 6.1 added fetch_mode, with a default: what is passed still binds.
    inspect.signature(Notification.from_db.__func__).bind(Notification, "default", ["id"], (1,))
    assert parameters(Notification.from_db.__func__)[:4] == ["cls", "db", "field_names", "values"]


def test_the_compiler_says_how_many_columns_a_values_list_of_the_pk_selects():
    users = get_user_model().objects.values_list("pk")
    compiler = users.query.get_compiler(using="default")
    sql, params = compiler.as_sql()
    assert isinstance(sql, str) and isinstance(params, tuple | list)
    assert (compiler.col_count, compiler.has_extra_select) == (1, False)
    extra = get_user_model().objects.extra(select={"one": "1"}).values_list("pk", "one").query
    extra_compiler = extra.get_compiler(using="default")
    extra_compiler.as_sql()
    assert extra_compiler.col_count == 2


def test_the_model_metadata_it_reads_is_there():
    meta = Notification._meta
    assert isinstance(meta, Options)
    assert meta.pk.db_returning is True
    assert meta.unique_together == ()
    assert list(meta.total_unique_constraints) == []
    assert meta.concrete_fields[0] is meta.pk
    assert all(getattr(f, "db_default", None) is NOT_PROVIDED for f in meta.concrete_fields)
    assert isinstance(connection.features.can_return_rows_from_bulk_insert, bool)
    assert callable(connection.ops.quote_name)


def test_a_group_becomes_one_select_of_pks_and_a_list_does_not(alice):
    group = Group.objects.create(name="readers")
    select = insert_select.recipient_select(group, "default")
    assert select is not None
    sql, params = select
    assert sql.upper().startswith("SELECT") and isinstance(params, tuple)
    assert insert_select.recipient_select([alice], "default") is None
