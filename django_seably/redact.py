"""Keep endpoint tokens out of logs, error reports and pages.

The token in the webhook URL is the endpoint's only secret (Seably signs
nothing), yet Django logs the path of every 4xx/5xx response ("Not Found:
/seably/<token>/"), runserver and every HTTP server log the request line, and
error reports show the request. The view redacts the request itself as soon as
it is resolved, and a logging filter redacts records written before or without
the view, by Django and by the servers (gunicorn, uvicorn).

A path can spell the webhook URL in many ways that servers and Django still
accept or at least log: percent-encoded letters (``/seably/%67oV…``), repeated
slashes, letter case, ``;params``, suffixes. So redaction never looks for a
known token; two rules mask whatever could be one:

1. After the webhook prefix (read from the URLconf, compared ignoring case and
   percent-encoding, with runs of slashes and dot segments taken as one
   separator), the next path segment keeps only its first characters.
2. Anywhere, a run of 20 or more token characters (letters, digits, ``-``,
   ``_``, literal or percent-encoded) that starts a path segment, a parameter or
   a query value keeps only its first characters. Tokens are 43 characters, so
   this catches them under any prefix, even when the URLconf is not known (in
   gunicorn's master process).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import unquote

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest

#: How many characters of a token are shown; enough to tell endpoints apart.
VISIBLE_CHARACTERS = 4

#: The shortest run of token characters masked by rule 2 (tokens have 43).
TOKEN_LIKE_LENGTH = 20

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

#: The loggers of the servers the app is run under, which log every request line
#: (uvicorn.asgi: uvicorn's ASGI messages, scope included, at --log-level trace).
SERVER_LOGGERS = (
    "gunicorn.access",
    "gunicorn.error",
    "uvicorn.access",
    "uvicorn.error",
    "uvicorn.asgi",
    "granian.access",
)


def mask_token(token: str) -> str:
    """Return the first characters of ``token`` and an ellipsis."""
    return f"{token[:VISIBLE_CHARACTERS]}…" if token else ""


def _mask_segment(segment: str) -> str:
    # Short segments are shown as they are: masking would show them whole anyway.
    return mask_token(segment) if len(segment) > VISIBLE_CHARACTERS else segment


# --- rule 2: token-like runs, on any path ---------------------------------------

_TOKEN_CHARACTER = r"(?:[A-Za-z0-9_-]|%(?:3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|6[1-9A-Fa-f]|7[0-9Aa]|2[Dd]|5[Ff]))"
# A run starts a segment, a parameter or a value (not a word in prose or a
# traceback: "django_seably_webhookevent" after a space or a dot is left alone).
_RUN_START = r"(?:(?<=[/\\=;,:@!$&+*~|])|(?<=%2[Ff])|(?<=%5[Cc])|(?<=%3[AaBbDd]))"
_TOKEN_LIKE = re.compile(rf"{_RUN_START}{_TOKEN_CHARACTER}{{{TOKEN_LIKE_LENGTH},}}")


def redact_url(url: str) -> str:
    """Mask every token-like run in ``url`` (rule 2), on any site; needs no Django setup."""
    return _TOKEN_LIKE.sub(lambda m: mask_token(m.group(0)), url)


# --- rule 1: whatever follows the webhook prefix -------------------------------------

# Not the backslash: Django escapes the paths it logs ("…" becomes "\\u2026"), and a
# masked segment must stay one segment. Rule 2 covers a token after a backslash.
_SEPARATOR = r"(?:/|%2[Ff])"
_SEPARATORS = rf"{_SEPARATOR}+(?:(?:\.|%2[Ee]){{1,2}}{_SEPARATOR}+)*"
# The prefix must start a path: at the start, after a space, quote or bracket, or
# after a URL's host, so that /api/seably/certificates/ is not taken for /seably/<token>/.
_PATH_START = r"(?:^|(?<=[\s\"'(\[<=,:;|])|(?<=://)[^/\s\"'?#]*)"
_SEGMENT = rf"(?:(?!{_SEPARATOR})[^\s\"'?#<>])+"

_prefix_cache: tuple[object, str | None] = (None, None)


def webhook_prefix() -> str | None:
    """Return the webhook URL's prefix in the URLconf (e.g. ``/seably/``), decoded.

    None when the app's URLs are not included or Django is not set up yet (a
    server's master process): then only rule 2 applies. The prefix is relative to
    the URLconf, without the script prefix a request may have set.
    """
    global _prefix_cache
    from django.apps import apps

    if not apps.ready:
        return None
    from django.urls import NoReverseMatch, get_resolver, get_script_prefix, get_urlconf, reverse

    urlconf = get_urlconf()
    try:
        resolver = get_resolver(urlconf)
    except Exception:  # an URLconf that cannot be imported yet: try again on the next call
        return None
    cached_resolver, cached_prefix = _prefix_cache
    if cached_resolver is resolver:
        return cached_prefix
    try:
        path = reverse("django_seably:webhook", kwargs={"token": _PLACEHOLDER}, urlconf=urlconf)
    except NoReverseMatch:  # the app's URLs are not included: no prefix to look for
        prefix = None
    except Exception:  # e.g. a record logged while the URLconf is still being imported
        return None
    else:
        script_prefix = get_script_prefix()
        if path.startswith(script_prefix):
            path = "/" + path[len(script_prefix) :]
        prefix = unquote(path[: path.rindex(_PLACEHOLDER)])
    _prefix_cache = (resolver, prefix)
    return prefix


class _PrefixPatterns(NamedTuple):
    followed: re.Pattern[str]  # the prefix and the segment after it, wherever a path starts
    alone: re.Pattern[str]  # the prefix at the start of a path
    clue: str  # in the decoded, lower-cased text whenever ``followed`` can match


@functools.lru_cache(maxsize=8)
def _prefix_patterns(prefix: str) -> _PrefixPatterns | None:
    segments = [segment for segment in prefix.split("/") if segment]
    if not segments:
        # Included at the root: every path's first segment would be masked; rule 2 only.
        return None
    spelled = _SEPARATORS.join("".join(_spellings(character) for character in segment) for segment in segments)
    return _PrefixPatterns(
        followed=re.compile(
            rf"(?P<prefix>{_PATH_START}{_SEPARATORS}{spelled}{_SEPARATORS})(?P<segment>{_SEGMENT})", re.IGNORECASE
        ),
        alone=re.compile(rf"{_SEPARATORS}{spelled}(?:{_SEPARATOR}|$)", re.IGNORECASE),
        clue=max(segments, key=len).lower(),
    )


def _spellings(character: str) -> str:
    """The character itself or its percent-encoding (either case: the pattern ignores case)."""
    encoded = "".join(f"%{byte:02X}" for byte in character.encode())
    return f"(?:{re.escape(character)}|{encoded})"


def redact_text(text: str) -> str:
    """Mask the token in every webhook path found in ``text``, however it is spelled."""
    prefix = webhook_prefix()
    patterns = _prefix_patterns(prefix) if prefix else None
    # The cheap test first: most text (tracebacks, other paths) has no spelling of the prefix.
    if patterns is not None and patterns.clue in unquote(text).lower():
        text = patterns.followed.sub(lambda m: m.group("prefix") + _mask_segment(m.group("segment")), text)
    return redact_url(text)


def is_webhook_path(path: str) -> bool:
    """Whether ``path`` (relative to the script prefix) is under the webhook prefix, however spelled."""
    prefix = webhook_prefix()
    patterns = _prefix_patterns(prefix) if prefix else None
    return patterns is not None and patterns.alone.match(path) is not None


# --- requests and log records --------------------------------------------------------


def redact_request(request: HttpRequest, token: str) -> None:
    """Mask ``token``, and any other spelling of a webhook path, in the request's path.

    Called by the view before anything can log or report the request; it touches
    only the path, never the headers the view stores.
    """
    masked = mask_token(token)
    request.path = redact_text(request.path.replace(token, masked))
    request.path_info = redact_text(request.path_info.replace(token, masked))
    for key in _PATH_KEYS:
        value = request.META.get(key)
        if isinstance(value, str):
            _set_meta(request, key, redact_text(value.replace(token, masked)))


def redact_request_paths(request: HttpRequest) -> None:
    """Mask webhook tokens in the path and every string of META of a request being reported.

    For a request on a log record (its response is decided): error reports show
    META whole, and proxies copy the path into headers such as X-Original-URI.
    """
    request.path = redact_text(request.path)
    request.path_info = redact_text(request.path_info)
    for key, value in list(request.META.items()):
        if isinstance(value, str):
            redacted = redact_text(value)
            if redacted != value:
                _set_meta(request, key, redacted)


def _set_meta(request: HttpRequest, key: str, value: str) -> None:
    """Store a redacted value in META so that Django can still read it.

    A WSGI environ holds bytes decoded as latin-1, and Django encodes some
    values back (QUERY_STRING for GET, HTTP_COOKIE for COOKIES), which "…"
    would break: the query string gets it percent-encoded, other headers as its
    UTF-8 bytes. The path keys keep "…", which is what a server then logs.
    """
    if isinstance(request, WSGIRequest) and key not in _PATH_KEYS:
        if key == "QUERY_STRING":
            value = value.replace("…", "%E2%80%A6")
        value = "".join(c if ord(c) < 256 else c.encode().decode("latin-1") for c in value)
    request.META[key] = value


class RedactTokensFilter(logging.Filter):
    """Mask webhook tokens in a record: its arguments, its message, its traceback, its request.

    Arguments are redacted one by one first, so formatters that read them
    (uvicorn's access formatter unpacks them) keep working; if the message still
    has a token after that, the record's message is replaced by the redacted text.
    Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest):
            # Error reports (AdminEmailHandler) print the request's path and META.
            redact_request_paths(request)
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_text(arg) if isinstance(arg, str) else arg for arg in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
            # uvicorn formats this one instead of msg when colours are on.
            record.__dict__.pop("color_message", None)
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters use exc_text when it is set (logging.Formatter caches it there).
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text)
        return True


def install_log_filters(loggers: Iterable[str | logging.Logger] = LOGGERS + SERVER_LOGGERS) -> None:
    """Add the filter to the loggers that write request paths (idempotent).

    The servers' loggers are included: a filter on a logger survives the servers'
    own logging setup (dictConfig keeps a logger's filters), so uvicorn's and
    gunicorn's lines are masked in any process where the app is loaded.
    """
    for logger in loggers:
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        if not any(isinstance(f, RedactTokensFilter) for f in logger.filters):
            logger.addFilter(RedactTokensFilter())
