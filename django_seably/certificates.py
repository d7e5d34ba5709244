"""Read the searchable Certificate columns out of ``payload.data``; pure functions, no ORM.

Seably documents only ``type`` and ``id`` of the certificate object, so every
column is best effort: a value that is missing or malformed gives an empty
column, never an error. ``Certificate.data`` always keeps the whole object.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.db.models import CharField
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from django_seably.conf import seably_settings
from django_seably.models import Certificate

Path = str | list[str]


def extract_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the value of every searchable column: "" or None where nothing usable was found."""
    return {
        column: convert(_first_found(data, paths)) for column, convert, paths in seably_settings.computed(_compiled)
    }


def _compiled() -> list[tuple[str, Callable[[Any], Any], list[Any]]]:
    """Split each dotted path of ``CERTIFICATE_FIELDS`` once: every certificate reads the same paths."""
    return [
        (
            column,
            _CONVERTERS[column],
            [tuple(p.split(".")) if isinstance(p, str) else [tuple(part.split(".")) for part in p] for p in paths],
        )
        for column, paths in seably_settings.CERTIFICATE_FIELDS.items()
    ]


def _first_found(data: Mapping[str, Any], paths: list[Any]) -> Any:
    for path in paths:
        if isinstance(path, tuple):
            value = _at(data, path)
        else:
            parts = [_at(data, part) for part in path]
            value = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
        if value not in (None, ""):
            return value
    return None


def _at(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _column_text(column: str, *, strip: bool = True) -> Callable[[Any], str]:
    """Return the converter of a text column: a string (stripped unless ``strip`` is off) that fits it, else ""."""
    field = Certificate._meta.get_field(column)
    assert isinstance(field, CharField) and field.max_length is not None
    max_length = field.max_length

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            return ""
        if strip:
            value = value.strip()
        # Longer than the column holds: not what the mapping meant to find.
        return value if len(value) <= max_length else ""

    return convert


# As sent, never trimmed: linking compares the address exactly (" ada@x" links nothing),
# and the column shows what was received.
_email_text = _column_text("learner_email", strip=False)


def _email(value: Any) -> str:
    value = _email_text(value)
    return value if "@" in value else ""


def _datetime(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
        if parsed is None:
            date = parse_date(value)
            parsed = datetime.datetime.combine(date, datetime.time()) if date else None
    except ValueError:  # well formed but impossible, e.g. 2026-02-31
        return None
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=datetime.UTC)
    try:
        parsed.astimezone(datetime.UTC)  # out of range once normalised, e.g. 0001-01-01T00:00+01:00
        if not settings.USE_TZ:
            # Databases refuse aware datetimes when USE_TZ is off; store local time.
            parsed = timezone.make_naive(parsed)
    except OverflowError:
        return None
    return parsed


def _date(value: Any) -> datetime.date | None:
    if not isinstance(value, str):
        return None
    try:
        date = parse_date(value)
        if date is None:
            moment = parse_datetime(value)
            date = moment.date() if moment else None
    except ValueError:
        return None
    return date


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "learner_email": _email,
    "learner_name": _column_text("learner_name"),
    "course_name": _column_text("course_name"),
    "issued_at": _datetime,
    "expires_on": _date,
    "url": _column_text("url"),
}
