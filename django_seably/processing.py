"""Receive deliveries and process events: store first, then one transaction per event.

A delivery is stored and committed before anything else happens to it
(``store_delivery``), so a process that dies later loses nothing: the event
stays ``pending`` for ``seably_reprocess --pending``. Processing
(``process_event``) is a transaction of its own per event, and the only way
an event is ever processed: inline after the store, from the task, the
command, the admin action and the API alike.

Processing never raises for a receiver's error: the failure is data
(``status=failed``, ``attempts``, ``last_error``), recorded after the
rolled-back work, as dj-stripe does.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.db.models import F

from django_seably import metrics
from django_seably.certificates import extract_fields
from django_seably.conf import seably_settings
from django_seably.exceptions import ProcessingError
from django_seably.linking import matching_user_pk
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.payloads import MAX_TYPE_LENGTH, ParsedBody, as_invalid, parse_body
from django_seably.signals import processing_failed, signal_for, webhook_received

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status
#: What processing did to one event; "skipped" means there was nothing to do.
Outcome = Literal["processed", "failed", "invalid", "skipped"]


class Delivery(NamedTuple):
    """One delivery as stored: its event, whether the event is new, and the body as stored."""

    event: WebhookEvent
    is_new: bool
    body: ParsedBody


def receive(endpoint: Endpoint, raw: bytes | bytearray, headers: Mapping[str, str]) -> Delivery:
    """Store one delivery, then have a new valid event processed: what a webhook request does.

    The event is committed first (the view opts out of ``ATOMIC_REQUESTS`` so
    that this commit is real); then it is processed here (``PROCESSING =
    "inline"``) or its task is enqueued once the event is visible to workers
    (``"tasks"``). Duplicates are counted and never processed.
    """
    delivery = store_delivery(endpoint, parse_body(raw), headers)
    metrics.delivery_received(endpoint, delivery)
    if not (delivery.is_new and delivery.body.is_valid):
        return delivery
    if seably_settings.PROCESSING == "tasks":
        from django_seably.tasks import enqueue

        # At once, unless a caller's transaction (a test's) still holds the event.
        transaction.on_commit(functools.partial(enqueue, delivery.event))
        return delivery
    try:
        process_event(delivery.event)
    except DatabaseError:
        # Not even the failure could be recorded. The event is committed: Seably
        # gets its 2xx, and `seably_reprocess --pending` processes the event later.
        logger.exception(
            "The database failed while processing Seably event %s; it stays pending for `seably_reprocess`.",
            delivery.event.pk,
        )
    return delivery


def store_delivery(endpoint: Endpoint, body: ParsedBody, headers: Mapping[str, str]) -> Delivery:
    """Store ``body`` as a new event (``pending``, or ``invalid``) or count it as a duplicate; commit.

    JSON that the database refuses (a ``DataError``: a rule our parser does not
    know of) is stored as invalid instead, since a 503 would only make Seably
    send it again. Any other database error propagates: nothing was stored.
    """
    try:
        return _store(endpoint, body, headers)
    except DataError as error:
        if not body.is_valid:
            raise
        # The transaction rolled back: nothing was stored.
        logger.warning("The database refused the JSON of a Seably delivery: %s", error)
        body = as_invalid(body, f"Body is not valid JSON for storage (the database refused it: {error}).")
        return _store(endpoint, body, headers)


def _store(endpoint: Endpoint, body: ParsedBody, headers: Mapping[str, str]) -> Delivery:
    event = WebhookEvent(
        endpoint=endpoint,
        event_type=body.event_type,
        object_type=body.object_type,
        object_id=body.object_id,
        body=body.text,
        raw_body=body.raw,
        payload=body.payload,
        headers=dict(headers),
        fingerprint=body.fingerprint,
        status=Status.PENDING if body.is_valid else Status.INVALID,
        last_error=body.error,
    )
    with transaction.atomic():
        is_new = WebhookEvent.objects.store(event)
    return Delivery(event, is_new, body)


def process_event(event: WebhookEvent, *, only_pending: bool = False) -> Outcome:
    """Process ``event`` in a transaction of its own, unless it is already processed.

    Safe to call twice or concurrently: the event is claimed with a
    conditional UPDATE inside the transaction, so only one caller runs the
    handler and the receivers. A failure rolls everything back, claim
    included, and is recorded by ``_record_failure``. ``only_pending`` (the
    task) leaves a failed event to the operator, even one that failed since
    the caller loaded it.
    """
    if event.status == Status.INVALID and not _revalidate(event):
        return "invalid"
    committed: list[bool] = []
    try:
        with transaction.atomic():
            if not WebhookEvent.objects.claim(event, only_pending=only_pending):
                return "skipped"
            # First of this transaction's callbacks: once it ran, the commit happened.
            transaction.on_commit(lambda: committed.append(True))
            _handle(event)
    except Exception as error:
        if committed:
            # A receiver's on_commit callback raised, after the event was committed
            # as processed; Django skips the rest of this event's callbacks only.
            logger.exception("An on_commit callback raised after Seably event %s was processed.", event.pk)
            metrics.event_processed(event, "processed")
            return "processed"
        return "failed" if _record_failure(event, error, only_pending=only_pending) else "skipped"
    metrics.event_processed(event, "processed")
    return "processed"


def _record_failure(event: WebhookEvent, error: BaseException, *, only_pending: bool) -> bool:
    """Mark ``event`` failed with the current traceback and count the attempt; then send ``processing_failed``.

    False, and nothing recorded, when the event is no longer claimable: another
    caller has processed it since.
    """
    text = traceback.format_exc()
    rows = WebhookEvent.objects.claimable(only_pending=only_pending).filter(pk=event.pk)
    if not rows.update(status=Status.FAILED, processed_at=None, last_error=text, attempts=F("attempts") + 1):
        return False
    # As stored: the rolled-back claim had changed these on the instance too.
    event.refresh_from_db(fields=["status", "processed_at", "last_error", "attempts"])
    metrics.event_processed(event, "failed")
    logger.error("Processing Seably event %s (%s) failed.", event.pk, event.event_type, exc_info=error)
    # Robust: an alerting receiver that raises must not turn a recorded failure into a 500.
    for receiver, result in processing_failed.send_robust(sender=WebhookEvent, event=event, exception=error):
        if isinstance(result, Exception):
            logger.error(
                "A processing_failed receiver (%r) raised for Seably event %s.", receiver, event.pk, exc_info=result
            )
    return True


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


def _handle(event: WebhookEvent) -> None:
    """Run the event type's handler, then send the signals."""
    handler = _HANDLERS.get(event.event_type)
    extra = handler(event) if handler else {}
    webhook_received.send(sender=WebhookEvent, event=event)
    if extra is not None:
        signal_for(event.event_type).send(sender=WebhookEvent, event=event, **extra)


def _certificate_created(event: WebhookEvent) -> dict[str, Any] | None:
    """Create or update the certificate; return the signal's kwargs only when it is new."""
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
    certificate = Certificate(seably_id=seably_id, data=data, event=event, **extract_fields(data))
    if seably_settings.LINK_USERS:
        certificate.user_id = matching_user_pk(certificate.learner_email)
    if not Certificate.objects.upsert(certificate):
        return None
    return {"certificate": certificate}


#: What each event type does before its signals, returning the type signal's extra
#: kwargs, or None to send no type signal. Types without a handler only signal.
_HANDLERS: dict[str, Callable[[WebhookEvent], dict[str, Any] | None]] = {
    "certificate.created": _certificate_created,
}
