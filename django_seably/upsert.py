"""Insert-or-update in one statement, which the ORM cannot express with a counter.

``INSERT ... ON CONFLICT (...) DO UPDATE ... RETURNING`` lets the database's unique
index decide between a new row and an existing one, atomically: no prior read
that a concurrent request could race, no savepoint, one round trip. PostgreSQL
and SQLite (3.35+) support it; other databases get the same result through a
savepoint and ``IntegrityError``, at a few statements more.

The database tells which branch it took only through the values it returns, so
callers read that from the row (a counter still at 1, a foreign key still
pointing at the new row's own event).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from django.db import IntegrityError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field


class Upserted(NamedTuple):
    """The ``returning`` fields of the stored row, by attname, and how to read them."""

    #: Unconverted, as the driver returned them (cheap when only some are read).
    row: dict[str, Any]
    #: False when ``row`` holds Python values already (the portable path).
    raw: bool = True

    def value(self, obj: models.Model, attname: str) -> Any:
        """Return one returned field of ``obj``'s row, converted as a queryset would."""
        value = self.row[attname]
        if not self.raw:
            return value
        field = next(f for f in type(obj)._meta.concrete_fields if f.attname == attname)
        return from_db(field, value, connections[obj._state.db or "default"])

    def load(self, obj: models.Model) -> None:
        """Set every returned field on ``obj``."""
        for attname in self.row:
            setattr(obj, attname, self.value(obj, attname))


def insert_or_update(
    obj: models.Model,
    *,
    conflict: str,
    increment: Sequence[str] = (),
    overwrite: Sequence[str] = (),
    returning: Sequence[str] | None = None,
) -> Upserted:
    """Insert ``obj``, or update the row that has the same ``conflict`` field.

    On conflict, each ``increment`` field goes up by one and each ``overwrite``
    field takes ``obj``'s value. Return the stored row's ``returning`` fields
    (every field when None), unconverted; ``obj.pk`` is set either way.
    """
    upserted = PreparedUpsert(
        obj, conflict=conflict, increment=increment, overwrite=overwrite, returning=returning
    ).execute()
    assert upserted is not None  # only a parent lookup can find nothing
    return upserted


class PreparedUpsert:
    """``insert_or_update`` in two steps: prepare the statement and its values, then execute it.

    Preparing (converting every value, JSON included) can happen before the
    transaction opens, so that the transaction, which on SQLite holds the
    database's only write lock, lasts no longer than its statements. Foreign
    keys are read again when executing: the row they point to may be inserted in
    the same transaction, after the preparation.

    ``db_values`` gives some fields' values in the database's form already (see
    ``json_value``), by attname, instead of converting ``obj``'s.

    With ``parent=(foreign_key, lookup)`` the foreign key is not a value: the
    statement reads it from the related row that ``lookup`` (field values) finds,
    and inserts nothing if there is none. That check costs no query of its own.
    """

    def __init__(
        self,
        obj: models.Model,
        *,
        conflict: str,
        increment: Sequence[str] = (),
        overwrite: Sequence[str] = (),
        returning: Sequence[str] | None = None,
        parent: tuple[str, Mapping[str, Any]] | None = None,
        db_values: Mapping[str, Any] | None = None,
    ) -> None:
        model = type(obj)
        self.obj = obj
        self.using = router.db_for_write(model, instance=obj)
        connection = connections[self.using]
        self.returned = (
            tuple(_field(model, name) for name in returning) if returning else tuple(model._meta.concrete_fields)
        )
        self.conflict, self.increment, self.overwrite = conflict, tuple(increment), tuple(overwrite)
        self.parent = parent
        features = connection.features
        self.portable = not (features.supports_update_conflicts_with_target and features.can_return_columns_from_insert)
        if self.portable:
            return
        parent_key: Any = _field(model, parent[0]) if parent else None
        bound = [field for field in _insert_fields(model) if field is not parent_key]
        given = db_values or {}
        self.values = [
            given[field.attname] if field.attname in given else _db_value(field, obj, connection) for field in bound
        ]
        self.foreign_keys = [(i, field) for i, field in enumerate(bound) if isinstance(field, models.ForeignKey)]
        if parent:
            related = parent_key.related_model
            self.values += [
                _field(related, name).get_db_prep_save(value, connection) for name, value in parent[1].items()
            ]
        self.sql = _upsert_sql(
            model,
            self.using,
            conflict,
            self.increment,
            self.overwrite,
            self.returned,
            (parent[0], tuple(parent[1])) if parent else None,
        )

    def execute(self) -> Upserted | None:
        """Run the statement; None only when ``parent`` found no row (nothing was written)."""
        obj = self.obj
        if self.portable:
            if self.parent and not _set_parent(obj, self.using, *self.parent):
                return None
            return _insert_or_update_portably(
                obj, self.using, self.conflict, self.increment, self.overwrite, self.returned
            )
        connection = connections[self.using]
        values = self.values
        for index, field in self.foreign_keys:
            values[index] = _db_value(field, obj, connection)
        with connection.cursor() as cursor:
            cursor.execute(self.sql, values)
            stored = cursor.fetchone()
        if stored is None:
            return None
        pk, *row = stored
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = self.using
        return Upserted({f.attname: value for f, value in zip(self.returned, row, strict=True)})


