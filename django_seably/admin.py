"""The admin an operator runs the integration from: events, certificates, endpoints, an overview.

Every page must answer as fast with a million events as with ten: no full-table
count on unfiltered lists (see ``EstimatedCountPaginator``), filter choices read
from indexes, exact-match searches that use them, no query per row.
"""

from __future__ import annotations

import csv
import datetime
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any, cast

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import display_for_value
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_seably.models import (
    Certificate,
    CertificateQuerySet,
    Endpoint,
    EndpointQuerySet,
    EventOverview,
    WebhookEvent,
    generate_token,
)
from django_seably.processing import process_event

Status = WebhookEvent.Status

#: Most distinct values a filter offers (event types, courses); more are reachable by search.
FILTER_CHOICES_LIMIT = 50

#: Results the planner expects to be smaller are counted exactly; above, its estimate is shown.
EXACT_COUNT_BELOW = 50_000

#: Events counted per endpoint in its list; above, "10,000+".
EVENTS_COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Count small results exactly; take PostgreSQL's planner estimate for big ones.

    ``COUNT(*)`` reads every matching row: a second or more at a million rows,
    on every page view of an unfiltered list or of a filter that matches most
    rows (``status=processed``). The planner's estimate costs one ``EXPLAIN``;
    results it expects to be small are then counted exactly. ``is_estimate``
    tells the change list (``admin/django_seably/change_list.html``) to say so.
    """

    is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet):
            estimate = estimated_count(queryset)
            if estimate >= EXACT_COUNT_BELOW:
                self.is_estimate = True
                return estimate
        return super().count


def estimated_count(queryset: QuerySet[Any]) -> int:
    """Return the planner's estimate of the rows ``queryset`` matches, or -1 where there is none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return -1
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


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


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written only by the webhook: viewable, never added or edited by hand."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    class Media:
        css = {"all": ["django_seably/admin.css"]}

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # Each model searches the way its indexes can answer (see ``search``),
        # never with the admin's default OR of icontains over every field.
        term = search_term.strip()
        return (self.search(queryset, term) if term else queryset), False

    def search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        return queryset


def _pretty_json(value: Any) -> str:
    return format_html('<pre class="seably-json">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


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


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "received_at",
        "event_type",
        "object_id",
        "status_badge",
        "endpoint",
        "delivery_count",
        "attempts",
    ]
    list_display_links = ["id", "received_at"]
    list_filter = ["status", EventTypeFilter, "endpoint", "received_at"]
    list_select_related = ["endpoint"]
    search_fields = ["object_id", "event_type"]
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

    def search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        # Exact, case-sensitive matches: the admin's own "=" lookups are
        # case-insensitive, which no plain index can answer on PostgreSQL.
        return queryset.filter(Q(object_id=term) | Q(event_type=term))

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: WebhookEvent) -> str:
        return format_html('<span class="seably-badge seably-{}">{}</span>', obj.status, obj.get_status_display())

    @admin.display(description=_("certificate"))
    def certificate_link(self, obj: WebhookEvent) -> str:
        certificate = obj.created_certificates.first()
        if certificate is None:
            return "—"
        url = reverse("admin:django_seably_certificate_change", args=[certificate.pk])
        return format_html('<a href="{}">{}</a>', url, certificate.seably_id)

    @admin.display(description=_("payload"))
    def formatted_payload(self, obj: WebhookEvent) -> str:
        return _pretty_json(obj.payload) if obj.payload is not None else "—"

    @admin.display(description=_("headers"))
    def formatted_headers(self, obj: WebhookEvent) -> str:
        return _pretty_json(obj.headers)

    @admin.display(description=_("last error"))
    def formatted_error(self, obj: WebhookEvent) -> str:
        return format_html('<pre class="seably-error">{}</pre>', obj.last_error) if obj.last_error else "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The rows are what deduplication remembers: seably_prune empties old ones instead.
        return False

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
        outcomes = Counter(process_event(event) for event in queryset.order_by("pk").iterator(chunk_size=500))
        skipped = outcomes["skipped"] + outcomes["invalid"]
        message = _("Reprocessed events: %(processed)d processed, %(failed)d failed, %(skipped)d skipped.") % {
            "processed": outcomes["processed"],
            "failed": outcomes["failed"],
            "skipped": skipped,
        }
        self.message_user(request, message, messages.ERROR if outcomes["failed"] else messages.SUCCESS)


class CourseFilter(IndexedValuesFilter):
    title = _("course")
    parameter_name = "course"
    field = "course_name"


