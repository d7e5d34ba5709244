"""List filters whose choices come from indexes, not from reading the table."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.db.models import Min, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_seably.models import CertificateQuerySet

#: Most distinct values a filter offers (event types, courses); more are reachable by search.
FILTER_CHOICES_LIMIT = 50


def distinct_values(queryset: QuerySet[Any], field: str, limit: int = FILTER_CHOICES_LIMIT) -> list[str]:
    """Return the distinct non-empty values of an indexed column, one index probe per value.

    ``SELECT DISTINCT`` reads the whole table or index; jumping from one value to
    the next ("loose index scan") costs as many probes as there are values.
    """
    values: list[str] = []
    last = ""
    while len(values) < limit:
        last = queryset.filter(**{f"{field}__gt": last}).aggregate(next=Min(field))["next"]
        if last is None:
            break
        values.append(last)
    return values


class IndexedValuesFilter(admin.SimpleListFilter):
    """Offer the distinct values of an indexed column, read with ``distinct_values``."""

    #: The column filtered on; its values are the choices.
    field: str

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in distinct_values(model_admin.model._default_manager.all(), self.field)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class EventTypeFilter(IndexedValuesFilter):
    title = _("event type")
    parameter_name = "event_type"
    field = "event_type"


class CourseFilter(IndexedValuesFilter):
    title = _("course")
    parameter_name = "course"
    field = "course_name"


class ValidityFilter(admin.SimpleListFilter):
    """Valid, expired or without expiry: the rule is CertificateQuerySet's, as in the API."""

    title = _("validity")
    parameter_name = "validity"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("valid", _("Valid")), ("expired", _("Expired")), ("no_expiry", _("No expiry"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        certificates = cast(CertificateQuerySet, queryset)
        match self.value():
            case "valid":
                return certificates.valid()
            case "expired":
                return certificates.expired()
            case "no_expiry":
                return certificates.no_expiry()
        return queryset
