"""The query parameters of the API's lists, parsed by hand (no django-filter), each declared once.

A parameter carries its OpenAPI schema next to the code that applies it, so the
views and the generated schema (``schema.py``) cannot drift apart. A malformed
value is a 400 that names the parameter (DRF's ``ValidationError``), never an empty
list that looks like an answer; an empty value of a free-text parameter means no
filter. Every lookup can use an index: exact columns, ``Upper("learner_email")``
for the case-insensitive email, ranges on indexed dates.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.db.models import Model, QuerySet
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from django_seably.models import CertificateQuerySet, WebhookEvent

_M = TypeVar("_M", bound=Model)


class InvalidValue(ValueError):
    """A query parameter's value is malformed; its message is what the 400 says."""


@dataclass(frozen=True)
class QueryParam:
    """A filter of a list: its name, what it does, its OpenAPI schema, and how it narrows the queryset."""

    name: str
    description: str
    schema: dict[str, Any]
    apply: Callable[[QuerySet[Any], str], QuerySet[Any]]


def filter_queryset(queryset: QuerySet[_M], params: Sequence[QueryParam], query: Mapping[str, str]) -> QuerySet[_M]:
    """Apply each of ``params`` given in ``query``; raise a ValidationError naming every malformed one."""
    errors: dict[str, list[str]] = {}
    for param in params:
        value = query.get(param.name)
        if value is None:
            continue
        try:
            queryset = param.apply(queryset, value)
        except InvalidValue as error:
            errors[param.name] = [str(error)]
    if errors:
        raise ValidationError(errors)
    return queryset


# --- values --------------------------------------------------------------------

_STRING: dict[str, Any] = {"type": "string"}
#: RFC 3339 (what OpenAPI's "date" and "date-time" formats mean), and nothing else:
#: no naive times, whose time zone would be a guess.
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))", re.ASCII
)
_MOMENT_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
}
_MOMENT_ERROR = (
    "Enter a date (2024-01-31) or a date and time with its offset (2024-01-31T12:00:00Z, 2024-01-31T13:00:00+01:00); "
    "in a URL, write + as %2B."
)
_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC)
_LATEST = datetime.datetime.max.replace(tzinfo=datetime.UTC)


def parse_moment(value: str, *, end_of_day: bool = False) -> datetime.datetime:
    """Parse an RFC 3339 date-time, or a date: its first moment (its last with ``end_of_day``), in UTC.

    A date is a day in the current time zone. A moment within a day of the
    calendar's ends (year 1, year 9999) that UTC cannot hold is clamped to that
    end: no stored date lies beyond it anyway.
    """
    try:
        if match := _DATE.fullmatch(value):
            day = datetime.date(*map(int, match.groups()))
            moment = datetime.datetime.combine(
                day, datetime.time.max if end_of_day else datetime.time.min, tzinfo=timezone.get_current_timezone()
            )
        elif match := _DATE_TIME.fullmatch(value):
            moment = _date_time(*match.groups())
        else:
            raise InvalidValue(_MOMENT_ERROR)
    except InvalidValue:
        raise
    except ValueError as error:  # a day, hour or offset out of range (2024-02-30)
        raise InvalidValue(_MOMENT_ERROR) from error
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        return _EARLIEST if moment.year == 1 else _LATEST


def _date_time(
    year: str, month: str, day: str, hour: str, minute: str, second: str, fraction: str | None, *offset: str | None
) -> datetime.datetime:
    sign, offset_hours, offset_minutes = offset
    utc_offset = datetime.timedelta()
    if sign and offset_hours and offset_minutes:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError("offset out of range")
        utc_offset = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    return datetime.datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second),
        int((fraction or "0")[:6].ljust(6, "0")),  # RFC 3339 allows more digits than Python keeps
        tzinfo=datetime.timezone(-utc_offset if sign == "-" else utc_offset),
    )


def _choice(name: str, choices: Sequence[str], apply: Callable[[QuerySet[Any], str], QuerySet[Any]]) -> Any:
    def parse(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        if value not in choices:
            raise InvalidValue(f"Unknown {name} {value!r}: use one of {', '.join(choices)}.")
        return apply(queryset, value)

    return parse


def _text(lookup: str) -> Callable[[QuerySet[Any], str], QuerySet[Any]]:
    def apply(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        if not value:
            return queryset
        if "\x00" in value:
            # Nothing stored holds NUL (the webhook refuses it; PostgreSQL cannot compare it).
            return queryset.none()
        return queryset.filter(**{lookup: value})

    return apply


def _moment_bound(lookup: str, *, end: bool) -> Callable[[QuerySet[Any], str], QuerySet[Any]]:
    def apply(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
        return queryset.filter(**{lookup: parse_moment(value, end_of_day=end)})

    return apply


# --- certificates ----------------------------------------------------------------

VALIDITIES = ("valid", "expired", "no_expiry")


def _validity(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
    certificates = cast(CertificateQuerySet, queryset)
    if value == "valid":
        return certificates.valid()
    if value == "expired":
        return certificates.expired()
    return certificates.no_expiry()


def _search(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
    return cast(CertificateQuerySet, queryset).search(value)


CERTIFICATE_PARAMS: tuple[QueryParam, ...] = (
    QueryParam(
        "learner_email",
        "Certificates of the learner with this email, case-insensitive.",
        _STRING,
        _text("learner_email__iexact"),
    ),
    QueryParam("course", "Certificates of the course with exactly this name.", _STRING, _text("course_name")),
    QueryParam(
        "issued_from",
        "Issued at or after this date (from its start, in the site's time zone) or RFC 3339 date-time.",
        _MOMENT_SCHEMA,
        _moment_bound("issued_at__gte", end=False),
    ),
    QueryParam(
        "issued_to",
        "Issued at or before this date (through its end, in the site's time zone) or RFC 3339 date-time.",
        _MOMENT_SCHEMA,
        _moment_bound("issued_at__lte", end=True),
    ),
    QueryParam(
        "validity",
        "valid: no expiry date, or expiring today or later; expired: expiry date before today; "
        "no_expiry: no expiry date.",
        {"type": "string", "enum": list(VALIDITIES)},
        _choice("validity", VALIDITIES, _validity),
    ),
    QueryParam(
        "search",
        "A learner email (whole, case-insensitive), a Seably id (exact), or part of a learner or course name.",
        _STRING,
        _search,
    ),
)


# --- events -----------------------------------------------------------------------

STATUSES = tuple(WebhookEvent.Status.values)

EVENT_PARAMS: tuple[QueryParam, ...] = (
    QueryParam(
        "status",
        "Events with this status.",
        {"type": "string", "enum": list(STATUSES)},
        _choice("status", STATUSES, lambda queryset, value: queryset.filter(status=value)),
    ),
    QueryParam(
        "event_type",
        "Events of this type, exactly (e.g. certificate.created).",
        _STRING,
        _text("event_type"),
    ),
    QueryParam("endpoint", "Events received by the endpoint with this name.", _STRING, _text("endpoint__name")),
    QueryParam(
        "object_id",
        "Events about the Seably object with this id, exactly (e.g. SB-00000042).",
        _STRING,
        _text("object_id"),
    ),
    QueryParam(
        "received_from",
        "Received at or after this date (from its start, in the site's time zone) or RFC 3339 date-time.",
        _MOMENT_SCHEMA,
        _moment_bound("received_at__gte", end=False),
    ),
    QueryParam(
        "received_to",
        "Received at or before this date (through its end, in the site's time zone) or RFC 3339 date-time.",
        _MOMENT_SCHEMA,
        _moment_bound("received_at__lte", end=True),
    ),
)
