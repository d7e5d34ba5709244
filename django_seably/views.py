"""The webhook view: find the endpoint, read the body within the limit, hand it to ``processing.receive``, answer.

Every answer and why: docs/how-it-works.md.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connections, router, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from django_seably.conf import seably_settings
from django_seably.exceptions import WebhookBodyTooLarge, WebhookRejected
from django_seably.headers import storable_headers
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.processing import receive
from django_seably.redact import redact_request

logger = logging.getLogger(__name__)

# Tokens are url-safe base64: anything else is no token, and is not looked up
# (PostgreSQL would refuse a NUL in the query, for one).
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class WebhookView(View):
    """Receive Seably's webhooks: find the endpoint, read the body within the limit, hand it over, respond."""

    http_method_names = ["get", "head", "post"]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """Return the view function, decorated once (not on every request, as ``method_decorator`` would)."""
        view = super().as_view(**initkwargs)
        # The event is committed by processing.receive itself, before it is processed:
        # a project's ATOMIC_REQUESTS must not wrap the view, or a receiver's failure
        # would roll back an event that Seably is told was received.
        return csrf_exempt(login_not_required(transaction.non_atomic_requests(view)))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        token: str = kwargs["token"]
        # First, before anything can log or report this request.
        redact_request(request, token)
        try:
            endpoint = _active_endpoint(token)
            if endpoint is None:
                return _error("Not found.", status=404)
            return super().dispatch(request, endpoint)  # type: ignore[return-value]
        except WebhookRejected as error:
            return _error(str(error), status=error.status_code)
        except DatabaseError:
            missing = _missing_tables()
            if missing:
                # Not an outage: the app was installed without its migrations. One line says so.
                logger.error(
                    "The table %s does not exist: run `python manage.py migrate`. Answered 503.", ", ".join(missing)
                )
            else:
                logger.warning("Database unavailable; answered 503.", exc_info=True)
            return _error("Database unavailable, try again later.", status=503)

    def get(self, request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
        return JsonResponse({"status": "ready"})

    def head(self, request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
        # The headers of a GET; servers drop a HEAD body anyway, and gunicorn warns for each one sent.
        response = self.get(request, endpoint)
        response.content = b""
        return response

    def post(self, request: HttpRequest, endpoint: Endpoint) -> HttpResponse:
        delivery = receive(endpoint, _read_body(request), storable_headers(request.headers, endpoint.token))
        if not delivery.body.is_valid:
            return _error(delivery.body.error, status=400)
        status = "accepted" if delivery.is_new else "duplicate"
        return JsonResponse({"status": status, "event_id": delivery.event.pk})

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = _error(f"Method {request.method} not allowed.", status=405)
        response["Allow"] = ", ".join(method.upper() for method in self.http_method_names)
        return response


def _active_endpoint(token: str) -> Endpoint | None:
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    try:
        return Endpoint.objects.only("id", "token", "name").get(token=token, is_active=True)
    except Endpoint.DoesNotExist:
        return None


def _missing_tables() -> list[str]:
    """Return the tables of this app that do not exist, after a database error (never on the happy path).

    Asked only of a connection that is open (the query failed, not the connect):
    a database that is down is not asked twice, and is no missing table.
    """
    missing = []
    for model in (Endpoint, WebhookEvent, Certificate):
        connection = connections[router.db_for_write(model)]
        if connection.connection is None:
            return []
        try:
            with connection.cursor() as cursor:
                tables = connection.introspection.table_names(cursor)
        except DatabaseError:
            return []
        if model._meta.db_table not in tables:
            missing.append(model._meta.db_table)
    return missing


def _error(message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _read_body(request: HttpRequest) -> bytearray:
    """Read the body, never past ``MAX_BODY_SIZE``, whatever DATA_UPLOAD_MAX_MEMORY_SIZE is.

    ``request.body`` would apply Django's limit instead and read it all first.
    """
    limit = seably_settings.MAX_BODY_SIZE
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise WebhookBodyTooLarge(limit)
    stream: Any = request
    if "content-length" not in request.headers and request.META.get("wsgi.input_terminated"):
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
        raise WebhookBodyTooLarge(limit)
    # parse_body empties a bytearray once decoded: a big body is not held twice.
    return bytearray(raw)
