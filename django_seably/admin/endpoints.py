"""The endpoints' admin: the one page that shows a token, to those who may change endpoints; rotation."""

from __future__ import annotations

import datetime
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_seably.admin.lookups import SecretLookupsRefused
from django_seably.models import Endpoint, EndpointQuerySet


@admin.register(Endpoint)
class EndpointAdmin(SecretLookupsRefused):
    list_display = ["name", "is_active", "masked_token", "events", "last_received_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["masked_token", "created_at"]
    actions = ["rotate_token"]

    class Media:
        css = {"all": ["django_seably/admin.css"]}
        js = ["django_seably/copy.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Endpoint]:
        queryset: QuerySet[Endpoint] = super().get_queryset(request)
        return cast(EndpointQuerySet, queryset).with_last_received_at()

    @admin.display(description=_("token"))
    def masked_token(self, obj: Endpoint) -> str:
        return obj.masked_token if obj.token else str(_("Generated when you save."))

    @admin.display(description=_("events"))
    def events(self, obj: Endpoint) -> str:
        # A link, not a count: counting each endpoint's events would read them all on every
        # view of this list; the event list counts them (or estimates, past EXACT_COUNT_BELOW).
        url = reverse("admin:django_seably_webhookevent_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">{}</a>', url, obj.pk, _("View events"))

    @admin.display(description=_("last received"), ordering="last_received_at")
    def last_received_at(self, obj: Endpoint) -> datetime.datetime | None:
        return getattr(obj, "last_received_at", None)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        endpoint = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if endpoint is not None:
            # The endpoint's own page is the one place that shows its token in full, and only
            # to those who may change the endpoint: the URL is enough to forge certificates.
            url = request.build_absolute_uri(endpoint.webhook_path)
            if self.has_change_permission(request, endpoint):
                extra_context["webhook_url"] = url
            else:
                extra_context["masked_webhook_url"] = url.replace(endpoint.token, endpoint.masked_token)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_rotate_token_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_seably.change_endpoint")

    @admin.action(description=_("Rotate token of selected endpoints"), permissions=["rotate_token"])
    def rotate_token(self, request: HttpRequest, queryset: QuerySet[Endpoint]) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Rotate tokens?"),
                "opts": self.model._meta,
                "endpoints": list(queryset),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            return TemplateResponse(request, "admin/django_seably/endpoint/rotate_token.html", context)
        rotated = 0
        for endpoint in queryset:
            old = endpoint.masked_token
            endpoint.rotate_token()
            rotated += 1
            self.log_change(request, endpoint, f"Rotated token {old} → {endpoint.masked_token}")
        self.message_user(
            request,
            ngettext(
                "Rotated the token of %(count)d endpoint: its old URL now answers 404. Register the new URL on Seably.",
                "Rotated the tokens of %(count)d endpoints: their old URLs now answer 404. Register the new URLs on Seably.",
                rotated,
            )
            % {"count": rotated},
            messages.SUCCESS,
        )
        return None
