"""``seably_refresh_certificates``: extract every certificate's columns again, after CERTIFICATE_FIELDS changed.

Each certificate keeps Seably's whole object in ``data``, so nothing is lost when
the mapping was wrong: this command reads ``data`` again with the current
mapping (``django_seably.certificates.extract_fields``, as processing does) and
writes the columns that differ. It walks the table by primary key, one batch
per transaction, so memory stays flat and it can be stopped and run again at
any time. It sends no signal: a certificate is not new because its columns are.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router, transaction
from django.db.models import Max
from django.utils import timezone

from django_seably.certificates import extract_fields
from django_seably.conf import DEFAULT_CERTIFICATE_FIELDS, seably_settings
from django_seably.models import Certificate

#: Certificates read and written per transaction.
BATCH_SIZE = 1000

#: The columns extracted from ``data``.
COLUMNS = list(DEFAULT_CERTIFICATE_FIELDS)


class Command(BaseCommand):
    help = (
        "Extract every certificate's searchable columns again from its stored data with the current "
        'SEABLY["CERTIFICATE_FIELDS"], in batches; writes only the rows that change and sends no signal.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Certificates per batch (default {BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        total = Certificate.objects.count()
        # Certificates stored after this one are extracted with the current mapping already.
        last_id = Certificate.objects.aggregate(last=Max("pk"))["last"]
        if last_id is None:
            self.stdout.write("No certificates to refresh.")
            return
        refreshed = changed = 0
        after = 0
        for _batch in range(last_id // batch_size + 2):  # bounded: each batch moves past the ids it read
            count, updated, after = _refresh_batch(after, last_id, batch_size)
            if not count:
                break
            refreshed += count
            changed += updated
            self.stdout.write(f"Refreshed {refreshed:,} of {total:,} certificates ({changed:,} changed).")
        self.stdout.write(
            f"Done: {refreshed:,} certificate{_s(refreshed)} refreshed, {changed:,} changed, "
            f"{refreshed - changed:,} already up to date."
        )
        if changed and seably_settings.LINK_USERS:
            # Linking is its own command: it links only certificates without a user, in batches of its own.
            self.stdout.write("LINK_USERS is on: run seably_link_users to link the certificates whose emails changed.")


def _refresh_batch(after: int, last_id: int, batch_size: int) -> tuple[int, int, int]:
    """Refresh the certificates after id ``after``; return how many were read and changed, and the last id."""
    rows = Certificate.objects.filter(pk__gt=after, pk__lte=last_id).order_by("pk")
    with transaction.atomic(using=router.db_for_write(Certificate)):
        # Locked until the commit (PostgreSQL), so a delivery updating one of these
        # certificates meanwhile is not overwritten with columns of its older data.
        batch = list(rows.select_for_update().only("pk", "data", *COLUMNS)[:batch_size])
        if not batch:
            return 0, 0, after
        now = timezone.now()
        changed = []
        for certificate in batch:
            values = extract_fields(certificate.data if isinstance(certificate.data, dict) else {})
            if any(getattr(certificate, column) != value for column, value in values.items()):
                for column, value in values.items():
                    setattr(certificate, column, value)
                certificate.updated_at = now
                changed.append(certificate)
        if changed:
            Certificate.objects.bulk_update(changed, [*COLUMNS, "updated_at"])
    return len(batch), len(changed), batch[-1].pk


def _s(count: int) -> str:
    return "" if count == 1 else "s"