class ValidityFilter(admin.SimpleListFilter):
    title = _("validity")
    parameter_name = "validity"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("valid", _("Valid")), ("expired", _("Expired")), ("no_expiry", _("No expiry"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        match self.value():
            case "valid":
                return cast(CertificateQuerySet, queryset).valid()
            case "expired":
                return cast(CertificateQuerySet, queryset).expired()
            case "no_expiry":
                return cast(CertificateQuerySet, queryset).no_expiry()
        return queryset


#: Columns of the CSV export, in order.
CSV_COLUMNS = [
    "seably_id",
    "learner_name",
    "learner_email",
    "course_name",
    "issued_at",
    "expires_on",
    "url",
    "created_at",
]


def csv_safe(value: Any) -> str:
    """Return ``value`` as CSV text that a spreadsheet will not run as a formula."""
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["seably_id", "learner_name", "learner_email", "course_name", "issued_at", "expires_on"]
    list_filter = [CourseFilter, ValidityFilter]
    search_fields = ["seably_id", "learner_email", "learner_name", "course_name"]
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

    def search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        return cast(CertificateQuerySet, queryset).search(term)

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
            for event in events.only("pk", "event_type", "received_at")[:20]
        ]
        return format_html_join(", ", '<a href="{}">{}</a> ({})', links) or "—"

    @admin.display(description=_("data"))
    def formatted_data(self, obj: Certificate) -> str:
        return _pretty_json(obj.data)

    @admin.action(description=_("Export selected certificates as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Certificate]) -> StreamingHttpResponse:
        writer = csv.writer(_Echo())

        def rows() -> Iterator[str]:
            yield writer.writerow(CSV_COLUMNS)
            for certificate in queryset.order_by("pk").only(*CSV_COLUMNS).iterator(chunk_size=2000):
                yield writer.writerow([csv_safe(getattr(certificate, column)) for column in CSV_COLUMNS])

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="certificates.csv"'
        return response


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "is_active", "masked_token", "events_received", "last_received_at", "created_at"]
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

    @admin.display(description=_("events received"))
    def events_received(self, obj: Endpoint) -> str:
        # Counting a million rows per page view is not worth an exact number past the cap.
        count = obj.events.order_by()[: EVENTS_COUNT_CAP + 1].count()
        return f"{EVENTS_COUNT_CAP:,}+" if count > EVENTS_COUNT_CAP else f"{count:,}"

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
            endpoint.token = generate_token()
            endpoint.save(update_fields=["token"])
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


@admin.register(EventOverview)
class EventOverviewAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The overview page: is Seably sending, did anything fail, how far behind are we."""

    #: Days shown in the chart.
    DAYS = 30

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("django_seably.view_webhookevent")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("Seably overview"),
            "opts": self.model._meta,
            "chart": _daily_chart(self.DAYS),
            "statuses": _status_counts(),
            "oldest_failed": WebhookEvent.objects.oldest(Status.FAILED),
            "oldest_pending": WebhookEvent.objects.oldest(Status.PENDING),
            "endpoints": Endpoint.objects.with_last_received_at().order_by("name"),
            "media": self.media,
        }
        return TemplateResponse(request, "admin/django_seably/overview.html", context)

    class Media:
        css = {"all": ["django_seably/admin.css"]}


#: On the overview, a status with more events than this shows the planner's estimate.
OVERVIEW_EXACT_BELOW = 1_000


def _status_counts() -> list[dict[str, Any]]:
    """Count each status exactly while it is small; past that, show PostgreSQL's estimate.

    A backlog of failed events is what an operator must see exactly while it is
    small; at tens of thousands, "about" is as useful and costs no scan.
    """
    changelist = reverse("admin:django_seably_webhookevent_changelist")
    counts = []
    for status in Status:
        events = WebhookEvent.objects.filter(status=status)
        estimate = estimated_count(events)
        estimated = estimate >= OVERVIEW_EXACT_BELOW
        counts.append(
            {
                "status": status.value,
                "label": status.label,
                "count": estimate if estimated else events.count(),
                "estimated": estimated,
                "url": f"{changelist}?status__exact={status.value}",
            }
        )
    return counts


def _daily_chart(days: int) -> dict[str, Any]:
    """Events per day for the last ``days`` days, laid out as SVG bars (no JavaScript, no CDN)."""
    today = timezone.localdate()
    start = today - datetime.timedelta(days=days - 1)
    per_day = {**_closed_days_counts(start, today), **_counts_per_day(today, today)}
    width, height, gap = 24, 160, 4
    peak = max(per_day.values(), default=0)
    bars = []
    for index in range(days):
        day = start + datetime.timedelta(days=index)
        count = per_day.get(day, 0)
        bar_height = round(count / peak * (height - 20)) if peak else 0
        bars.append(
            {
                "x": index * (width + gap),
                "y": height - bar_height,
                "height": bar_height,
                "day": day,
                "count": count,
                "label": day.strftime("%d %b") if index % 5 == 0 or index == days - 1 else "",
            }
        )
    return {
        "bars": bars,
        "width": days * (width + gap),
        "height": height,
        "bar_width": width,
        "peak": peak,
        "total": sum(per_day.values()),
        "days": days,
    }


#: How long the counts of days that are over stay cached (they change only if events are deleted).
CLOSED_DAYS_CACHE_SECONDS = 3600


def _closed_days_counts(start: datetime.date, today: datetime.date) -> dict[datetime.date, int]:
    """Counts of the days before today: a day that is over keeps its count, so it is cached.

    With a million events the last 30 days hold tens of thousands of rows; only
    today's are counted on every view.
    """
    key = f"django_seably:overview:{WebhookEvent.objects.db}:{timezone.get_current_timezone_name()}:{start}:{today}"
    counts: dict[datetime.date, int] | None = cache.get(key)
    if counts is None:
        counts = _counts_per_day(start, today - datetime.timedelta(days=1))
        cache.set(key, counts, CLOSED_DAYS_CACHE_SECONDS)
    return counts


def _counts_per_day(first: datetime.date, last: datetime.date) -> dict[datetime.date, int]:
    since = datetime.datetime.combine(first, datetime.time())
    until = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time())
    if settings.USE_TZ:
        since, until = timezone.make_aware(since), timezone.make_aware(until)
    return dict(
        WebhookEvent.objects.filter(received_at__gte=since, received_at__lt=until)
        .annotate(day=TruncDate("received_at"))
        .order_by()
        .values_list("day")
        .annotate(total=Count("pk"))
        .values_list("day", "total")
    )
