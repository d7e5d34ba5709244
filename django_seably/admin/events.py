"""The events' admin: the stored deliveries, their payloads, and reprocessing them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_seably.admin.display import badge, list_value, pretty_json
from django_seably.admin.filters import EventTypeFilter
from django_seably.admin.readonly import ReadOnlyAdmin
from django_seably.batching import id_batches
from django_seably.models import WebhookEvent
from django_seably.processing import Outcome, process_event

#: Events loaded at a time by the reprocess action.
REPROCESS_BATCH_SIZE = 500


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "received_at",
        "type",
        "object",
        "status_badge",
        "endpoint",
        "delivery_count",
        "attempts",
    ]
    list_display_links = ["id", "received_at"]
    list_filter = ["status", EventTypeFilter, "endpoint", "received_at"]
    list_select_related = ["endpoint"]
    # Exact, case-sensitive matches, which the (event_type, id) and object_id indexes
    # answer: the admin's "=" prefix means iexact, which no plain index serves on PostgreSQL.
    search_fields = ["object_id__exact", "event_type__exact"]
    search_help_text = _("Exact object id (e.g. SB-00000042) or event type.")
    actions = ["reprocess"]

    readonly_fields = (
        "endpoint",
        "event_type",
        "object_type",
        "object_id",
        "status_badge",
        "certificate_link",
        "delivery_count",
        "attempts",
        "received_at",
        "processed_at",
        "formatted_payload",
        "formatted_headers",
        "formatted_error",
        "body",
    )
    fields = readonly_fields

    @admin.display(description=_("event type"), ordering="event_type")
    def type(self, obj: WebhookEvent) -> str | None:
        return list_value(obj.event_type)

    @admin.display(description=_("object id"), ordering="object_id")
    def object(self, obj: WebhookEvent) -> str | None:
        return list_value(obj.object_id)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: WebhookEvent) -> str:
        return badge(obj.status, obj.get_status_display())

    @admin.display(description=_("certificate"))
    def certificate_link(self, obj: WebhookEvent) -> str:
        certificate = obj.created_certificates.first()
        if certificate is None:
            return "—"
        url = reverse("admin:django_seably_certificate_change", args=[certificate.pk])
        return format_html('<a href="{}">{}</a>', url, certificate.seably_id)

    @admin.display(description=_("payload"))
    def formatted_payload(self, obj: WebhookEvent) -> str:
        return pretty_json(obj.payload) if obj.payload is not None else "—"

    @admin.display(description=_("headers"))
    def formatted_headers(self, obj: WebhookEvent) -> str:
        return pretty_json(obj.headers)

    @admin.display(description=_("last error"))
    def formatted_error(self, obj: WebhookEvent) -> str:
        return format_html('<pre class="seably-error">{}</pre>', obj.last_error) if obj.last_error else "—"

    # The reprocess action runs here: each event must get a transaction of its own
    # (process_event), not a savepoint in the request's under ATOMIC_REQUESTS, or one
    # event's raising on_commit callback would cancel the others' callbacks.
    @method_decorator(transaction.non_atomic_requests)
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, extra_context)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        # Editing is off for everyone; the change permission is what allows repairs.
        return request.user.has_perm("django_seably.change_webhookevent")

    @admin.action(description=_("Reprocess selected events"), permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        # Keyset batches of ids, each batch read outside any transaction, then each event
        # processed in its own: no cursor stays open across the events' transactions, as
        # ``.iterator()``'s would. Re-filtering by pk drops the changelist's annotations.
        outcomes: Counter[str] = Counter()
        selected = WebhookEvent.objects.filter(pk__in=queryset.values("pk"))
        for ids in id_batches(selected, batch_size=REPROCESS_BATCH_SIZE):
            for event in WebhookEvent.objects.filter(pk__in=ids).order_by("pk"):
                outcomes[process_event(event)] += 1
        message = _("Reprocessed events: %(processed)d processed, %(failed)d failed, %(skipped)d skipped.") % {
            "processed": outcomes[Outcome.PROCESSED],
            "failed": outcomes[Outcome.FAILED],
            "skipped": outcomes[Outcome.SKIPPED] + outcomes[Outcome.INVALID],
        }
        self.message_user(request, message, messages.ERROR if outcomes[Outcome.FAILED] else messages.SUCCESS)
