"""Store deliveries and process events: one transaction each, signals inside it.

Processing an event never raises for a receiver's error: the failure is data
(``status=failed``, ``attempts``, ``last_error``), recorded after the rolled-back
work, as dj-stripe does.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

from django.db import DatabaseError, DataError, IntegrityError, connections, router, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from django_seably.certificates import extract_fields
from django_seably.conf import seably_settings
from django_seably.exceptions import EndpointNotFound, ProcessingError
from django_seably.hints import recent_fingerprints
from django_seably.linking import matching_user_pk
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.payloads import MAX_TYPE_LENGTH, ParsedBody, as_invalid, parse_body
from django_seably.signals import signal_for, webhook_received

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status
#: What processing did to one event; "skipped" means there was nothing to do.
Outcome = Literal["processed", "failed", "invalid", "skipped"]


def store_delivery(
    endpoint: Endpoint, body: ParsedBody, headers: Mapping[str, str]
) -> tuple[WebhookEvent, bool, ParsedBody]:
    """Store one delivery and, in inline mode, process it.

    Return the event, whether it is new, and the body as stored: JSON that the
    database refuses (a check our parser does not know of) is stored as invalid,
    since a 503 would only make Seably send it again, forever.

    A delivery this process stored recently is most likely a duplicate (Seably
    sending again): it is counted first with one small UPDATE, and stored in
    full only if that finds no event.
    """
    if body.fingerprint in recent_fingerprints:
        counted = WebhookEvent.objects.count_delivery(body.fingerprint, token=endpoint.token)
        if counted is not None:
            return counted, False, body
    try:
        event, is_new = _store(endpoint, body, headers)
    except EndpointNotFound:
        raise
    except (DataError, IntegrityError) as error:
        if not body.is_valid:
            raise
        logger.warning("The database refused the JSON of a Seably delivery: %s", error)
        body = as_invalid(body, f"Body is not valid JSON for storage (the database refused it: {error}).")
        event, is_new = _store(endpoint, body, headers)
    except DatabaseError:
        raise
    except Exception:
        # Processing errors are caught inside; what escapes is a receiver's
        # transaction.on_commit callback, raised after the event was committed.
        # The delivery is safe, so Seably must get its 2xx, not a 500 and a retry.
        logger.exception("An on_commit callback raised after a Seably event was stored.")
        event, is_new = WebhookEvent.objects.get(fingerprint=body.fingerprint), True
    recent_fingerprints.remember(body.fingerprint)
    return event, is_new, body


class _ProcessingFailed(Exception):
    """Raised out of the delivery's transaction to roll it all back; carries the receiver's traceback."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error
        self.traceback = traceback.format_exc()


def _store(endpoint: Endpoint, body: ParsedBody, headers: Mapping[str, str]) -> tuple[WebhookEvent, bool]:
    """Insert the event, or count a delivery of the stored one; True when it is new.

    Inline, a new valid event is inserted as processed and processed in the same
    transaction: the event and its effects share one commit. A failure rolls the
    whole transaction back and the event is then stored again, failed: no
    savepoint on the way of every delivery.
    """
    inline = body.is_valid and seably_settings.PROCESSING == "inline"
    event = _new_event(endpoint, body, headers, inline=inline)
    record = WebhookEvent.objects.prepare_delivery(event, payload_json=body.payload_json)
    if not inline:
        with transaction.atomic():
            is_new = record()
            if is_new and body.is_valid:
                from django_seably.tasks import enqueue

                transaction.on_commit(lambda: enqueue(event))
        return event, is_new
    # SQLite lets one transaction write at a time: prepare the work before taking
    # its lock, unless this process stored the same delivery recently (then it is
    # almost surely a duplicate, with nothing to process). Other databases lock
    # rows, not the database: prepare only for a new event.
    work: Work | None = None
    if (
        connections[router.db_for_write(WebhookEvent)].vendor == "sqlite"
        and event.fingerprint not in recent_fingerprints
    ):
        try:
            work = _prepare(event)
        except Exception as error:  # the handler refused the event: nothing to roll back
            return _store_failed(event, error, traceback.format_exc())
    try:
        with transaction.atomic():
            is_new = record()
            if is_new:
                try:
                    _run(event, work or _prepare(event))
                except Exception as error:
                    raise _ProcessingFailed(error) from error
    except _ProcessingFailed as failure:
        return _store_failed(event, failure.error, failure.traceback)
    return event, is_new


