"""The certificates' admin: read-only, searchable, filterable, exportable as CSV."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from django_seably.admin.display import list_value, pretty_json
from django_seably.admin.export import certificates_csv
from django_seably.admin.filters import CourseFilter, ValidityFilter
from django_seably.admin.readonly import ReadOnlyAdmin
from django_seably.models import Certificate, CertificateQuerySet, WebhookEvent

#: Events linked from a certificate's page.
EVENT_LINKS_LIMIT = 20


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["seably_id", "learner_name", "email", "course_name", "issued_at", "expires_on"]
    list_filter = [CourseFilter, ValidityFilter]
    # What the search reaches, and how; CertificateQuerySet.search (get_search_results)
    # picks one of them by what was typed, so that an email or an id is answered by an index.
    search_fields = ["seably_id__exact", "learner_email__iexact", "learner_name__icontains", "course_name__icontains"]
    search_help_text = _("Seably id, learner e-mail (exact), or part of a learner or course name.")
    actions = ["export_csv"]
    readonly_fields = (
        "seably_id",
        "learner_name",
        "learner_email",
        "course_name",
        "issued_at",
        "expires_on",
        "url",
        "event",
        "event_links",
        "created_at",
        "updated_at",
        "formatted_data",
    )
    fields = readonly_fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        return cast(CertificateQuerySet, queryset).search(search_term), False

    @admin.display(description=_("learner email"), ordering="learner_email")
    def email(self, obj: Certificate) -> str | None:
        return list_value(obj.learner_email)

    @admin.display(description=_("events"))
    def event_links(self, obj: Certificate) -> str:
        events = WebhookEvent.objects.filter(object_id=obj.seably_id, event_type="certificate.created")
        links = [
            # display_for_value: the time as every other date in the admin shows it (local, formatted).
            (
                reverse("admin:django_seably_webhookevent_change", args=[event.pk]),
                event,
                display_for_value(event.received_at, ""),
            )
            for event in events.only("pk", "event_type", "received_at")[:EVENT_LINKS_LIMIT]
        ]
        return format_html_join(", ", '<a href="{}">{}</a> ({})', links) or "—"

    @admin.display(description=_("data"))
    def formatted_data(self, obj: Certificate) -> str:
        return pretty_json(obj.data)

    @admin.action(description=_("Export selected certificates as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Certificate]) -> StreamingHttpResponse:
        return certificates_csv(queryset)
