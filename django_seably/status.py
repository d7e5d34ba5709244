"""The numbers an operator watches: events by status, the oldest waiting events, the last delivery per endpoint.

One place computes them for ``seably_status`` (cron, monitoring) and the health
check (``django_seably.health``), so both always agree. Four small queries,
whatever the number of events: one aggregate by status, two probes of the
``(status, id)`` index, and one probe of ``(endpoint, id)`` per endpoint.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.db.models import Count
from django.utils import timezone

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
    """An endpoint and its newest event; the token is only ever shown masked."""

    name: str
    masked_token: str
    is_active: bool
    last_received_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class SeablyStatus:
    counts: dict[str, int]
    oldest_pending: WaitingEvent | None
    oldest_failed: WaitingEvent | None
    endpoints: list[EndpointActivity]
    checked_at: datetime.datetime

    def problems(self, *, max_pending_age: int | None = None, max_failed: int | None = None) -> list[str]:
        """Return a sentence for each threshold crossed (none given: none crossed).

        ``max_pending_age`` is in minutes: the oldest pending event may be that old, not
        older. ``max_failed`` is how many failed events are tolerated (0: any is a problem).
        """
        found = []
        pending = self.oldest_pending
        if max_pending_age is not None and pending is not None and pending.age > _minutes(max_pending_age):
            found.append(
                f"The oldest pending event (#{pending.id}) was received {format_age(pending.age)} ago, "
                f"more than {max_pending_age} minute{_s(max_pending_age)}: are events being processed?"
            )
        failed = self.counts[Status.FAILED]
        if max_failed is not None and failed > max_failed:
            found.append(
                f"{failed} failed event{_s(failed)}, more than {max_failed}: "
                "see their last_error, fix the cause, then seably_reprocess --failed."
            )
        return found


def current_status() -> SeablyStatus:
    """Read the status now."""
    now = timezone.now()
    counts = dict.fromkeys(Status.values, 0)
    for row in WebhookEvent.objects.order_by().values("status").annotate(count=Count("pk")):
        counts[row["status"]] = row["count"]
    rows = Endpoint.objects.with_last_received_at().order_by("name")
    endpoints = [
        EndpointActivity(
            endpoint.name, mask_token(endpoint.token), endpoint.is_active, getattr(endpoint, "last_received_at", None)
        )
        for endpoint in rows.only("name", "token", "is_active")
    ]
    return SeablyStatus(
        counts=counts,
        oldest_pending=_oldest(Status.PENDING, now),
        oldest_failed=_oldest(Status.FAILED, now),
        endpoints=endpoints,
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


def _minutes(count: int) -> datetime.timedelta:
    return datetime.timedelta(minutes=count)


def _s(count: int) -> str:
    return "" if count == 1 else "s"
