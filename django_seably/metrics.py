"""Prometheus metrics (the ``metrics`` extra): counters of deliveries and processing, gauges read at scrape.

With ``prometheus_client`` installed, the counters and the database collector
are in its default registry (``prometheus_client.REGISTRY``), which is what
django-prometheus's ``/metrics`` serves. Without it, every function here does
nothing and costs nothing: the app works exactly as before.

The counters are incremented where processing decides (``processing.receive``
after the delivery's store committed, ``processing.process_event`` after the
processing transaction): no query, so no statement is added to a delivery.
Under several processes (gunicorn workers) they go through prometheus_client's
multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (docs/metrics.md).

The gauges are read from the database at each scrape (``DatabaseCollector``),
through the same queries as ``seably_status``, so they are right whichever
process is scraped, and need no multiprocess files.

No label carries a token or personal data: ``endpoint`` is the endpoint's name;
``event_type`` is the type only when this app or the project's code listens to
it, else ``"other"``, so a sender cannot grow the number of series by inventing
types.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from typing import Any

from django.db import DatabaseError
from django.utils import timezone

from django_seably import processing  # a cycle (processing counts here): read at call time only
from django_seably.models import Endpoint, WebhookEvent
from django_seably.signals import has_receivers
from django_seably.status import current_status

try:
    import prometheus_client
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # the `metrics` extra is not installed: every function below is a no-op
    prometheus_client = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: The ``event_type`` label of a type that neither this app nor the project's code listens to.
OTHER_EVENT_TYPE = "other"

ENABLED = prometheus_client is not None


def delivery_outcome(delivery: processing.Delivery) -> str:
    """Return the ``outcome`` label of a delivery: "invalid", "duplicate" or "accepted".

    An invalid body is "invalid" even when it was sent before: it is answered 400 either way.
    """
    if not delivery.body.is_valid:
        return "invalid"
    return "accepted" if delivery.is_new else "duplicate"


def event_type_label(event_type: str) -> str:
    """Return the ``event_type`` label: the type when it is handled or has receivers, else "other".

    Receivers are connected by the project's code (``signal_for(type).connect``),
    never by a sender, so the labels stay as few as the types the project uses.
    """
    if event_type in processing.HANDLED_EVENT_TYPES or has_receivers(event_type):
        return event_type
    return OTHER_EVENT_TYPE


#: The counters, when prometheus_client is installed (created once, in its default registry).
_deliveries: Any = None
_processing: Any = None
if prometheus_client is not None:
    _deliveries = prometheus_client.Counter(
        "seably_deliveries",
        "Webhook deliveries received from Seably, by endpoint name and outcome (accepted, duplicate, invalid).",
        ["endpoint", "outcome"],
    )
    _processing = prometheus_client.Counter(
        "seably_processing",
        "Events processed, by event type and outcome (processed, failed); types nobody listens to are 'other'.",
        ["event_type", "outcome"],
    )


def delivery_received(endpoint: Endpoint, delivery: processing.Delivery) -> None:
    """Count one delivery to ``endpoint`` (its name must be loaded: no query is made)."""
    if _deliveries is not None:
        _increment(_deliveries, endpoint=endpoint.name, outcome=delivery_outcome(delivery))


def event_processed(event: WebhookEvent, outcome: str) -> None:
    """Count one processing attempt of ``event`` that ended ``outcome`` ("processed" or "failed")."""
    if _processing is not None:
        _increment(_processing, event_type=event_type_label(event.event_type), outcome=outcome)


def _increment(counter: Any, **labels: str) -> None:
    """Add one to ``counter``: a count that cannot be written must not fail the delivery it counts."""
    try:
        counter.labels(**labels).inc()
    except OSError as error:  # multiprocess mode: PROMETHEUS_MULTIPROC_DIR missing, not writable, full
        logger.warning("Could not count in the Prometheus metrics (is PROMETHEUS_MULTIPROC_DIR writable?): %s", error)


class DatabaseCollector:
    """The gauges read from the database at each scrape: events by status, backlog age, last deliveries.

    Registered in prometheus_client's default registry when the app loads. In
    multiprocess mode a scrape builds its own registry, so register one there
    too: ``registry.register(DatabaseCollector())`` (docs/metrics.md). Four small
    queries per scrape (``seably_status``'s), whatever the number of events.
    """

    def describe(self) -> Iterator[Any]:
        """Name the gauges without reading the database (the registry asks at registration)."""
        return iter(self._families())

    def collect(self) -> Iterator[Any]:
        """Read the database now; on a database error, log it and report none of these gauges."""
        try:
            status = current_status()
        except DatabaseError:
            logger.warning("Could not read the Seably gauges from the database for a metrics scrape.", exc_info=True)
            return iter(())
        events, oldest_pending, last_delivery = self._families()
        for name, count in sorted(status.counts.items()):
            events.add_metric([name], count)
        oldest = status.oldest_pending
        oldest_pending.add_metric([], oldest.age.total_seconds() if oldest else 0.0)
        for endpoint in status.endpoints:
            if endpoint.is_active:  # an inactive endpoint is silent by design
                # Its newest delivery or, when none came, its creation: what its silence counts from.
                last_delivery.add_metric([endpoint.name], _timestamp(status.checked_at - endpoint.silence))
        return iter((events, oldest_pending, last_delivery))

    @staticmethod
    def _families() -> tuple[Any, Any, Any]:
        return (
            GaugeMetricFamily("seably_events", "Stored webhook events, by status.", labels=["status"]),
            GaugeMetricFamily(
                "seably_oldest_pending_age_seconds",
                "Age of the oldest pending event in seconds (0 when none is pending): the processing backlog.",
            ),
            GaugeMetricFamily(
                "seably_last_delivery_timestamp_seconds",
                "Unix time of each active endpoint's last delivery (its creation when it has received none).",
                labels=["endpoint"],
            ),
        )


def _timestamp(moment: datetime.datetime) -> float:
    """Return the Unix time of ``moment``; a naive one (``USE_TZ = False``) is in the current time zone."""
    return (moment if timezone.is_aware(moment) else timezone.make_aware(moment)).timestamp()


if prometheus_client is not None:
    prometheus_client.REGISTRY.register(DatabaseCollector())