def _new_event(endpoint: Endpoint, body: ParsedBody, headers: Mapping[str, str], *, inline: bool) -> WebhookEvent:
    now = timezone.now()
    return WebhookEvent(
        endpoint=endpoint,
        event_type=body.event_type,
        object_type=body.object_type,
        object_id=body.object_id,
        body=body.text,
        raw_body=body.raw,
        payload=body.payload,
        headers=dict(headers),
        fingerprint=body.fingerprint,
        status=Status.INVALID if not body.is_valid else Status.PROCESSED if inline else Status.PENDING,
        last_error=body.error,
        received_at=now,
        attempts=1 if inline else 0,
        processed_at=now if inline else None,
    )


def _store_failed(event: WebhookEvent, error: BaseException, text: str) -> tuple[WebhookEvent, bool]:
    """Store ``event`` as failed, its first attempt counted; log the failure when the event is new.

    A concurrent delivery of the same event may have been stored meanwhile (the
    failed attempt's insert was rolled back): then this one is its duplicate.
    """
    event.status, event.processed_at, event.last_error = Status.FAILED, None, text
    event.delivery_count = 1
    with transaction.atomic():
        is_new = WebhookEvent.objects.record_delivery(event)
    if is_new:
        _log_failure(event, error)
    return event, is_new


def process_event(event: WebhookEvent, *, only_pending: bool = False) -> Outcome:
    """Process ``event`` unless it is already processed; safe to call twice or concurrently.

    The event is claimed with a conditional UPDATE inside its transaction, so of
    two concurrent callers only one runs the handlers: the other waits for its
    row lock and then finds the event processed (PostgreSQL), or waits for the
    database lock (SQLite). ``only_pending`` (the task) leaves a failed event to
    the operator, even one that failed since the caller loaded it.
    """
    if event.status == Status.INVALID and not _revalidate(event):
        return "invalid"
    try:
        work = _prepare(event)
    except Exception as error:  # the handler refused the event: count the attempt, as a claim would
        rows = WebhookEvent.objects.claimable(event, only_pending=only_pending)
        failed = _record_failure(event, rows, error, traceback.format_exc())
        return "failed" if failed else "skipped"
    try:
        # A transaction of its own, or a savepoint inside process_events' batch.
        with transaction.atomic():
            if not WebhookEvent.objects.claim(event, only_pending=only_pending):
                return "skipped"
            _run(event, work)
    except Exception as error:
        # The claim was rolled back with the work: the event is as it was, unless
        # another worker has processed it since.
        rows = WebhookEvent.objects.claimable(event, only_pending=only_pending)
        _record_failure(event, rows, error, traceback.format_exc())
        return "failed"
    return "processed"


#: Events processed per transaction by process_events: enough to share one commit
#: (one disk flush), few enough to hold SQLite's write lock only briefly.
EVENTS_PER_TRANSACTION = 100


def process_events(events: Iterable[WebhookEvent]) -> Iterator[Outcome]:
    """Process many events, ``EVENTS_PER_TRANSACTION`` to a transaction; yield each outcome.

    Each event is still processed all or nothing, in a savepoint: a receiver that
    raises rolls back its own event only, which is then recorded as failed in the
    same transaction. Sharing the commit is what makes reprocessing a backlog fast.
    """
    batch: list[WebhookEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) == EVENTS_PER_TRANSACTION:
            yield from _process_batch(batch)
            batch = []
    yield from _process_batch(batch)


