"""Turn the bytes Seably sent into what an event stores, and read what it holds: one place for those rules.

Everything here is pure (no ORM), so it is cheap to test and to fuzz.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

#: Deeper JSON is refused: Seably's bodies are a few levels deep, and a bound keeps
#: parsing, hashing and the database's own JSON parser (SQLite stops at 1000) safe.
MAX_NESTING = 100

#: Longest event type and object type/id stored in their indexed columns.
MAX_TYPE_LENGTH = 255

# A JSON escape that may decode to a character no database can store in JSON
# (NUL, or half of a surrogate pair). Only bodies containing one are walked.
_SUSPICIOUS_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


@dataclass(frozen=True)
class ParsedBody:
    """A body as the app stores it, valid or not."""

    #: The body as text; exact unless ``raw`` is set.
    text: str
    #: The exact bytes, kept only when ``text`` cannot hold them (invalid UTF-8, NUL).
    raw: bytes | None
    #: Identifies the delivery: equal for the same JSON (after parsing) or the same invalid bytes.
    fingerprint: str
    payload: dict[str, Any] | None = None
    error: str = ""
    event_type: str = ""
    object_type: str | None = None
    object_id: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.payload is not None


def parse_body(raw: bytes | bytearray) -> ParsedBody:
    """Parse a webhook body; never raise, whatever the bytes are.

    A ``bytearray`` is emptied once it is decoded: valid UTF-8 encodes back to the
    same bytes, so only the text is kept and a big body is not held twice (the
    caller's reference to bytes would keep them alive until this returns).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _invalid(bytes(raw), f"Body is not valid UTF-8 ({error.reason} at byte {error.start}).")
    if isinstance(raw, bytearray):
        raw.clear()
    del raw
    if not is_storable_text(text):
        return _invalid(text.encode(), "Body is not valid JSON (it contains a NUL byte).")
    try:
        # A leading byte order mark is allowed by RFC 8259 §8.1 parsers; accept it.
        payload = _DECODER.decode(text.removeprefix("\ufeff"))
    except RecursionError:
        return _invalid(text.encode(), f"Body is not valid JSON (nested deeper than {MAX_NESTING} levels).")
    except ValueError as error:
        # JSONDecodeError, NaN/Infinity, and integers too long for Python to convert.
        reason = "a number has too many digits" if "integer string conversion" in str(error) else error
        return _invalid(text.encode(), f"Body is not valid JSON ({reason}).")
    if not isinstance(payload, dict):
        return _invalid(text.encode(), f"Body must be a JSON object, not {_json_type(payload)}.")
    check_strings = _SUSPICIOUS_ESCAPE.search(text) is not None
    # Fewer brackets than the limit cannot nest deeper than it: most bodies need no walk.
    problem = (
        _unstorable(payload, check_strings=check_strings)
        if check_strings or text.count("{") + text.count("[") > MAX_NESTING
        else ""
    )
    if problem:
        return _invalid(text.encode(), f"Body is not valid JSON for storage ({problem}).")
    event_type = payload.get("event")
    if not isinstance(event_type, str) or not event_type:
        return _invalid(text.encode(), 'Body must have a non-empty string "event".')
    if len(event_type) > MAX_TYPE_LENGTH:
        return _invalid(text.encode(), f'"event" is longer than {MAX_TYPE_LENGTH} characters.')
    data = object_data(payload) or {}
    return ParsedBody(
        text=text,
        raw=None,
        fingerprint=fingerprint(payload, size=len(text)),
        payload=payload,
        event_type=event_type,
        object_type=_short_string(data.get("type")),
        object_id=_short_string(data.get("id")),
    )


def object_data(payload: object) -> dict[str, Any] | None:
    """Return the object an event is about, ``payload.data``, or None when there is no such object."""
    outer = payload.get("payload") if isinstance(payload, dict) else None
    data = outer.get("data") if isinstance(outer, dict) else None
    return data if isinstance(data, dict) else None


def object_id(data: dict[str, Any]) -> str | None:
    """Return ``data``'s ``id`` as text (Seably may send a number), or None when unusable as an id."""
    return _short_string(data.get("id"))


#: The one character no database keeps in text (PostgreSQL refuses it, in values and in queries).
NUL = "\x00"


def is_storable_text(text: str) -> bool:
    """Whether ``text`` can be stored, or compared with what is stored: it holds no NUL.

    A query value holding NUL can match nothing stored, and PostgreSQL would refuse
    the query itself: callers answer "nothing" without asking the database.
    """
    return NUL not in text


def storable_text(text: str) -> str:
    """Return ``text`` with each NUL replaced by U+FFFD, so that every database stores it."""
    return text.replace(NUL, "\ufffd")


def fingerprint(payload: dict[str, Any], *, size: int = 0) -> str:
    """Return a digest that is equal for equal JSON, whatever the key order or spacing.

    ``size`` is the body's length: past ``STREAMED_FINGERPRINT_SIZE`` the canonical
    JSON is hashed as it is produced rather than built whole first (slower, but
    a big body costs no second copy of itself here).
    """
    digest = hashlib.sha256()
    if size <= STREAMED_FINGERPRINT_SIZE:
        digest.update(_CANONICAL.encode(payload).encode())
    else:
        for chunk in _CANONICAL.iterencode(payload):
            # A chunk can be one big string: encode it a slice at a time.
            for start in range(0, len(chunk), _HASH_SLICE):
                digest.update(chunk[start : start + _HASH_SLICE].encode())
    return digest.hexdigest()


#: Bodies up to this length are fingerprinted in one piece, by the fast C encoder.
STREAMED_FINGERPRINT_SIZE = 64 * 1024

_HASH_SLICE = 64 * 1024

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _invalid(raw: bytes, error: str) -> ParsedBody:
    text = storable_text(raw.decode("utf-8", errors="replace"))
    return ParsedBody(
        text=text,
        raw=None if text.encode() == raw else raw,
        # Prefixed so that an invalid body can never share a digest with a valid one.
        fingerprint=hashlib.sha256(b"invalid:" + raw).hexdigest(),
        error=error,
    )


def as_invalid(body: ParsedBody, error: str) -> ParsedBody:
    """Return ``body`` as an invalid one, for JSON that the database itself refused."""
    return _invalid(body.raw if body.raw is not None else body.text.encode(), error)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: valid JSON, but no database stores it as a number
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _short_string(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_TYPE_LENGTH:
        return value
    return None


def _unstorable(payload: dict[str, Any], *, check_strings: bool) -> str:
    """Return why ``payload`` cannot be stored as JSON by every database, or ``""``.

    Walks iteratively so the walk itself cannot hit the recursion limit.
    """
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_NESTING:
                return f"nested deeper than {MAX_NESTING} levels"
            for key, item in value.items():
                if check_strings and _bad_string(key):
                    return r"a key contains \u0000 or an unpaired surrogate"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_NESTING:
                return f"nested deeper than {MAX_NESTING} levels"
            stack.extend((item, depth + 1) for item in value)
        elif check_strings and isinstance(value, str) and _bad_string(value):
            return r"a string contains \u0000 or an unpaired surrogate"
    return ""


def _bad_string(value: str) -> bool:
    if not is_storable_text(value):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# After the functions it names; one decoder for every body.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_finite_float)
