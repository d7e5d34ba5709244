"""The query parameters of the API's lists: django-filter FilterSets, which drf-spectacular documents.

A malformed value is a 400 naming the parameter, never an empty list that looks
like an answer; an empty free-text value means no filter; unknown parameters are
ignored. No filter reads an endpoint's token. The parameters: docs/api.md.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import django_filters  # type: ignore[import-untyped]  # no stubs
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend  # type: ignore[import-untyped]

from django_seably.models import Certificate, CertificateQuerySet, WebhookEvent
from django_seably.payloads import is_storable_text

MOMENT_ERROR = (
    "Enter a date (2024-01-31) or a date and time with its offset (2024-01-31T12:00:00Z, 2024-01-31T13:00:00+01:00); "
    "in a URL, write + as %(plus)s."
)
# A parameter, since the message is a format string (django-filter formats it even without params).
_MOMENT_PARAMS = {"plus": "%2B"}
#: The parameter's schema in the OpenAPI document (``schema.py``): what ``parse_moment`` takes.
MOMENT_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
}

# RFC 3339 (what OpenAPI's "date" and "date-time" mean) and nothing else, for
# datetime.fromisoformat to read: it would also take week dates, basic formats and
# naive times, whose time zone would be a guess.
_RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?", re.ASCII)
_EARLIEST = datetime.datetime.min.replace(tzinfo=datetime.UTC)
_LATEST = datetime.datetime.max.replace(tzinfo=datetime.UTC)


def parse_moment(value: str, *, end_of_day: bool = False) -> datetime.datetime:
    """Parse an RFC 3339 date-time, or a date: its first moment (its last with ``end_of_day``), in UTC.

    A date is a day in the current time zone. A moment within a day of the
    calendar's ends (year 1, year 9999) that UTC cannot hold is clamped to that
    end: no stored date lies beyond it anyway.
    """
    if not _RFC_3339.fullmatch(value):
        raise ValidationError(MOMENT_ERROR, code="invalid", params=_MOMENT_PARAMS)
    try:
        moment = datetime.datetime.fromisoformat(value.upper())
    except ValueError as error:  # a day, hour or offset out of range (2024-02-30)
        raise ValidationError(MOMENT_ERROR, code="invalid", params=_MOMENT_PARAMS) from error
    if moment.tzinfo is None:  # a date
        moment = datetime.datetime.combine(
            moment.date(),
            datetime.time.max if end_of_day else datetime.time.min,
            tzinfo=timezone.get_current_timezone(),
        )
    try:
        return moment.astimezone(datetime.UTC)
    except OverflowError:
        return _EARLIEST if moment.year == 1 else _LATEST


class FilterBackend(DjangoFilterBackend):  # type: ignore[misc]
    """django-filter's backend; its form in the browsable API only when the project installs ``django_filters``.

    That form's template comes with the ``django_filters`` app, which the API does not require.
    """

    def to_html(self, request: Any, queryset: QuerySet[Any], view: Any) -> str | None:
        if not apps.is_installed("django_filters"):
            return None
        return super().to_html(request, queryset, view)  # type: ignore[no-any-return]


# --- fields: what a parameter's value may be ----------------------------------------------


class _Text(forms.CharField):
    """Any text, NUL included (``TextFilter`` answers it with nothing, as no stored text holds it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = []


class _Moment(forms.Field):
    def __init__(self, *, end_of_day: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end_of_day = end_of_day

    def clean(self, value: Any) -> datetime.datetime | None:
        if value is None:  # not given
            return None
        return parse_moment(value, end_of_day=self.end_of_day)


class _ClosedChoice(forms.ChoiceField):
    """One of the choices, exactly; given empty, it is no choice either (unlike a form's empty option)."""

    def clean(self, value: Any) -> str | None:
        if value is None:  # not given
            return None
        if not self.valid_value(value):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value})
        return str(value)


# --- filters --------------------------------------------------------------------------------


class TextFilter(django_filters.CharFilter):  # type: ignore[misc]
    """Exact text; empty means no filter."""

    field_class = _Text

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value and not is_storable_text(value):
            return qs.none()
        return super().filter(qs, value)  # type: ignore[no-any-return]


class MomentFilter(django_filters.Filter):  # type: ignore[misc]
    """A bound on a date-time column: a date (the day's start, or its end) or an RFC 3339 date-time."""

    field_class = _Moment


def moment_bounds(field_name: str, verb: str) -> tuple[MomentFilter, MomentFilter]:
    """Return the filters of a time range on ``field_name``: from (inclusive) and to (inclusive)."""
    return (
        MomentFilter(
            field_name=field_name,
            lookup_expr="gte",
            help_text=f"{verb} at or after this date (from its start, in the site's time zone) or RFC 3339 date-time.",
        ),
        MomentFilter(
            field_name=field_name,
            lookup_expr="lte",
            end_of_day=True,
            help_text=f"{verb} at or before this date (through its end, in the site's time zone) or RFC 3339 date-time.",
        ),
    )


class ClosedChoiceFilter(django_filters.ChoiceFilter):  # type: ignore[misc]
    """One of a closed set of values; anything else is a 400 that lists them."""

    field_class = _ClosedChoice

    def __init__(self, name: str, choices: list[tuple[str, Any]], **kwargs: Any) -> None:
        message = f"Unknown {name} %(value)r: use one of {', '.join(value for value, _label in choices)}."
        super().__init__(choices=choices, error_messages={"invalid_choice": message}, **kwargs)


VALIDITIES = [
    ("valid", "no expiry date, or expiring today or later"),
    ("expired", "expiry date before today"),
    ("no_expiry", "no expiry date"),
]


class CertificateFilter(django_filters.FilterSet):  # type: ignore[misc]
    learner_email = TextFilter(
        method="filter_learner_email",
        help_text="Certificates of the learner with this email, whole, ignoring the case of ASCII letters.",
    )
    course = TextFilter(field_name="course_name", help_text="Certificates of the course with exactly this name.")
    issued_from, issued_to = moment_bounds("issued_at", "Issued")
    validity = ClosedChoiceFilter(
        "validity",
        VALIDITIES,
        method="filter_validity",
        help_text="Certificates by their validity today, in the site's time zone.",
    )
    search = TextFilter(
        method="filter_search",
        help_text="A learner email (whole, ignoring the case of ASCII letters), a Seably id (exact), "
        "or part of a learner or course name.",
    )

    class Meta:
        model = Certificate
        fields: list[str] = []  # only the filters declared above

    def filter_learner_email(self, queryset: CertificateQuerySet, name: str, value: str) -> CertificateQuerySet:
        return queryset.of_learner(value)

    def filter_validity(self, queryset: CertificateQuerySet, name: str, value: str) -> CertificateQuerySet:
        if value == "valid":
            return queryset.valid()
        if value == "expired":
            return queryset.expired()
        return queryset.no_expiry()

    def filter_search(self, queryset: CertificateQuerySet, name: str, value: str) -> CertificateQuerySet:
        return queryset.search(value)


class WebhookEventFilter(django_filters.FilterSet):  # type: ignore[misc]
    status = ClosedChoiceFilter("status", WebhookEvent.Status.choices, help_text="Events with this status.")
    event_type = TextFilter(help_text="Events of this type, exactly (e.g. certificate.created).")
    endpoint = TextFilter(field_name="endpoint__name", help_text="Events received by the endpoint with this name.")
    object_id = TextFilter(help_text="Events about the Seably object with this id, exactly (e.g. SB-00000042).")
    received_from, received_to = moment_bounds("received_at", "Received")

    class Meta:
        model = WebhookEvent
        fields: list[str] = []  # only the filters declared above
