"""Guard the webhook URL under ASGI servers: no token in their logs, no unbounded body.

    # myproject/asgi.py
    from django.core.asgi import get_asgi_application
    from django_seably.asgi import guard_webhooks

    application = guard_webhooks(get_asgi_application())

Two things the view cannot do under ASGI:

- uvicorn logs the request line from the connection's scope, after the app
  answered, through its own loggers. The guard masks the webhook path in the
  scope the server keeps (the application gets an unchanged copy), and the app
  filters uvicorn's loggers (see ``redact.install_log_filters``).
- Django's ASGI handler reads the whole body before any view runs, so the
  view's 413 would come after a 200 MB upload. The guard answers 413 as soon as
  ``Content-Length`` announces more than ``SEABLY["MAX_BODY_SIZE"]``, and cuts a
  body without a length once more than that has arrived.

Everything else (lifespan, websockets, other paths) is passed through as it is.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from django_seably.conf import seably_settings
from django_seably.exceptions import WebhookBodyTooLarge
from django_seably.redact import is_webhook_path, mask_segments, redact_text

# As Django's ASGIHandler declares them, so that it type-checks as an application.
Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]


def guard_webhooks(application: ASGIApplication) -> ASGIApplication:
    """Wrap a project's ASGI application so that webhook requests log no token and cannot overflow."""
    return WebhookGuard(application)


class WebhookGuard:
    """The ASGI application ``guard_webhooks`` returns."""

    def __init__(self, application: ASGIApplication) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_webhook_path(_relative_path(scope)):
            await self.application(scope, receive, send)
            return
        inner = dict(scope)  # the application sees the request as it came
        _mask_server_scope(scope)
        limit = seably_settings.MAX_BODY_SIZE
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        # Read the body here, bounded; Django's handler would read all of it before the view.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nobody to answer
                return
            received += len(message.get("body", b""))
            if received > limit:
                await _too_large(send, limit)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break
        await self.application(inner, _replay(messages, receive), send)


def _relative_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


def _mask_server_scope(scope: Scope) -> None:
    """Mask the path in the scope the server logs from (uvicorn reads raw_path after the app answered)."""
    root_path: str = scope.get("root_path", "")
    scope["path"] = root_path + redact_text(_relative_path(scope))
    raw_path = scope.get("raw_path")
    if isinstance(raw_path, bytes):
        raw = raw_path.decode("latin-1")
        if root_path and raw.startswith(root_path):
            raw = root_path + redact_text(raw[len(root_path) :])
        else:
            raw = redact_text(raw)
        scope["raw_path"] = quote(raw, safe="/%;=:@!$&'()*+,~-._").encode("ascii")
    query_string = scope.get("query_string")
    if isinstance(query_string, bytes) and query_string:
        # Whatever follows the prefix is masked, the query string included.
        masked = mask_segments(query_string.decode("latin-1"))
        scope["query_string"] = quote(masked, safe="/%;=:@!$&'()*+,~-._?").encode("ascii")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses these; if not, the body is counted
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    """Answer 413 with the view's JSON error body, and close: the rest of the body is never read."""
    body = json.dumps({"error": str(WebhookBodyTooLarge(limit))}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then waits on the server's (for a disconnect)."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
