"""Hold every answer the client got against the database, read directly (no Django) after the servers stopped.

lost: a 2xx answer whose event is not there, or whose stored body is not the JSON sent.
duplicated: one JSON stored as two events, one signal recorded twice (a receiver ran
twice for one event, or ``certificate_created`` fired twice for one certificate), or
two certificates for one Seably id. Both must be 0; everything else in the table is
there to show what the load was.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from faults.load import RESET, TIMEOUT, Delivery, Result
from tests.servers import Database


@dataclass(frozen=True)
class Event:
    id: int
    status: str
    body: str
    event_type: str
    object_id: str | None
    attempts: int
    delivery_count: int


@dataclass(frozen=True)
class Snapshot:
    """The rows that matter, as they are now."""

    events: dict[int, Event]
    certificates: list[tuple[str, int | None]]
    signals: list[tuple[str, str, int]]

    def count(self, status: str) -> int:
        return sum(1 for event in self.events.values() if event.status == status)


def snapshot(database: Database) -> Snapshot:
    events = {
        int(row["id"]): Event(
            int(row["id"]),
            row["status"],
            row["body"],
            row["event_type"],
            row["object_id"],
            int(row["attempts"]),
            int(row["delivery_count"]),
        )
        for row in database.query(
            "SELECT id, status, body, event_type, object_id, attempts, delivery_count FROM django_seably_webhookevent"
        )
    }
    certificates = [
        (row["seably_id"], row["event_id"])
        for row in database.query("SELECT seably_id, event_id FROM django_seably_certificate")
    ]
    signals = [
        (row["kind"], row["object_id"], int(row["event_id"]))
        for row in database.query("SELECT kind, object_id, event_id FROM faults_receivers_signalrecord")
    ]
    return Snapshot(events, certificates, signals)


@dataclass
class Tally:
    """The table of one scenario on one database, and what is wrong with it (``problems``)."""

    requests: int = 0
    ok: int = 0
    client_errors: int = 0
    unavailable: int = 0
    other_5xx: int = 0
    resets: int = 0
    hung: int = 0
    deliveries: int = 0
    wall: float = 0.0
    latency_p50: float = 0.0
    latency_p95: float = 0.0
    latency_max: float = 0.0
    events: int = 0
    processed: int = 0
    failed: int = 0
    pending: int = 0
    invalid: int = 0
    certificates: int = 0
    signals_received: int = 0
    signals_created: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def signals(self) -> int:
        return self.signals_received + self.signals_created

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("requests sent", f"{self.requests} ({self.deliveries} deliveries, {self.wall:.1f} s)"),
            ("2xx", str(self.ok)),
            ("4xx", str(self.client_errors)),
            ("503", str(self.unavailable)),
            ("other 5xx (must be 0)", str(self.other_5xx)),
            ("reset (no answer)", str(self.resets)),
            ("hung past the bound (must be 0)", str(self.hung)),
            (
                "latency p50 / p95 / max",
                f"{self.latency_p50 * 1000:.0f} / {self.latency_p95 * 1000:.0f} / {self.latency_max * 1000:.0f} ms",
            ),
            ("events stored", f"{self.events} ({self.invalid} invalid)"),
            ("events processed", f"{self.processed} (failed {self.failed}, pending {self.pending})"),
            ("certificates", str(self.certificates)),
            (
                "signals fired",
                f"{self.signals} ({self.signals_received} webhook_received, "
                f"{self.signals_created} certificate_created)",
            ),
            ("lost (must be 0)", str(self.lost)),
            ("duplicated (must be 0)", str(self.duplicated)),
        ]


def _canonical(text: str) -> str | None:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return None


def tally(
    results: Sequence[Result],
    deliveries: Sequence[Delivery],
    snap: Snapshot,
    *,
    hang_bound: float,
    wall: float,
    must_be_processed: bool = True,
) -> Tally:
    """Count the answers, check each against ``snap``, and list every inconsistency in ``problems``."""
    t = Tally(requests=len(results), deliveries=len({r.delivery for r in results}), wall=wall)
    problems = t.problems
    latencies = sorted(r.latency for r in results)
    if latencies:
        t.latency_p50 = statistics.median(latencies)
        t.latency_p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        t.latency_max = latencies[-1]

    for r in results:
        status = r.status
        if r.ok:
            t.ok += 1
        elif isinstance(status, int) and 400 <= status < 500:
            t.client_errors += 1
        elif status == 503:
            t.unavailable += 1
        elif isinstance(status, int) and status >= 500:
            t.other_5xx += 1
            problems.append(f"{status} for delivery {r.delivery} ({r.meant}): {r.detail[:120]}")
        elif status == RESET:
            t.resets += 1
        if status == TIMEOUT or r.latency > hang_bound:
            t.hung += 1
            problems.append(f"delivery {r.delivery} ({r.meant}) took {r.latency:.1f} s (bound {hang_bound:.0f} s)")

    # Every 2xx: its event exists and holds the JSON that was sent.
    answered_events: set[int] = set()
    for r in results:
        if not r.ok:
            continue
        delivery = deliveries[r.delivery]
        event = snap.events.get(r.event_id) if isinstance(r.event_id, int) else None
        if delivery.unknown_token or delivery.meant == "invalid":
            problems.append(f"delivery {r.delivery} ({delivery.meant}) was answered {r.status}")
        if event is None:
            t.lost += 1
            problems.append(f"lost: delivery {r.delivery} answered {r.status} {r.answer} #{r.event_id}, no such event")
            continue
        try:
            same = json.loads(event.body) == delivery.expected
        except ValueError:
            same = False
        if not same:
            t.lost += 1
            problems.append(f"lost: delivery {r.delivery} answered #{r.event_id}, which holds another body")
            continue
        answered_events.add(event.id)

    # 4xx: only where meant, and what they must leave behind.
    bodies = Counter(event.body for event in snap.events.values())
    for r in results:
        if not (isinstance(r.status, int) and 400 <= r.status < 500):
            continue
        delivery = deliveries[r.delivery]
        expected = 404 if delivery.unknown_token else 400 if delivery.meant == "invalid" else None
        if r.status != expected:
            problems.append(f"delivery {r.delivery} ({delivery.meant}) was answered {r.status}")
        elif delivery.meant == "invalid" and bodies[delivery.body.decode()] != 1:
            problems.append(
                f"the invalid body of delivery {r.delivery} is stored {bodies[delivery.body.decode()]} times"
            )
    for delivery in deliveries:
        if delivery.unknown_token and bodies[delivery.body.decode()]:
            problems.append(f"delivery {delivery.index}, sent to an unknown token, was stored")

    # Rows.
    t.events = len(snap.events)
    t.processed, t.failed = snap.count("processed"), snap.count("failed")
    t.pending, t.invalid = snap.count("pending"), snap.count("invalid")
    t.certificates = len(snap.certificates)
    kinds = Counter(kind for kind, _, _ in snap.signals)
    t.signals_received, t.signals_created = kinds["webhook_received"], kinds["certificate_created"]

    # Duplicated: one JSON, two events; a signal recorded twice; two certificates for one id.
    by_json = Counter(
        _canonical(event.body) if event.status != "invalid" else f"invalid:{event.body}"
        for event in snap.events.values()
    )
    duplicate_events = sum(n - 1 for n in by_json.values() if n > 1)
    received = Counter(event_id for kind, _, event_id in snap.signals if kind == "webhook_received")
    created = Counter(object_id for kind, object_id, _ in snap.signals if kind == "certificate_created")
    certificates = Counter(seably_id for seably_id, _ in snap.certificates)
    twice = {
        "events with the same JSON": duplicate_events,
        "webhook_received for one event": sum(n - 1 for n in received.values() if n > 1),
        "certificate_created for one certificate": sum(n - 1 for n in created.values() if n > 1),
        "certificates for one Seably id": sum(n - 1 for n in certificates.values() if n > 1),
    }
    t.duplicated = sum(twice.values())
    problems.extend(f"duplicated: {n} more {what}" for what, n in twice.items() if n)

    # Signals agree with the rows: a record exists exactly when its processing committed.
    processed = {event.id for event in snap.events.values() if event.status == "processed"}
    if set(received) - processed:
        problems.append(f"webhook_received recorded for {len(set(received) - processed)} unprocessed events")
    if processed - set(received):
        problems.append(f"{len(processed - set(received))} processed events without webhook_received")
    if set(created) != set(certificates):
        problems.append(
            f"certificate_created and certificates disagree: {len(set(certificates) - set(created))} certificates "
            f"without the signal, {len(set(created) - set(certificates))} signals without a certificate"
        )
    certificate_ids = set(certificates)
    missing = {
        event.object_id
        for event in snap.events.values()
        if event.status == "processed" and event.event_type == "certificate.created"
    } - certificate_ids
    if missing:
        problems.append(f"{len(missing)} processed certificate.created events without their certificate")

    if must_be_processed:
        unprocessed = [pk for pk in answered_events if snap.events[pk].status != "processed"]
        if unprocessed:
            statuses = Counter(snap.events[pk].status for pk in unprocessed)
            problems.append(f"{len(unprocessed)} events answered 2xx are not processed: {dict(statuses)}")
    return t


def merge_problems(problems: list[str], limit: int = 12) -> list[str]:
    """The first ``limit`` problems and how many more: a table stays readable even when everything fails."""
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit} more"]
