from __future__ import annotations

import json
from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.processing import process_event


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written only by the webhook: viewable, never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty_json(value: Any) -> str:
    return format_html(
        "<pre>{}</pre>",
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False),
    )


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "is_active", "masked_token", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["webhook_url", "created_at"]

    @admin.display(description=_("token"))
    def masked_token(self, obj: Endpoint) -> str:
        return obj.masked_token

    @admin.display(description=_("webhook URL"))
    def webhook_url(self, obj: Endpoint) -> str:
        # The endpoint's own page is the one place that shows its token in full.
        if not obj.pk:
            return str(_("Generated when you save."))
        return obj.webhook_path


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "received_at",
        "event_type",
        "object_id",
        "status",
        "endpoint",
        "delivery_count",
        "attempts",
    ]
    list_filter = ["status", "event_type", "endpoint", "received_at"]
    list_select_related = ["endpoint"]
    search_fields = ["=object_id", "=event_type"]
    date_hierarchy = None
    actions = ["reprocess"]
    readonly_fields = (
        "endpoint",
        "event_type",
        "object_type",
        "object_id",
        "status",
        "delivery_count",
        "attempts",
        "received_at",
        "processed_at",
        "formatted_payload",
        "formatted_headers",
        "last_error",
        "body",
    )
    fields = readonly_fields

    @admin.display(description=_("payload"))
    def formatted_payload(self, obj: WebhookEvent) -> str:
        return _pretty_json(obj.payload) if obj.payload is not None else "—"

    @admin.display(description=_("headers"))
    def formatted_headers(self, obj: WebhookEvent) -> str:
        return _pretty_json(obj.headers)

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        # Editing is off for everyone; the change permission is what allows repairs.
        return request.user.has_perm("django_seably.change_webhookevent")

    @admin.action(description=_("Reprocess selected events"), permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        outcomes = Counter(process_event(event) for event in queryset.iterator(chunk_size=500))
        level = messages.ERROR if outcomes["failed"] else messages.SUCCESS
        parts = [
            ngettext("%(count)d processed", "%(count)d processed", outcomes["processed"]),
            ngettext("%(count)d failed", "%(count)d failed", outcomes["failed"]),
            ngettext(
                "%(count)d skipped",
                "%(count)d skipped",
                outcomes["skipped"] + outcomes["invalid"],
            ),
        ]
        counts = [
            outcomes["processed"],
            outcomes["failed"],
            outcomes["skipped"] + outcomes["invalid"],
        ]
        message = ", ".join(part % {"count": count} for part, count in zip(parts, counts, strict=True))
        self.message_user(request, _("Reprocessed events: %s.") % message, level)


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = [
        "seably_id",
        "learner_name",
        "learner_email",
        "course_name",
        "issued_at",
        "expires_on",
    ]
    list_filter = ["course_name", "expires_on"]
    search_fields = ["=seably_id", "learner_email", "learner_name", "course_name"]
    readonly_fields = (
        "seably_id",
        "learner_name",
        "learner_email",
        "course_name",
        "issued_at",
        "expires_on",
        "url",
        "event",
        "created_at",
        "updated_at",
        "formatted_data",
    )
    fields = readonly_fields

    @admin.display(description=_("data"))
    def formatted_data(self, obj: Certificate) -> str:
        return _pretty_json(obj.data)
