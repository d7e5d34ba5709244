"""Keep endpoint tokens out of logs, error reports and pages.

The token in the webhook URL is the endpoint's only secret (Seably signs
nothing), yet Django logs the path of every 4xx/5xx response ("Not Found:
/seably/<token>/"), runserver logs every request line, and error reports show
the request. The view redacts the request itself as soon as it is resolved, and
a logging filter redacts records written before or without the view.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

#: How many characters of a token are shown; enough to tell endpoints apart.
VISIBLE_CHARACTERS = 4

_PLACEHOLDER = "TOKEN"
_PATH_KEYS = ("PATH_INFO", "REQUEST_URI", "RAW_URI", "SCRIPT_URL", "SCRIPT_URI")

#: Loggers whose records may contain a webhook path: requests (4xx/5xx), runserver,
#: and the security loggers Django writes to before any view runs (e.g. a bad Host
#: header), whose records carry the unredacted request into error reports.
#: A logger's filters see only its own records, so each is listed.
LOGGERS = (
    "django.request",
    "django.server",
    "django.security.csrf",
    "django.security.DisallowedHost",
    "django.security.RequestDataTooBig",
    "django.security.TooManyFieldsSent",
    "django.security.TooManyFilesSent",
    "django.security.SuspiciousMultipartForm",
    "django.security.SuspiciousOperation",
)


def mask_token(token: str) -> str:
    """Return the first characters of ``token`` and an ellipsis."""
    return f"{token[:VISIBLE_CHARACTERS]}…" if token else ""


def redact_request(request: HttpRequest, token: str) -> None:
    """Replace ``token`` in the request's path, so whatever reports it later cannot leak it."""
    masked = mask_token(token)
    request.path = request.path.replace(token, masked)
    request.path_info = request.path_info.replace(token, masked)
    for key in _PATH_KEYS:
        value = request.META.get(key)
        if isinstance(value, str) and token in value:
            request.META[key] = value.replace(token, masked)


def redact_request_paths(request: HttpRequest) -> None:
    """Mask every webhook token in ``request``'s path, for a request the view never saw."""
    pattern = _webhook_path_pattern()
    if pattern is None:
        return
    for match in list(pattern.finditer(request.path)):
        redact_request(request, match.group("token"))


def redact_text(text: str) -> str:
    """Mask the token in every webhook path found in ``text``."""
    pattern = _webhook_path_pattern()
    if pattern is None:
        return text
    return pattern.sub(lambda m: m.group("prefix") + mask_token(m.group("token")), text)


def redact_url(url: str) -> str:
    """Mask every path segment of ``url`` that looks like a token, on any site."""
    return _TOKEN_LIKE_SEGMENT.sub(lambda m: mask_token(m.group(0)), url)


_TOKEN_LIKE_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_-]{20,}(?=/|$|\?)")


def _webhook_path_pattern() -> re.Pattern[str] | None:
    try:
        path = reverse("django_seably:webhook", kwargs={"token": _PLACEHOLDER})
    except NoReverseMatch:  # the app's URLs are not included: no path to redact
        return None
    prefix = path[: path.rindex(_PLACEHOLDER)]
    # The prefix must start a path: at the start, after a space or quote, or after a
    # URL's host, so that /api/seably/certificates/ is not taken for /seably/<token>/.
    start = r"(?:^|(?<=[\s\"'(])|(?<=://)[^/\s\"']+)"
    return re.compile(rf"(?P<prefix>{start}{re.escape(prefix)})(?P<token>[^/?#\s\"'…]{{5,}})")


class RedactMessageFilter(logging.Filter):
    """Rewrite a record's message with ``redact``; never drop a record."""

    def __init__(self, redact: Callable[[str], str] = redact_text) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RedactTokensFilter(RedactMessageFilter):
    """Mask webhook tokens in a record's message and in the request it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest):
            # Error reports (AdminEmailHandler) print the request's path and META.
            redact_request_paths(request)
        return super().filter(record)


def install_log_filters() -> None:
    """Add the filter to the loggers Django writes request paths to (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokensFilter) for f in logger.filters):
            logger.addFilter(RedactTokensFilter())
