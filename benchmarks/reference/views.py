"""The reference receiver: the least a receiver of django-seably's contract must do, in plain SQL.

What the contract asks of every new delivery, and nothing more: look the token up;
parse the JSON; keep the body text, the parsed JSON and the headers; deduplicate
by a fingerprint of the parsed JSON with a durable delivery count; commit the
event (``pending``) before processing it; then, in a second transaction, mark it
``processed`` and upsert the certificate, with its searchable columns, by its
unique Seably id. Raw cursor, no ORM, one statement per act:

    SELECT endpoint by token                             (autocommit)
    BEGIN; INSERT event ... ON CONFLICT (fingerprint) DO UPDATE delivery_count + 1 RETURNING; COMMIT
    BEGIN; UPDATE event to processed WHERE pending; INSERT certificate ... ON CONFLICT (seably_id) DO UPDATE; COMMIT

8 statements for a new certificate event, 4 for a duplicate (the first four):
django-seably's budget. No signals, no receivers, no invalid bodies stored, no
size limit of its own (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``), no admin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

T = TypeVar("T")

#: Headers the contract does not let us keep.
UNKEPT_HEADERS = frozenset({"Authorization", "Cookie", "Proxy-Authorization"})


def _one_line(sql: str) -> str:
    """The statement on one line, as the benchmark's statement listing shows it."""
    return " ".join(sql.split())


CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

STORE = _one_line("""
INSERT INTO bench_reference_referenceevent
    (endpoint_id, event_type, body, payload, headers, fingerprint, status, delivery_count, received_at)
VALUES (%s, %s, %s, %s, %s, %s, 'pending', 1, CURRENT_TIMESTAMP)
ON CONFLICT (fingerprint) DO UPDATE SET delivery_count = bench_reference_referenceevent.delivery_count + 1
RETURNING id, delivery_count
""")

CLAIM = _one_line("""
UPDATE bench_reference_referenceevent SET status = 'processed', processed_at = CURRENT_TIMESTAMP
WHERE id = %s AND status = 'pending'
""")

UPSERT_CERTIFICATE = _one_line("""
INSERT INTO bench_reference_referencecertificate
    (seably_id, data, learner_email, learner_name, course_name, issued_at, expires_on, url, event_id,
     created_at, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)
ON CONFLICT (seably_id) DO UPDATE SET
    data = excluded.data, learner_email = excluded.learner_email, learner_name = excluded.learner_name,
    course_name = excluded.course_name, issued_at = excluded.issued_at, expires_on = excluded.expires_on,
    url = excluded.url, updated_at = excluded.updated_at
""")


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def receive(request: HttpRequest, token: str) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM bench_reference_referenceendpoint WHERE token = %s AND is_active", [token])
        endpoint = cursor.fetchone()
        if endpoint is None:
            raise Http404
        try:
            text = request.body.decode()
            payload = json.loads(text)
        except ValueError:  # UnicodeDecodeError too
            return JsonResponse({"error": "Body is not JSON."}, status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            return JsonResponse({"error": "Body is not an event."}, status=400)
        # The canonical text is both the fingerprint's input and the stored JSON: one serialization.
        canonical = CANONICAL.encode(payload)
        headers = json.dumps({name: value for name, value in request.headers.items() if name not in UNKEPT_HEADERS})
        with transaction.atomic():
            cursor.execute(
                STORE,
                [
                    endpoint[0],
                    payload["event"],
                    text,
                    canonical,
                    headers,
                    hashlib.sha256(canonical.encode()).hexdigest(),
                ],
            )
            event_id, delivery_count = cursor.fetchone()
        if delivery_count > 1:
            return JsonResponse({"status": "duplicate", "event_id": event_id})
        with transaction.atomic():
            cursor.execute(CLAIM, [event_id])
            data = _object(_object(payload.get("payload")).get("data"))
            if cursor.rowcount == 1 and payload["event"] == "certificate.created" and data:
                cursor.execute(UPSERT_CERTIFICATE, [*_certificate_columns(data), event_id])
    return JsonResponse({"status": "accepted", "event_id": event_id})


def _certificate_columns(data: dict[str, Any]) -> list[Any]:
    """Return the certificate's id, its data and its searchable columns, ready for the database."""
    # Where the default CERTIFICATE_FIELDS look first (the benchmark's body has them all).
    attributes = _object(data.get("attributes"))
    return [
        str(data.get("id")),
        json.dumps(data),
        _text(attributes.get("learner_email")),
        _text(attributes.get("learner_name")),
        _text(attributes.get("course_title")),
        connection.ops.adapt_datetimefield_value(_parsed(parse_datetime, attributes.get("issued_at"))),
        connection.ops.adapt_datefield_value(_parsed(parse_date, attributes.get("expires_at"))),
        _text(attributes.get("certificate_url")),
    ]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parsed(parse: Callable[[str], T | None], value: Any) -> T | None:
    """A date or datetime, or None when the value is missing or malformed (the column stays empty)."""
    try:
        return parse(value) if isinstance(value, str) else None
    except ValueError:
        return None