def _process_batch(batch: list[WebhookEvent]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    if not batch:
        return outcomes
    try:
        with transaction.atomic():
            outcomes = [process_event(event) for event in batch]
    except DatabaseError:
        raise
    except Exception:
        # process_event records every receiver's error; what escapes is a receiver's
        # transaction.on_commit callback, raised after the batch was committed.
        logger.exception("An on_commit callback raised after a batch of Seably events was committed.")
    return outcomes


def _record_failure(event: WebhookEvent, rows: QuerySet[WebhookEvent], error: BaseException, text: str) -> bool:
    """Mark ``event`` failed with ``text`` (a traceback) and count the attempt; False if ``rows`` no longer has it."""
    updated = rows.update(status=Status.FAILED, processed_at=None, last_error=text, attempts=F("attempts") + 1)
    if not updated:
        return False
    event.status, event.processed_at, event.last_error = Status.FAILED, None, text
    event.attempts += 1
    _log_failure(event, error)
    return True


def _log_failure(event: WebhookEvent, error: BaseException) -> None:
    logger.error("Processing Seably event %s (%s) failed.", event.pk, event.event_type, exc_info=error)


def _revalidate(event: WebhookEvent) -> bool:
    """Parse an invalid event's body again (the rules may have changed); True if it is valid now."""
    body = parse_body(bytes(event.raw_body) if event.raw_body is not None else event.body.encode())
    if not body.is_valid:
        return False
    changes = {
        "status": Status.PENDING,
        "fingerprint": body.fingerprint,
        "payload": body.payload,
        "event_type": body.event_type,
        "object_type": body.object_type,
        "object_id": body.object_id,
        "last_error": "",
    }
    try:
        with transaction.atomic():
            if not WebhookEvent.objects.filter(pk=event.pk, status=Status.INVALID).update(**changes):
                return False
    except IntegrityError:  # the same JSON arrived since, as a valid event of its own
        return False
    for name, value in changes.items():
        setattr(event, name, value)
    return True


#: The work a handler prepared, run inside the event's transaction; it returns the
#: type signal's extra kwargs, or None to send no type signal.
Work = Callable[[], dict[str, Any] | None]


def _prepare(event: WebhookEvent) -> Work:
    """Read the event and return the work to do in its transaction; raise if it cannot be processed.

    Reading, checking and converting happen here, before the transaction opens,
    so the transaction (SQLite's write lock) lasts only as long as its statements.
    """
    handler = _HANDLERS.get(event.event_type)
    return handler(event) if handler else _no_work


def _no_work() -> dict[str, Any]:
    return {}


def _run(event: WebhookEvent, work: Work) -> None:
    extra = work()
    webhook_received.send(sender=WebhookEvent, event=event)
    if extra is not None:
        signal_for(event.event_type).send(sender=WebhookEvent, event=event, **extra)


def _certificate_created(event: WebhookEvent) -> Work:
    """Check the certificate and build its row; the work upserts it.

    The work returns the signal's kwargs only when the certificate is new.
    """
    payload = event.payload if isinstance(event.payload, dict) else {}
    data = payload.get("payload")
    data = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise ProcessingError("certificate.created has no payload.data object.")
    seably_id = data.get("id")
    if isinstance(seably_id, int) and not isinstance(seably_id, bool):
        seably_id = str(seably_id)
    if not isinstance(seably_id, str) or not 0 < len(seably_id) <= MAX_TYPE_LENGTH:
        raise ProcessingError(
            f"certificate.created needs payload.data.id, a string of 1 to {MAX_TYPE_LENGTH} characters."
        )
    certificate = Certificate(seably_id=seably_id, data=data, **extract_fields(data))
    if seably_settings.LINK_USERS:
        # One query, only when linking is on. No match keeps the user linked before (see upsert).
        certificate.user_id = matching_user_pk(certificate.learner_email)

    upsert = Certificate.objects.prepare_upsert(certificate)

    def work() -> dict[str, Any] | None:
        certificate.event = event  # its pk is known only now, once the event is stored
        if not upsert():
            return None
        return {"certificate": certificate}

    return work


#: What each event type does before its signals; types without a handler only signal.
_HANDLERS: dict[str, Callable[[WebhookEvent], Work]] = {
    "certificate.created": _certificate_created,
}
