"""Erase one learner (a person's right to erasure): which stored data is theirs, and how it is removed.

An email address identifies the learner. Two addresses are the same when they
are equal ignoring the case of ASCII letters, the rule linking uses
(``django_seably.linking.email_key``): ``Ingrid@Example.com`` finds what Seably
sent as ``ingrid@example.com``; other letters must be typed as Seably sent them.

- **Events**: every event whose body holds the address, anywhere (any event
  type, valid or invalid), as a whole JSON string, a key, or an email token
  inside a longer text (``"mailto:bob@x.com"``), but never as part of another
  address (``jimbob@x.com``, ``bob@x.com.au``). The database narrows the
  candidates with a text search on ``body`` by the longest part of the address
  that JSON writes literally; Python then confirms each one, on the text and on
  its parsed JSON (which decodes escapes such as ``\\u00e9``). Each matching
  event keeps its row as a tombstone, like ``seably_prune`` leaves one: body,
  raw body, payload and headers are emptied; fingerprint, type, Seably object
  id, counts and dates stay, so Seably sending the same body again is still a
  duplicate and stores nothing. A tombstone has no payload, so nothing (no
  reprocessing, no ``seably_refresh_certificates``) can recreate a certificate
  from it. A pending or failed event becomes ``invalid`` (nothing is left to
  process), with a note in ``last_error`` (its traceback could quote the data).
- **Certificates**: deleted when their ``learner_email`` is the address, or
  when it is empty (the mapping found no email) and their data holds the
  address. A certificate of another learner whose data mentions the address is
  kept (deleting it would lose that learner's certificate) and counted, so the
  operator can review it. The other stored events about each deleted certificate
  (its ``certificate.created`` sent under the learner's older address, say) are
  emptied too: ``seably_refresh_certificates`` would otherwise recreate the
  certificate from one.

Work goes in batches by primary key up to the newest row at the start, one
short statement per batch, so memory stays flat, no lock is held for long and
the erasure can be run again at any time (it finds what is left).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Case, F, Max, Q, TextField, Value, When
from django.db.models.functions import Cast

from django_seably.batching import batches
from django_seably.expressions import AsciiLower
from django_seably.linking import email_key
from django_seably.models import Certificate, WebhookEvent
from django_seably.payloads import is_storable_text

Status = WebhookEvent.Status

#: Events read per batch: each holds its body (up to ``MAX_BODY_SIZE``), so batches are small.
BATCH_SIZE = 100

#: What an erased event that was not processed says in ``last_error``.
ERASED_NOTE = "Erased by seably_forget: the personal data of this event is deleted; nothing is left to process."

#: The longest address stored in ``learner_email`` (and RFC 5321's limit).
MAX_ADDRESS_LENGTH = 254

# Characters of an address's local part (RFC 5322 atext and the dot) and of its domain,
# any non-ASCII character counting as a letter (internationalised addresses).
_NON_ASCII = "\u0080-\U0010ffff"
_LOCAL_CHAR = f"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~\\-{_NON_ASCII}]"
_DOMAIN_CHAR = f"[A-Za-z0-9_\\-{_NON_ASCII}]"

# Characters JSON encoders may write escaped (non-ASCII, the JSON specials, and the HTML
# ones that some escape by default), so the body's text may not hold them as they are.
_ESCAPABLE = re.compile(r"[^\x20-\x7e]|[\"\\/<>&']")


class AsciiLowerText(AsciiLower):
    """``AsciiLower`` for long texts (bodies, JSON): the same rule, fast on PostgreSQL.

    PostgreSQL's ``translate`` (``AsciiLower``'s form, which the learner_email
    index is built on) costs about half a millisecond per kilobyte, 30 s for
    60,000 small bodies; ``lower`` under the "C" collation folds ASCII letters
    only too, whatever the database's collation (a Turkish one would fold "I"
    to "ı", so ``ILIKE`` would miss "ALICE"), in 0.2 s. SQLite's ``lower`` is
    ASCII-only already.
    """

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(compiler, connection, template='LOWER((%(expressions)s) COLLATE "C")', **extra_context)


class InvalidAddress(ValueError):
    """What was given is not one email address."""


def clean_address(address: str) -> str:
    """Return ``address`` without surrounding spaces, or raise ``InvalidAddress`` saying what a valid one is."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if (
        not (local and at and domain)
        or len(address) > MAX_ADDRESS_LENGTH
        or re.search(r"\s", address)
        or not is_storable_text(address)
    ):
        raise InvalidAddress(
            f"Give one email address (at most {MAX_ADDRESS_LENGTH} characters), like learner@example.com."
        )
    return address


