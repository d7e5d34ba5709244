"""Keep endpoint tokens out of logs, error reports and stored headers; leave everything else as it was.

The token in the webhook URL is the endpoint's only secret (Seably signs
nothing), yet Django logs the path of 4xx/5xx responses, every HTTP server logs
the request line, and error mails show the request. Redaction is also a guest
in the host project's logs: a line that is not about a webhook URL comes out
exactly as it went in. Two rules, written here only (docs/security.md, "The rule"):

1. Under the webhook prefix (read from the URLconf; compared ignoring letter
   case and percent-encoding, runs of slashes and dot segments), whatever
   follows is masked: each segment of the rest of the path keeps its first
   characters, also after a quote, ``?``, ``#``, ``<``, whitespace or their
   percent-encodings.
2. Anywhere, a run shaped like a token (``looks_like_token``: 43 or more
   url-safe characters, literal or percent-encoded, mixing upper case, lower
   case and digits) keeps its first characters. Every generated token has that
   shape (``models.generate_token``), so one is caught under an old prefix, in a
   Host header, and where the URLconf is unknown (a server's master process).
"""

from __future__ import annotations

import copy
import logging
import re
import string
from collections.abc import Callable, Iterable
from typing import NamedTuple
from urllib.parse import unquote

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest

#: How many characters of a token are shown; enough to tell endpoints apart.
VISIBLE_CHARACTERS = 4

#: The length of ``secrets.token_urlsafe(32)``: the shortest run rule 2 takes for a token.
TOKEN_MIN_LENGTH = 43

_PLACEHOLDER = "TOKEN"
_PATH_KEYS = ("PATH_INFO", "REQUEST_URI", "RAW_URI", "SCRIPT_URL", "SCRIPT_URI")

#: Loggers whose records may contain a webhook path: requests (4xx/5xx), runserver,
#: and the security loggers Django writes to before any view runs (e.g. a bad Host
#: header), whose records carry the request into error reports.
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


# --- rule 2: a token's shape, anywhere -------------------------------------------------

