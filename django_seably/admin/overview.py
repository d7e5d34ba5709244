"""The overview page: is Seably sending, did anything fail, how far behind are we."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from django_seably.admin.counting import OVERVIEW_EXACT_COUNT_BELOW, counted
from django_seably.admin.readonly import ReadOnlyAdmin
from django_seably.conf import seably_settings
from django_seably.models import EventOverview, WebhookEvent
from django_seably.status import endpoint_activity

Status = WebhookEvent.Status


@admin.register(EventOverview)
class EventOverviewAdmin(ReadOnlyAdmin):
    """One page, no list: the proxy model only gives it its place in the admin index."""

    #: Days shown in the chart.
    DAYS = 30

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("django_seably.view_webhookevent")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        max_silence = seably_settings.HEALTH_MAX_SILENCE
        context = {
            **self.admin_site.each_context(request),
            "title": _("Seably overview"),
            "opts": self.model._meta,
            "chart": _daily_chart(self.DAYS),
            "statuses": _status_counts(),
            "oldest_failed": WebhookEvent.objects.oldest(Status.FAILED),
            "oldest_pending": WebhookEvent.objects.oldest(Status.PENDING),
            "endpoints": _endpoint_silences(max_silence),
            "max_silence_text": _duration_text(max_silence) if max_silence else "",
            "media": self.media,
        }
        return TemplateResponse(request, "admin/django_seably/overview.html", context)


def _duration_text(duration: datetime.timedelta) -> str:
    """Return ``duration`` as the admin writes times since ("2 days, 3 hours"), translated."""
    now = timezone.now()
    return timesince(now - duration, now)


def _endpoint_silences(max_silence: datetime.timedelta | None) -> list[dict[str, Any]]:
    """Each endpoint with how long it has been silent (``status.endpoint_activity``: one query).

    Only an active endpoint's silence is shown: an inactive one answers 404 on purpose.
    """
    return [
        {
            "endpoint": activity,
            "silence": _duration_text(activity.silence) if activity.is_active else "",
            "too_long": activity.is_silent_longer_than(max_silence),
        }
        for activity in endpoint_activity()
    ]


def _status_counts() -> list[dict[str, Any]]:
    """Count each status: exactly while it is small, PostgreSQL's estimate past ``OVERVIEW_EXACT_COUNT_BELOW``."""
    changelist = reverse("admin:django_seably_webhookevent_changelist")
    counts = []
    for status in Status:
        events = WebhookEvent.objects.filter(status=status)
        total, estimated = counted(events, exact_below=OVERVIEW_EXACT_COUNT_BELOW)
        counts.append(
            {
                "status": status.value,
                "label": status.label,
                "count": total,
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
                "labelled": index % 5 == 0 or index == days - 1,
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
