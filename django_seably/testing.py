"""Helpers for testing a project's receivers: realistic bodies, posted to the real webhook view.

Works with any test runner (pytest or Django's ``TestCase``); the pytest fixtures
built on these live in ``django_seably.pytest_plugin``. Nothing here imports
models at import time, so importing this module never needs Django set up.
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse

    from django_seably.models import Endpoint

__all__ = ["certificate_body", "create_endpoint", "deliver"]

#: The certificate object ``certificate_body`` starts from: the JSON:API-like shape of
#: ``attributes`` that the default ``CERTIFICATE_FIELDS`` read first, so every column fills.
_ATTRIBUTES: dict[str, Any] = {
    "learner_email": "learner@example.com",
    "learner_name": "Test Learner",
    "course_title": "Enclosed Space Entry",
}


#: Certificate columns whose attribute in the body has another name: either name may be given.
_ATTRIBUTE_OF_COLUMN = {"course_name": "course_title", "expires_on": "expires_at", "url": "certificate_url"}


def certificate_body(seably_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """Return a realistic ``certificate.created`` body, as a dict, for a certificate with ``seably_id``.

    Without ``seably_id``, a fresh unique id (``SB-`` and 12 hex digits): each call is a
    new certificate. With one, the same arguments give the same body all day (it is
    issued at the start of the current UTC day), so sending it again is a duplicate;
    fixed ``issued_at`` and ``expires_at`` make it the same on any day. ``fields`` set the certificate's ``attributes``, where the default
    ``CERTIFICATE_FIELDS`` mapping reads each column first: ``learner_email``,
    ``learner_name``, ``course_title``, ``issued_at``, ``expires_at`` (ISO dates or
    datetimes), ``certificate_url``, or any other key Seably might send; a column's
    own name (``course_name``, ``expires_on``, ``url``) sets the attribute it is read
    from. ``None`` sends the attribute as ``null`` (its column stays empty). For
    another shape, change the returned dict: it is a fresh copy on every call.
    """
    if seably_id is None:
        seably_id = f"SB-{uuid.uuid4().hex[:12].upper()}"
    issued_at = datetime.datetime.combine(datetime.datetime.now(datetime.UTC).date(), datetime.time(), datetime.UTC)
    attributes = {
        **copy.deepcopy(_ATTRIBUTES),
        "issued_at": issued_at.isoformat(),
        "expires_at": (issued_at + datetime.timedelta(days=2 * 365)).date().isoformat(),
        "certificate_url": f"https://www.seably.com/certificates/{seably_id}.pdf",
        **{_ATTRIBUTE_OF_COLUMN.get(name, name): value for name, value in fields.items()},
    }
    return {
        "event": "certificate.created",
        "payload": {
            "data": {
                "type": "certificate",
                "id": seably_id,
                "attributes": attributes,
                "relationships": {
                    "user": {"data": {"type": "user", "id": "U-1"}},
                    "course": {"data": {"type": "course", "id": "C-1"}},
                },
            }
        },
    }


def create_endpoint(name: str | None = None) -> Endpoint:
    """Create and return an active endpoint (a unique name unless ``name`` is given)."""
    from django_seably.models import Endpoint

    return Endpoint.objects.create(name=name or f"test-{uuid.uuid4().hex[:8]}")


def deliver(
    body: dict[str, Any] | list[Any] | str | bytes,
    *,
    endpoint: Endpoint | None = None,
    headers: Mapping[str, str] | None = None,
) -> _MonkeyPatchedWSGIResponse:
    """POST ``body`` to ``endpoint``'s webhook URL, as Seably does, and return the response.

    A dict (or a list) is sent as JSON; a str or bytes is sent exactly as given (to
    test invalid bodies too). Without ``endpoint``, a new active one is created. The
    request goes through the real view, with CSRF checks on as for a real sender, and
    the test client's response has ``.json()``. ``headers`` are sent with the request.

    Receivers' side effects (and, with ``PROCESSING = "tasks"``, the enqueueing of the
    task) run in ``transaction.on_commit`` callbacks. Inside a ``TestCase`` (or a
    pytest-django test without ``transaction=True``) the test's own transaction never
    commits, so those callbacks are run when the request ends, as the commits of a
    real request would run them; in a transactional test they run at the real commits.
    """
    from django.db import router
    from django.test import Client, TestCase

    from django_seably.models import WebhookEvent

    if endpoint is None:
        endpoint = create_endpoint()
    if not isinstance(body, str | bytes):
        body = json.dumps(body)
    client = Client(enforce_csrf_checks=True)
    with TestCase.captureOnCommitCallbacks(using=router.db_for_write(WebhookEvent), execute=True):
        return client.post(endpoint.webhook_path, data=body, content_type="application/json", headers=headers)