def address_pattern(address: str) -> re.Pattern[str]:
    """Return a pattern finding ``address`` as a whole address in a text, ignoring the case of ASCII letters.

    Not preceded by a character of a local part, not followed by one of a domain
    (nor by a dot and one: ``bob@x.com.au`` is another address; ``bob@x.com.`` ends a sentence).
    """
    return re.compile(
        f"(?<!{_LOCAL_CHAR}){re.escape(address)}(?!{_DOMAIN_CHAR}|\\.{_DOMAIN_CHAR})",
        re.IGNORECASE | re.ASCII,  # ASCII: only ASCII letters fold, as email_key does
    )


def mentions(value: Any, pattern: re.Pattern[str]) -> bool:
    """Return True if any string in the JSON ``value`` (keys included) holds the address; iterative, any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if pattern.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def body_mentions(body: str, pattern: re.Pattern[str]) -> bool:
    """Return True if a stored body holds the address: in its text, or in its JSON once escapes are decoded."""
    if pattern.search(body):
        return True
    if "\\" not in body:  # nothing escaped: the text said it all
        return False
    try:
        parsed = json.loads(body.removeprefix("\ufeff"))
    except (ValueError, RecursionError):  # an invalid body: its text is all there is
        return False
    return mentions(parsed, pattern)


def search_fragment(address: str) -> str:
    """Return the longest part of ``email_key(address)`` that any JSON encoder writes as it is.

    The database looks for it in ``body``; Python confirms. At least "@" is always there.
    """
    parts = _ESCAPABLE.split(email_key(address))
    return max(parts, key=len)


@dataclass
class Erasure:
    """What an erasure found, and did unless it was a dry run."""

    events: int = 0
    certificates: int = 0
    #: Ids of other learners' certificates whose data mentions the address: kept.
    kept_certificates: list[int] = field(default_factory=list)


def forget(
    address: str,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[str], None] | None = None,
) -> Erasure:
    """Erase the learner with ``address`` (already cleaned): events first, then certificates.

    Events first: a certificate.created being processed meanwhile holds its
    event's row lock (PostgreSQL), so the event's erasure waits for that
    processing to commit, and the certificate it created is deleted next.
    """
    pattern = address_pattern(address)
    fragment = search_fragment(address)
    erasure = Erasure()
    # The body as sent, or its parsed payload as the database writes it (unescaped on
    # PostgreSQL), should a sender escape even plain letters ("b\u006fb@...").
    events = WebhookEvent.objects.alias(
        _seably_body=AsciiLowerText("body"), _seably_payload=AsciiLowerText(Cast("payload", TextField()))
    ).filter(Q(_seably_body__contains=fragment) | Q(_seably_payload__contains=fragment))
    erased: set[int] = set()
    for ids in _matching_ids(events, ("pk", "body"), batch_size, lambda event: body_mentions(event.body, pattern)):
        erased.update(ids)
        erasure.events += len(ids) if dry_run else _erase_events(ids)
        if progress:
            progress(f"Events up to id {ids[-1]}: {erasure.events} {'to erase' if dry_run else 'erased'} so far.")
    certificates = _certificates_of(address, pattern, fragment, erasure, batch_size * 10)
    for start in range(0, len(certificates), batch_size * 10):
        chunk = certificates[start : start + batch_size * 10]
        # The other events about these certificates (one sent before the learner's address
        # changed, say): seably_refresh_certificates would recreate a certificate from them.
        ids = sorted(set(_stored_events_about([seably_id for _pk, seably_id in chunk])) - erased)
        erasure.events += len(ids) if dry_run else _erase_events(ids)
        pks = [pk for pk, _seably_id in chunk]
        if dry_run:
            erasure.certificates += len(pks)
        else:
            # Only the certificates: a project model's rows deleted with them (CASCADE) are not counted here.
            erasure.certificates += Certificate.objects.filter(pk__in=pks).delete()[1].get(Certificate._meta.label, 0)
    return erasure


def _certificates_of(
    address: str, pattern: re.Pattern[str], fragment: str, erasure: Erasure, batch_size: int
) -> list[tuple[int, str]]:
    """Return the (pk, Seably id) of the learner's certificates; note in ``erasure`` others' that mention them."""
    key = email_key(address)
    by_email = Certificate.objects.alias(_seably_email_key=AsciiLower("learner_email")).filter(_seably_email_key=key)
    found = {
        pk: seably_id
        for pk, seably_id, email in by_email.values_list("pk", "seably_id", "learner_email")
        if email_key(email) == key
    }
    mentioning = Certificate.objects.alias(_seably_data=AsciiLowerText(Cast("data", TextField()))).filter(
        _seably_data__contains=fragment
    )
    fields = ("pk", "seably_id", "data", "learner_email")
    for batch in batches(mentioning.only(*fields), batch_size=batch_size, last_id=_last_id(Certificate)):
        for certificate in batch:
            if certificate.pk in found or not mentions(certificate.data, pattern):
                continue
            if certificate.learner_email:  # another learner's, whose data mentions this one
                erasure.kept_certificates.append(certificate.pk)
            else:  # the mapping found no email: the address in its data is the learner's
                found[certificate.pk] = certificate.seably_id
    return sorted(found.items())


def _stored_events_about(seably_ids: list[str]) -> list[int]:
    """Return the ids of the certificate events about ``seably_ids`` that still hold contents (object_id index)."""
    about = Q(event_type__startswith="certificate.") | Q(object_type="certificate")
    rows = WebhookEvent.objects.filter(about, object_id__in=seably_ids).exclude(body="", payload__isnull=True)
    return list(rows.order_by().values_list("pk", flat=True))


def _matching_ids(
    rows: models.QuerySet[Any], fields: tuple[str, ...], batch_size: int, matches: Callable[[Any], bool]
) -> Iterator[list[int]]:
    """Yield the ids of the rows of ``rows`` that ``matches``, a batch at a time, walking by primary key."""
    for batch in batches(rows.only(*fields), batch_size=batch_size, last_id=_last_id(rows.model)):
        ids = [row.pk for row in batch if matches(row)]
        if ids:
            yield ids


def _last_id(model: type[models.Model]) -> int | None:
    """The table's newest id, from its primary key index: not a scan of the rows a text search filters."""
    last: int | None = model._default_manager.aggregate(last=Max("pk"))["last"]
    return last


def _erase_events(ids: list[int]) -> int:
    """Empty the events ``ids`` into tombstones; one UPDATE. Return how many were erased."""
    # Decided in the UPDATE itself: an event processed meanwhile stays processed.
    unprocessable = [Status.PENDING, Status.FAILED]
    return WebhookEvent.objects.filter(pk__in=ids).update(
        body="",
        raw_body=None,
        payload=None,
        headers={},
        status=Case(When(status__in=unprocessable, then=Value(Status.INVALID)), default=F("status")),
        last_error=Case(When(~Q(status=Status.PROCESSED), then=Value(ERASED_NOTE)), default=Value("")),
    )
