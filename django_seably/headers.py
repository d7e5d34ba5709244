"""Which request headers are stored with an event, and how: for diagnosis, never a credential.

The event page shows stored headers to every user who may view events, so
nothing stored may let them act as someone else: a sender's credentials are left
out, and the values of headers whose names suggest a secret are masked. Signature
headers are kept whole: a signature proves a body, it grants nothing, and a future
signature check needs it as it came.
"""

from __future__ import annotations

from collections.abc import Mapping

from django_seably.payloads import storable_text
from django_seably.redact import mask_token, redactor

#: Request headers never stored with an event: they carry the sender's credentials.
PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

#: A header whose name contains one of these (in any case) is stored with its value masked.
SECRET_NAME_PARTS = ("key", "token", "secret", "password", "session", "auth")

#: A header whose name contains this is kept as it is, whatever else its name contains.
SIGNATURE_NAME_PART = "signature"

#: What a secret header's value is stored as. A fixed text, not a prefix: an API key's or a
#: password's first characters are part of the secret, and its length tells nothing useful.
MASKED_VALUE = "[masked]"

#: Stored headers are for diagnosis: a bounded number, each value cut to a bounded length,
#: so a sender's headers cannot cost more storage than its body.
MAX_STORED_HEADERS = 50
MAX_STORED_HEADER_LENGTH = 1024


def is_secret_header(name: str) -> bool:
    """Return True when the header ``name`` suggests a credential whose value must not be stored."""
    lowered = name.lower()
    if SIGNATURE_NAME_PART in lowered:
        return False
    return any(part in lowered for part in SECRET_NAME_PARTS)


def storable_headers(headers: Mapping[str, str], token: str) -> dict[str, str]:
    """Return the headers to store with an event received with ``token``.

    Credentials are left out, secret-looking values masked, the token masked
    wherever it appears (and any spelling of a token, by ``redact.py``'s rule),
    NUL (which PostgreSQL cannot store) replaced, and the number and length of
    the values bounded.
    """
    masked_token, redact = mask_token(token), redactor()
    stored: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in PRIVATE_HEADERS:
            continue
        if len(stored) == MAX_STORED_HEADERS:
            break
        if is_secret_header(name):
            value = MASKED_VALUE if value else ""
        if token:
            name, value = name.replace(token, masked_token), value.replace(token, masked_token)
        # Any other spelling of a token (percent-encoded in a Referer, another endpoint's).
        name, value = redact(name), redact(value)
        name, value = storable_text(name), storable_text(value)
        if len(value) > MAX_STORED_HEADER_LENGTH:
            value = value[: MAX_STORED_HEADER_LENGTH - 1] + "…"
        stored[name] = value
    return stored