def json_value(text: str, connection: BaseDatabaseWrapper) -> Any:
    """Return JSON that is text already as ``connection`` takes a JSON field's value, or None.

    A JSONField would serialize the parsed value again: for a big body, another
    copy of it, and time. None where this is not known to work (databases other
    than SQLite and PostgreSQL): convert the value as usual there.
    """
    if connection.vendor == "sqlite":
        return text
    if connection.vendor == "postgresql":
        from django.db.backends.postgresql.psycopg_any import Jsonb

        return Jsonb(text, dumps=_as_is)
    return None


def _as_is(text: str) -> str:
    return text


def _set_parent(obj: models.Model, using: str, name: str, lookup: Mapping[str, Any]) -> bool:
    """Set ``obj``'s foreign key ``name`` to the related row ``lookup`` finds; False if none."""
    key: Any = _field(type(obj), name)
    related = key.related_model
    value = related._default_manager.using(using).filter(**lookup).values_list(key.target_field.attname).first()
    if value is None:
        return False
    setattr(obj, key.attname, value[0])
    return True


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple[Field[Any, Any], ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


#: Fields whose str, int or None value is stored as it is: their get_db_prep_save would
#: only return it again, at a cost that adds up on every delivery.
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.ForeignKey)
_PLAIN_VALUES = (str, int, type(None))


def _db_value(field: Field[Any, Any], obj: models.Model, connection: BaseDatabaseWrapper) -> Any:
    if isinstance(field, _PLAIN_FIELDS):
        value = getattr(obj, field.attname)
        if type(value) in _PLAIN_VALUES:
            return value
    elif not _sets_itself(field) and getattr(obj, field.attname) is None:
        return None  # NULL whatever the field (a JSONField of None is SQL NULL too: null=True, no default)
    return field.get_db_prep_save(field.pre_save(obj, add=True), connection)


def _sets_itself(field: Field[Any, Any]) -> bool:
    """Whether ``pre_save`` gives the field its value (``auto_now``, ``auto_now_add``)."""
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


@functools.cache
def _upsert_sql(
    model: type[models.Model],
    using: str,
    conflict: str,
    increment: tuple[str, ...],
    overwrite: tuple[str, ...],
    returned: tuple[Field[Any, Any], ...],
    parent: tuple[str, tuple[str, ...]] | None,
) -> str:
    """Build the statement once per model and shape: it is the same for every delivery."""
    quote = connections[using].ops.quote_name

    def column(field: Field[Any, Any] | str, of: type[models.Model] = model) -> str:
        name = _field(of, field).column if isinstance(field, str) else field.column
        return quote(name or "")

    meta = model._meta
    table = quote(meta.db_table)
    fields = _insert_fields(model)
    assignments = [f"{column(n)} = {table}.{column(n)} + 1" for n in increment]
    assignments += [f"{column(n)} = EXCLUDED.{column(n)}" for n in overwrite]
    if parent:
        foreign_key: Any = _field(model, parent[0])
        related = foreign_key.related_model
        source = quote(related._meta.db_table)
        target = column(foreign_key.target_field)
        selected = [f"{source}.{target}" if f is foreign_key else "%s" for f in fields]
        conditions = [f"{source}.{column(name, related)} = %s" for name in parent[1]]
        # A WHERE clause also keeps SQLite from reading ON CONFLICT as a join's ON.
        rows = f"SELECT {', '.join(selected)} FROM {source} WHERE {' AND '.join(conditions)}"
    else:
        rows = f"VALUES ({', '.join(['%s'] * len(fields))})"
    return (
        f"INSERT INTO {table} ({', '.join(column(f) for f in fields)}) {rows} "
        f"ON CONFLICT ({column(conflict)}) DO UPDATE SET {', '.join(assignments)} "
        f"RETURNING {column(_field(model, meta.pk.name))}, {', '.join(column(f) for f in returned)}"
    )


def _insert_or_update_portably(
    obj: models.Model,
    using: str,
    conflict: str,
    increment: Sequence[str],
    overwrite: Sequence[str],
    returned: tuple[Field[Any, Any], ...],
) -> Upserted:
    model = type(obj)
    try:
        with transaction.atomic(using=using):
            obj.save(force_insert=True, using=using)
    except IntegrityError:
        rows = model._default_manager.using(using).filter(**{conflict: getattr(obj, conflict)})
        changes: dict[str, Any] = {name: models.F(name) + 1 for name in increment}
        for name in overwrite:
            field = _field(model, name)
            changes[field.attname] = field.pre_save(obj, add=False)
        rows.update(**changes)
        stored = rows.get()
        obj.pk = stored.pk
        obj._state.adding = False
        obj._state.db = using
        return Upserted({f.attname: getattr(stored, f.attname) for f in returned}, raw=False)
    return Upserted({f.attname: getattr(obj, f.attname) for f in returned}, raw=False)


def _field(model: type[models.Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a concrete field.")
    return field


def from_db(field: Any, value: Any, connection: BaseDatabaseWrapper) -> Any:
    # Apply the conversions a queryset would (SQLite returns datetimes as text).
    column = field.get_col(field.model._meta.db_table)
    for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
        value = converter(value, column, connection)
    return value
