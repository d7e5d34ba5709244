"""``INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING``: one statement the ORM cannot write.

The unique index decides between a new row and an existing one, atomically: no
read that a concurrent request could race and no savepoint (dj-stripe reads,
then inserts). ``bulk_create(update_conflicts=True)`` writes nearly the same
statement, but can neither count (``n = n + 1``) nor return what the stored row
holds, which is how a caller tells an insert from an update. PostgreSQL and
SQLite 3.35+ run it (system check ``django_seably.E030`` for other databases).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router
from django.db.models import Field


def upsert(
    obj: models.Model,
    *,
    conflict: str,
    increment: Sequence[str] = (),
    overwrite: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> dict[str, Any]:
    """Insert ``obj``, or update the row that has the same ``conflict`` field; return that row's ``returning`` fields.

    On conflict each ``increment`` field goes up by one and each ``overwrite``
    field takes ``obj``'s value; the others keep the stored row's. ``obj.pk`` is
    the stored row's either way. Values are converted by Django's own fields.
    """
    meta = type(obj)._meta
    using = router.db_for_write(type(obj), instance=obj)
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(obj, add=True), connection) for field in fields]
    table = quote(meta.db_table)
    returned = [_field(obj, meta.pk.name), *(_field(obj, name) for name in returning)]

    def quoted(field: Field[Any, Any]) -> str:
        assert field.column is not None  # concrete fields have one
        return quote(field.column)

    def column(name: str) -> str:
        return quoted(_field(obj, name))

    assignments = [f"{column(name)} = {table}.{column(name)} + 1" for name in increment]
    assignments += [f"{column(name)} = EXCLUDED.{column(name)}" for name in overwrite]
    sql = (
        f"INSERT INTO {table} ({', '.join(quoted(field) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({column(conflict)}) DO UPDATE SET {', '.join(assignments)} "
        f"RETURNING {', '.join(quoted(field) for field in returned)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    stored = {}
    for field, value in zip(returned, row, strict=True):
        # The conversions a queryset applies (SQLite returns datetimes as text, for one).
        expression = field.get_col(meta.db_table)
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            value = converter(value, expression, connection)
        stored[field.attname] = value
    obj.pk = stored.pop(meta.pk.attname)
    obj._state.adding = False
    obj._state.db = using
    return stored


def _field(obj: models.Model, name: str) -> Field[Any, Any]:
    field = obj._meta.get_field(name)
    if not isinstance(field, Field) or not field.concrete:
        raise ValueError(f"{type(obj).__name__}.{name} is not a concrete field.")
    return field