_URL_SAFE = r"[A-Za-z0-9_-]"
# The percent-encoding of a url-safe character (in either case): - 0-9 A-Z _ a-z.
_ENCODED_URL_SAFE = r"%(?:2[Dd]|3[0-9]|4[1-9A-Fa-f]|5[0-9Aa]|5[Ff]|6[1-9A-Fa-f]|7[0-9Aa])"
# Greedy, so a run is maximal: characters glued to a token make the run longer, never hide it.
_TOKEN_RUN = re.compile(rf"(?:{_URL_SAFE}|{_ENCODED_URL_SAFE}){{{TOKEN_MIN_LENGTH},}}")
_URL_SAFE_RUN = re.compile(rf"{_URL_SAFE}+")
_UPPER, _LOWER, _DIGITS = (frozenset(s) for s in (string.ascii_uppercase, string.ascii_lowercase, string.digits))


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has a token's shape: 43+ url-safe characters mixing upper case, lower case and digits.

    Slugs of words, UUIDs, hex digests and most file names lack one of the
    three, so they are never taken for a token.
    """
    return len(text) >= TOKEN_MIN_LENGTH and _URL_SAFE_RUN.fullmatch(text) is not None and _mixes(text)


def _mixes(text: str) -> bool:
    characters = set(text)
    return not (characters.isdisjoint(_UPPER) or characters.isdisjoint(_LOWER) or characters.isdisjoint(_DIGITS))


def _mask_tokens(text: str, found: list[str]) -> str:
    """Mask each token-shaped run of ``text``; add the runs masked to ``found``."""
    if len(text) < TOKEN_MIN_LENGTH:
        return text

    def mask(match: re.Match[str]) -> str:
        run = match.group(0)
        if not _mixes(unquote(run) if "%" in run else run):
            return run
        found.append(run)
        return mask_token(run)

    return _TOKEN_RUN.sub(mask, text)


# --- rule 1: whatever follows the webhook prefix ------------------------------------------

_SEPARATOR = r"(?:/|%2[Ff])"
_SEPARATORS = rf"{_SEPARATOR}+(?:(?:\.|%2[Ee]){{1,2}}{_SEPARATOR}+)*"
# What may stand between the prefix and a token, or between parts of what follows it:
# a quote, ? # < > & =, or their percent-encodings (%20, a space, included).
_DELIMITER = r"(?:[\"'?#<>&=]|%(?:2[02367]|3[CcDdEeFf]))"
# The prefix must start a path: at the start, after whitespace, a quote or a bracket,
# after a URL's scheme and host, or after a bare host there (a Host header
# "127.0.0.1/seably/…"); so /api/seably/certificates/ is left alone.
_PATH_START = r"(?:(?:^|(?<=[\s\"'(\[<=,:;|]))[\w.:\[\]-]*|(?<=://)[^/\s\"'?#]*)"
# Whatever follows the prefix up to the next whitespace, or the next word after whitespace
# (a request line "POST /seably/ <token>/ HTTP/1.1"); one line only.
_TAIL = r"[^\S\r\n]*\S*"
# What follows the prefix, read left to right: gaps (separators and delimiters, whole, so
# that "%27" is never split) and the parts between them. Backslashes belong to a part:
# Django escapes the paths it logs ("…" as "\u2026").
_PIECE = re.compile(rf"(?P<gap>(?:{_SEPARATOR}|{_DELIMITER})+)|(?P<part>(?:(?!{_SEPARATOR}|{_DELIMITER})\S)+)")


def mask_segments(text: str) -> str:
    """Mask every part of ``text`` (what follows the webhook prefix) longer than 4 characters."""
    return _mask_parts(text, [])


def _mask_parts(text: str, found: list[str]) -> str:
    def mask(match: re.Match[str]) -> str:
        part = match.group("part")
        if part is None:
            return match.group("gap")
        if len(part) >= TOKEN_MIN_LENGTH:
            found.append(part)
        return _mask_segment(part)

    return _PIECE.sub(mask, text)


class _PrefixPatterns(NamedTuple):
    followed: re.Pattern[str]  # the prefix and what follows it, wherever a path starts
    alone: re.Pattern[str]  # the prefix at the start of a path
    clue: str  # in the decoded, lower-cased text whenever ``followed`` can match


def _compile(prefix: str) -> _PrefixPatterns | None:
    segments = [segment for segment in prefix.split("/") if segment]
    if not segments:
        # Included at the root: every path would be "under the prefix"; rule 2 only.
        return None
    spelled = _SEPARATORS.join("".join(_spellings(character) for character in segment) for segment in segments)
    # One or two segments that dot-dot segments undo ("/x/../seably/<token>/" and
    # "/x/y/../../seably/<token>/" are the webhook URL too). Each piece can match one way
    # only, so a long line of slashes and dots costs linear time.
    slashes, dot_dot = rf"{_SEPARATOR}+", r"(?:\.|%2[Ee]){2}(?=/|%2[Ff])"
    name = r"(?!\.|%2[Ee])(?:(?!%2[Ff])[^/\s\"'?#<>])+"
    undone = (
        rf"(?:{slashes}{name}{slashes}{dot_dot}"
        rf"|{slashes}{name}{slashes}{name}{slashes}{dot_dot}{slashes}{dot_dot})*"
    )
    return _PrefixPatterns(
        followed=re.compile(
            rf"(?P<prefix>{_PATH_START}{undone}{_SEPARATORS}{spelled}(?:{_SEPARATORS}|(?={_DELIMITER})))"
            rf"(?P<tail>{_TAIL})",
            re.IGNORECASE,
        ),
        alone=re.compile(rf"{undone}{_SEPARATORS}{spelled}(?:{_SEPARATOR}|{_DELIMITER}|$)", re.IGNORECASE),
        clue=max(segments, key=len).lower(),
    )


def _spellings(character: str) -> str:
    """The character itself or its percent-encoding (either case: the pattern ignores case)."""
    encoded = "".join(f"%{byte:02X}" for byte in character.encode())
    return f"(?:{re.escape(character)}|{encoded})"


# The URLconf's resolver (kept, so its id is never reused) and its compiled prefix. Django
# builds a new resolver when the URLconf changes (clear_url_caches, on setting_changed for
# ROOT_URLCONF), so a new one means "look again"; nothing about tokens is kept.
_cache: tuple[object, str | None, _PrefixPatterns | None] = (None, None, None)


def _prefix() -> tuple[str | None, _PrefixPatterns | None]:
    """Return the webhook prefix and its patterns, looked up once per URLconf.

    (None, None) when the app's URLs are not included or Django is not set up yet
    (a server's master process): then only rule 2 applies.
    """
    global _cache
    from django.apps import apps

    if not apps.ready:
        return None, None
    from django.urls import NoReverseMatch, get_resolver, get_script_prefix, get_urlconf, reverse

    urlconf = get_urlconf()
    try:
        resolver = get_resolver(urlconf)
    except Exception:  # an URLconf that cannot be imported yet: try again on the next call
        return None, None
    cached_resolver, prefix, patterns = _cache
    if cached_resolver is resolver:
        return prefix, patterns
    try:
        path = reverse("django_seably:webhook", kwargs={"token": _PLACEHOLDER}, urlconf=urlconf)
    except NoReverseMatch:  # the app's URLs are not included: no prefix to look for
        prefix = None
    except Exception:  # e.g. a record logged while the URLconf is still being imported
        return None, None
    else:
        script_prefix = get_script_prefix()
        if path.startswith(script_prefix):
            path = "/" + path[len(script_prefix) :]
        prefix = unquote(path[: path.rindex(_PLACEHOLDER)])
    patterns = _compile(prefix) if prefix else None
    _cache = (resolver, prefix, patterns)
    return prefix, patterns


def webhook_prefix() -> str | None:
    """Return the webhook URL's prefix in the URLconf (e.g. ``/seably/``), decoded; None if there is none.

    Relative to the URLconf, without the script prefix a request may have set.
    """
    return _prefix()[0]


def _redact(text: str, patterns: _PrefixPatterns | None) -> str:
    found: list[str] = []
    if patterns is not None and (len(text) >= len(patterns.clue) or "%" in text):
        lowered = text.lower()
        # The cheap test first: most text (tracebacks, other paths) has no spelling of the prefix.
        if patterns.clue in lowered or ("%" in text and patterns.clue in unquote(lowered)):
            text = patterns.followed.sub(lambda m: m.group("prefix") + _mask_parts(m.group("tail"), found), text)
    text = _mask_tokens(text, found)
    for secret in found:
        # The same token in another letter case, in the same text: Django's DisallowedHost
        # message suggests the Host to allow lower-cased ("You may need to add '<token>.x'").
        if len(secret) >= TOKEN_MIN_LENGTH:
            text = re.sub(re.escape(secret), lambda m: mask_token(m.group(0)), text, flags=re.IGNORECASE)
    return text


def redact_text(text: str) -> str:
    """Mask whatever could be a token in ``text`` (both rules); text without one is returned unchanged."""
    return _redact(text, _prefix()[1])


def redactor() -> Callable[[str], str]:
    """Return ``redact_text`` with the prefix looked up once: for many strings of one request."""
    patterns = _prefix()[1]
    return lambda text: _redact(text, patterns)


def is_webhook_path(path: str) -> bool:
    """Whether ``path`` (relative to the script prefix) is under the webhook prefix, however spelled."""
    patterns = _prefix()[1]
    return patterns is not None and patterns.alone.match(path) is not None


# --- requests, exceptions and log records ---------------------------------------------------


def redact_request(request: HttpRequest, token: str) -> None:
    """Mask ``token``, and any other spelling of a webhook path, in the request's path.

    Called by the view before anything can log or report the request; it touches
    only the path, never the headers the view stores. The prefix is looked up
    once, and each distinct string (path, path_info and META's copies are mostly
    the same) is redacted once.
    """
    rules, masked = redactor(), mask_token(token)
    done: dict[str, str] = {}

    def redact(value: str) -> str:
        if value not in done:
            # The rules first ("/seably/'<token>'/" gets its quotes kept), then the token itself
            # wherever it is left (an app included at the root has no prefix).
            redacted = rules(value)
            done[value] = redacted.replace(token, masked) if token else redacted
        return done[value]

    request.path = redact(request.path)
    request.path_info = redact(request.path_info)
    for key in _PATH_KEYS:
        value = request.META.get(key)
        if isinstance(value, str):
            redacted = redact(value)
            if redacted != value:
                _set_meta(request, key, redacted)


def redact_request_paths(request: HttpRequest) -> None:
    """Mask webhook tokens in the path and the strings of META of a request on a log record.

    Error reports show META whole, and proxies copy the path into headers such as
    X-Original-URI. Only values that hold a token change: any other request is
    left exactly as it is.
    """
    redact = redactor()
    for attribute in ("path", "path_info"):
        value = getattr(request, attribute)
        redacted = redact(value)
        if redacted != value:
            setattr(request, attribute, redacted)
    for key, value in list(request.META.items()):
        if isinstance(value, str):
            redacted = redact(value)
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


class RedactedError(Exception):
    """Stands in for an exception whose message held a token, when a copy of it cannot carry the masked text."""


def redact_exception(error: BaseException) -> BaseException:
    """Return ``error`` itself when its message holds no token, else a copy whose message is masked.

    Error mails print the exception's message ("Exception Value"), e.g. a
    DisallowedHost for ``Host: 127.0.0.1/seably/<token>/``. The copy keeps the
    traceback, cause and context, so reports show the same frames; the
    original, which the host project's code may hold, is not changed.
    """
    try:
        message = str(error)
    except Exception:  # an exception that cannot say what it is: nothing to mask
        return error
    masked = redact_text(message)
    if masked == message:
        return error
    redacted: BaseException
    try:
        redacted = copy.copy(error)
        redacted.args = (masked,)
        if str(redacted) != masked:  # a __str__ of its own (OSError, KeyError...)
            raise ValueError
    except Exception:
        redacted = RedactedError(masked)
    redacted.__traceback__ = error.__traceback__
    redacted.__cause__, redacted.__context__ = error.__cause__, error.__context__
    redacted.__suppress_context__ = error.__suppress_context__
    return redacted


class RedactTokensFilter(logging.Filter):
    """Mask webhook tokens in a record: its arguments, message, exception, traceback and request.

    Arguments are redacted one by one first, so formatters that read them
    (uvicorn's access formatter unpacks them) keep working; if the message still
    has a token after that, the record's message is replaced by the redacted
    text. A record without a token is left exactly as it was. Never drops one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest):
            # Error reports (AdminEmailHandler) print the request's path and META.
            redact_request_paths(request)
        if isinstance(record.args, tuple) and record.args:
            args = tuple(redact_text(arg) if isinstance(arg, str) else arg for arg in record.args)
            if args != record.args:
                record.args = args
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
            # Formatters use exc_text when it is set (logging.Formatter caches it there),
            # error reports the exception itself.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            masked = redact_text(text)
            if masked != text:
                record.exc_text = masked
            error = redact_exception(record.exc_info[1])
            if error is not record.exc_info[1]:
                record.exc_info = (record.exc_info[0], error, record.exc_info[2])
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
