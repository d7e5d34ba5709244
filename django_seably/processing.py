"""Receive deliveries and process events: store first, then one transaction per event.

``process_event`` is the only way an event is ever processed (inline, the task,
the command, the admin action and the API alike); a receiver's error is recorded
as data on the event, never raised. The why and the order of statements:
docs/how-it-works.md.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from django.db import DatabaseError, DataError, IntegrityError, models, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from django_seably import metrics
from django_seably.certificates import extract_fields
from django_seably.conf import seably_settings
from django_seably.exceptions import ProcessingError
from django_seably.linking import matching_user_pk
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.payloads import MAX_TYPE_LENGTH, ParsedBody, as_invalid, object_data, object_id, parse_body
from django_seably.signals import connected_signal_for, processing_failed, webhook_received

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status


class Outcome(models.TextChoices):
    """What ``process_event`` did to one event: the names every caller reports."""

    PROCESSED = "processed", _("processed")
    #: A handler or receiver raised: see the event's ``last_error``.
    FAILED = "failed", _("failed")
    #: The body is still not valid: nothing to process.
    INVALID = "invalid", _("invalid")
    #: Already processed (or no longer claimable): nothing to do.
    SKIPPED = "skipped", _("skipped")


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
        # At once, unless a caller's transaction (a test's) still holds the event.
        transaction.on_commit(functools.partial(_enqueue, delivery.event))
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


def _enqueue(event: WebhookEvent) -> None:
    """Hand the committed event to the tasks framework; without one, log it and leave the event pending.

    The task's module needs a tasks framework to import (system check E007 says
    which to install); the delivery is stored all the same and must stay a 2xx.
    """
    try:
        from django_seably.tasks import enqueue
    except ImportError:
        logger.exception(
            "No tasks framework to enqueue Seably event %s (system check django_seably.E007); "
            "it stays pending for `seably_reprocess --pending`.",
            event.pk,
        )
        return
    enqueue(event)


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
        return Outcome.INVALID
    handler = _HANDLERS.get(event.event_type)
    committed: list[bool] = []
    try:
        # The Python work first, outside the transaction: on SQLite a write
        # transaction holds the database's only write lock, blocking every writer.
        prepared = handler.prepare(event) if handler else None
        with transaction.atomic():
            if not WebhookEvent.objects.claim(event, only_pending=only_pending):
                return Outcome.SKIPPED
            # First of this transaction's callbacks: once it ran, the commit happened.
            transaction.on_commit(lambda: committed.append(True))
            extra = handler.save(prepared) if handler else {}
            _send_signals(event, extra)
    except Exception as error:
        if committed:
            # A receiver's on_commit callback raised, after the event was committed
            # as processed; Django skips the rest of this event's callbacks only.
            logger.exception("An on_commit callback raised after Seably event %s was processed.", event.pk)
            metrics.event_processed(event, Outcome.PROCESSED)
            return Outcome.PROCESSED
        return Outcome.FAILED if _record_failure(event, error, only_pending=only_pending) else Outcome.SKIPPED
    metrics.event_processed(event, Outcome.PROCESSED)
    return Outcome.PROCESSED


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
    metrics.event_processed(event, Outcome.FAILED)
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


def _send_signals(event: WebhookEvent, extra: dict[str, Any] | None) -> None:
    """Send ``webhook_received``, then the type's signal with ``extra`` (none when ``extra`` is None)."""
    webhook_received.send(sender=WebhookEvent, event=event)
    signal = connected_signal_for(event.event_type) if extra is not None else None
    if signal is not None:
        signal.send(sender=WebhookEvent, event=event, **extra)  # type: ignore[arg-type]


def _certificate_of(event: WebhookEvent) -> Certificate:
    """Build the certificate a ``certificate.created`` event describes (no query)."""
    data = object_data(event.payload)
    if data is None:
        raise ProcessingError("certificate.created has no payload.data object.")
    seably_id = object_id(data)
    if seably_id is None:
        raise ProcessingError(
            f"certificate.created needs payload.data.id, a string of 1 to {MAX_TYPE_LENGTH} characters."
        )
    return Certificate(seably_id=seably_id, data=data, event=event, **extract_fields(data))


def _save_certificate(certificate: Certificate) -> dict[str, Any] | None:
    """Create or update the certificate; return the signal's kwargs only when it is new."""
    if seably_settings.LINK_USERS:
        certificate.user_id = matching_user_pk(certificate.learner_email)
    if not Certificate.objects.upsert(certificate):
        return None
    return {"certificate": certificate}


class _Handler(NamedTuple):
    """What an event type does before its signals, in two steps."""

    #: Outside the transaction: build what will be saved (pure Python; raise if the event cannot be).
    prepare: Callable[[WebhookEvent], Any]
    #: Inside it: save, and return the type signal's extra kwargs, or None to send no type signal.
    save: Callable[[Any], dict[str, Any] | None]


#: Types without a handler only send their signals.
_HANDLERS: dict[str, _Handler] = {
    "certificate.created": _Handler(_certificate_of, _save_certificate),
}

#: The event types this app itself handles (the others only send their signals).
HANDLED_EVENT_TYPES = frozenset(_HANDLERS)
