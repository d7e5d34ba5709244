"""Webhook bodies for the benchmarks: Seably's (``django_seably.testing.certificate_body``, fixed values); Stripe's."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django_seably.testing import certificate_body

#: Placeholder that the wrk script replaces with a new certificate id per request.
ID_PLACEHOLDER = "@ID@"


def certificate(seably_id: str, **extra: Any) -> dict[str, Any]:
    """Return a realistic ``certificate.created`` body (about 500 bytes as JSON): the package's own, with fixed values."""
    return certificate_body(
        seably_id,
        learner_email="ingrid.solberg@example.com",
        learner_name="Ingrid Solberg",
        course_title="Enclosed Space Entry",
        issued_at="2026-11-02T09:14:05Z",
        expires_at="2028-11-02",
        score=92,
        **extra,
    )


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


def template() -> bytes:
    """Return the body with ``ID_PLACEHOLDER`` where the certificate id goes."""
    return encode(certificate(ID_PLACEHOLDER))


def big_string(size: int, seably_id: str = "SB-BIG-STRING") -> bytes:
    """Return a valid certificate body of ``size`` bytes, most of it one string field."""
    empty = encode(certificate(seably_id, notes=""))
    return encode(certificate(seably_id, notes="x" * (size - len(empty))))


def many_objects(size: int, seably_id: str = "SB-MANY-OBJECTS") -> bytes:
    """Return a valid certificate body of about ``size`` bytes, most of it small objects (the worst case to parse)."""
    item = {"module": 12, "passed": True, "score": 0.75, "title": "Fire safety"}
    one = len(json.dumps(item, ensure_ascii=False)) + 2
    base = len(encode(certificate(seably_id, modules=[])))
    return encode(certificate(seably_id, modules=[item] * ((size - base) // one)))


def stripe_event(event_id: str) -> bytes:
    """Return a Stripe ``balance.available`` event (about 500 bytes), a type dj-stripe stores without a handler."""
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1796000000,
            "data": {
                "object": {
                    "object": "balance",
                    "available": [{"amount": 12345, "currency": "usd", "source_types": {"card": 12345}}],
                    "connect_reserved": [{"amount": 0, "currency": "usd"}],
                    "livemode": False,
                    "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}],
                }
            },
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": "balance.available",
        }
    ).encode()


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    """Return the ``Stripe-Signature`` header Stripe would send: ``t=...,v1=`` HMAC-SHA256 of ``t.body``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
