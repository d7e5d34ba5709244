from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from django_seably.conf import seably_settings
from django_seably.exceptions import EndpointNotFound, WebhookBodyTooLarge, WebhookRejected
from django_seably.headers import storable_headers
from django_seably.hints import known_tokens
from django_seably.models import Endpoint
from django_seably.payloads import parse_body
from django_seably.processing import store_delivery
from django_seably.redact import redact_request

logger = logging.getLogger(__name__)

# Tokens are url-safe base64; anything else cannot be one, so it costs no query.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")

ALLOWED_METHODS = ("GET", "HEAD", "POST")


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
# The view commits the event itself (see processing.store_delivery), so a
# project's ATOMIC_REQUESTS must not wrap it: a rolled-back request would lose
# an event that Seably was told was received.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class WebhookView(View):
    """Receive Seably's webhooks: size limit, parse, store, respond. No business logic here."""

    http_method_names = [method.lower() for method in ALLOWED_METHODS]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        token: str = kwargs["token"]
        # First, before anything can log or report this request.
        redact_request(request, token)
        try:
            endpoint = self._get_endpoint(token, known=request.method == "POST")
            if endpoint is None:
                return _error("Not found.", status=404)
            if request.method not in ALLOWED_METHODS:
                response = _error(f"Method {request.method} not allowed.", status=405)
                response["Allow"] = ", ".join(ALLOWED_METHODS)
                return response
            if request.method == "POST":
                return self.receive(request, endpoint)
            response = JsonResponse({"status": "ready"})
            if request.method == "HEAD":
                # Servers drop a HEAD body anyway; gunicorn logs a warning for each one sent.
                response.content = b""
            return response
        except WebhookRejected as error:
            return _error(str(error), status=error.status_code)
        except DatabaseError:
            logger.warning("Database unavailable; answered 503.", exc_info=True)
            return _error("Database unavailable, try again later.", status=503)

    def receive(self, request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
        body = parse_body(_read_body(request))
        headers = storable_headers(request.headers, endpoint.token)
        try:
            event, is_new, body = store_delivery(endpoint, body, headers)
        except EndpointNotFound:
            known_tokens.forget(endpoint.token)
            raise
        known_tokens.remember(endpoint.token)
        if not body.is_valid:
            return _error(body.error, status=400)
        return JsonResponse({"status": "accepted" if is_new else "duplicate", "event_id": event.pk})

    @staticmethod
    def _get_endpoint(token: str, *, known: bool) -> Endpoint | None:
        """Return the endpoint of ``token``, or None (404).

        With ``known``, a token that recently stored an event costs no query: the
        event's INSERT reads the endpoint by its token again (see
        ``WebhookEventQuerySet.record_delivery``) and stores nothing if it is no
        longer active. The first request with a token, and every stranger's,
        is looked up before its body is read.
        """
        if not _TOKEN_SHAPE.fullmatch(token):
            return None
        if known and token in known_tokens:
            return Endpoint(token=token, is_active=True)
        return Endpoint.objects.get_active(token)


def _error(message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _read_body(request: HttpRequest) -> bytearray:
    """Read the body, never past ``MAX_BODY_SIZE``, whatever DATA_UPLOAD_MAX_MEMORY_SIZE is.

    ``request.body`` would apply Django's limit instead and read it all first.
    """
    limit = seably_settings.MAX_BODY_SIZE
    too_large = WebhookBodyTooLarge(f"Body is larger than {limit} bytes.")
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    stream: Any = request
    if "CONTENT_LENGTH" not in request.META and request.META.get("wsgi.input_terminated"):
        # A chunked body, which gunicorn and uWSGI decode and mark as terminated:
        # Django would read zero bytes of it, for lack of a Content-Length.
        stream = request.META["wsgi.input"]
    try:
        raw: bytes = stream.read(limit + 1)
    except Exception as error:
        # UnreadablePostError and OSError (a reset, a body cut short), but also the
        # server's own errors for malformed chunked framing (gunicorn's
        # InvalidChunkSize, ChunkMissingTerminator): the sender's fault, never a 500.
        raise WebhookRejected("Body could not be read.") from error
    if len(raw) > limit:
        raise too_large
    # parse_body empties a bytearray once decoded: a big body is not held twice.
    return bytearray(raw)
