"""The numbers an operator watches: events by status, the oldest waiting events, each endpoint's silence.

One place computes them for ``seably_status`` (cron, monitoring), the health
check (``django_seably.health``) and the admin overview, so all agree. Four small
queries, whatever the number of events: one aggregate by status, two probes of
the ``(status, id)`` index, and one probe of ``(endpoint, id)`` per endpoint.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import ngettext

from django_seably.durations import format_duration
from django_seably.models import Endpoint, WebhookEvent
from django_seably.redact import mask_token

Status = WebhookEvent.Status


@dataclasses.dataclass(frozen=True)
class WaitingEvent:
    """The oldest event of a status: its id and when it was received."""

    id: int
    received_at: datetime.datetime
    age: datetime.timedelta


@dataclasses.dataclass(frozen=True)
class EndpointActivity:
    """An endpoint, its newest event and how long it has been silent; the token is only ever shown masked."""

    pk: int
    name: str
    masked_token: str
    is_active: bool
    created_at: datetime.datetime
    last_received_at: datetime.datetime | None
    #: How long nothing has arrived: since the newest event or, when none ever came, since the endpoint's creation.
    silence: datetime.timedelta

    def is_silent_longer_than(self, max_silence: datetime.timedelta | None) -> bool:
        """True when an active endpoint has been silent past ``max_silence``; an inactive one is off on purpose."""
        return max_silence is not None and self.is_active and self.silence > max_silence


@dataclasses.dataclass(frozen=True)
class SeablyStatus:
    counts: dict[str, int]
    oldest_pending: WaitingEvent | None
    oldest_failed: WaitingEvent | None
    endpoints: list[EndpointActivity]
    checked_at: datetime.datetime

    def problems(
        self,
        *,
        max_pending_age: datetime.timedelta | None = None,
        max_failed: int | None = None,
        max_silence: datetime.timedelta | None = None,
    ) -> list[str]:
        """Return a sentence for each threshold crossed (none given: none crossed).

        The oldest pending event may be ``max_pending_age`` old, not older;
        ``max_failed`` failed events are tolerated (0: any is a problem); an active
        endpoint may be silent for ``max_silence``, not longer.
        """
        found = []
        pending = self.oldest_pending
        if max_pending_age is not None and pending is not None and pending.age > max_pending_age:
            found.append(
                f"The oldest pending event (#{pending.id}) was received {format_age(pending.age)} ago, "
                f"more than {format_duration(max_pending_age)}: are events being processed?"
            )
        failed = self.counts[Status.FAILED]
        if max_failed is not None and failed > max_failed:
            found.append(
                ngettext(
                    "%(count)s failed event, more than %(max)s: see its last_error, fix the cause, "
                    "then seably_reprocess --failed.",
                    "%(count)s failed events, more than %(max)s: see their last_error, fix the cause, "
                    "then seably_reprocess --failed.",
                    failed,
                )
                % {"count": f"{failed:,}", "max": f"{max_failed:,}"}
            )
        if max_silence is not None:
            found.extend(
                _silent(endpoint, max_silence)
                for endpoint in self.endpoints
                if endpoint.is_silent_longer_than(max_silence)
            )
        return found


def _silent(endpoint: EndpointActivity, max_silence: datetime.timedelta) -> str:
    if endpoint.last_received_at is None:
        silent = f"nothing since it was created, {format_age(endpoint.silence)} ago"
    else:
        silent = f"nothing for {format_age(endpoint.silence)}"
    return (
        f"Endpoint {endpoint.name!r} has received {silent}, more than {format_duration(max_silence)}: "
        "is its URL still registered on Seably's Integrations page?"
    )


def silence(
    last_received_at: datetime.datetime | None, created_at: datetime.datetime, now: datetime.datetime
) -> datetime.timedelta:
    """How long an endpoint has received nothing: since its newest event, or since its creation if none came."""
    return max(now - (last_received_at or created_at), datetime.timedelta())


def endpoint_activity(now: datetime.datetime | None = None) -> list[EndpointActivity]:
    """Each endpoint (by name) with its last delivery and silence: one query, an index probe per endpoint."""
    now = now or timezone.now()
    rows = Endpoint.objects.with_last_received_at().order_by("name").only("name", "token", "is_active", "created_at")
    return [
        EndpointActivity(
            pk=endpoint.pk,
            name=endpoint.name,
            masked_token=mask_token(endpoint.token),
            is_active=endpoint.is_active,
            created_at=endpoint.created_at,
            last_received_at=endpoint.last_received_at,  # type: ignore[attr-defined]
            silence=silence(endpoint.last_received_at, endpoint.created_at, now),  # type: ignore[attr-defined]
        )
        for endpoint in rows
    ]


def current_status() -> SeablyStatus:
    """Read the status now."""
    now = timezone.now()
    counts = dict.fromkeys(Status.values, 0)
    for row in WebhookEvent.objects.order_by().values("status").annotate(count=Count("pk")):
        counts[row["status"]] = row["count"]
    return SeablyStatus(
        counts=counts,
        oldest_pending=_oldest(Status.PENDING, now),
        oldest_failed=_oldest(Status.FAILED, now),
        endpoints=endpoint_activity(now),
        checked_at=now,
    )


def _oldest(status: str, now: datetime.datetime) -> WaitingEvent | None:
    event = WebhookEvent.objects.oldest(status)
    if event is None:
        return None
    return WaitingEvent(event.pk, event.received_at, max(now - event.received_at, datetime.timedelta()))


def format_age(age: datetime.timedelta) -> str:
    """Say how long ago, to the minute: "under a minute", "42 min", "3 h 5 min", "2 d 4 h"."""
    minutes = int(age.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
