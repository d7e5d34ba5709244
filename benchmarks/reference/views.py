"""Two minimal but correct receivers, the limit any persisting Django receiver can reach.

Both read the body, parse it, and INSERT one row in one transaction (one commit), as
our view must at least do. They do nothing else: no token, no size limit, no
canonical fingerprint, no headers, no certificate, no signals.
"""

from __future__ import annotations

import hashlib
import json

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from benchmarks.reference.models import ReferenceDelivery, ReferenceEvent


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def reference_insert(request: HttpRequest) -> HttpResponse:
    """Parse the JSON body and INSERT it: no deduplication (the plain limit, for new events)."""
    try:
        text = request.body.decode()
        payload = json.loads(text)
    except ValueError:  # UnicodeDecodeError too
        return JsonResponse({"error": "Body is not JSON."}, status=400)
    with transaction.atomic():
        event = ReferenceEvent.objects.create(body=text, payload=payload)
    return JsonResponse({"status": "accepted", "event_id": event.pk})


@csrf_exempt
@require_POST
@transaction.non_atomic_requests
def reference_dedup(request: HttpRequest) -> HttpResponse:
    """Parse and INSERT; a duplicate body (same bytes) fails on the unique digest and is answered as such."""
    try:
        text = request.body.decode()
        payload = json.loads(text)
    except ValueError:  # UnicodeDecodeError too
        return JsonResponse({"error": "Body is not JSON."}, status=400)
    try:
        with transaction.atomic():
            event = ReferenceDelivery.objects.create(
                body=text, payload=payload, fingerprint=hashlib.sha256(request.body).hexdigest()
            )
    except IntegrityError:
        return JsonResponse({"status": "duplicate"})
    return JsonResponse({"status": "accepted", "event_id": event.pk})
