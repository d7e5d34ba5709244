"""``seably_forget --email ADDRESS [--dry-run]``: erase a learner, keeping deduplication whole.

The rules (which events and certificates are the learner's, what a tombstone
keeps) are in ``django_seably.erasure``. This command prints what it erased and
logs who ran it and how many rows, never the address: a log line about an
erasure must not hold what was erased.
"""

from __future__ import annotations

import getpass
import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import ProtectedError, RestrictedError
from django.utils.translation import ngettext

from django_seably.batching import Progress
from django_seably.erasure import BATCH_SIZE, InvalidAddress, clean_address, forget

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Erase a learner: delete their certificates and remove their personal data (body, payload, headers) "
        "from every stored event that mentions their email address. The event rows stay as tombstones, so "
        "Seably sending the same body again is still a duplicate. The address matches ignoring the case of "
        "ASCII letters."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, metavar="ADDRESS", help="The learner's email address.")
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be erased; change nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Events read per batch (default {BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        try:
            address = clean_address(options["email"])
        except InvalidAddress as error:
            raise CommandError(f"--email: {error}") from error
        progress = Progress.of(self, options)
        try:
            erasure = forget(address, dry_run=dry_run, batch_size=batch_size, progress=progress.step)
        except (ProtectedError, RestrictedError) as error:
            # A model of the project points to a certificate and forbids deleting it.
            # The events are erased already; the certificates stay until that is resolved.
            logger.error("seably_forget, run by OS user %s: %s", _os_user(), error.args[0])
            raise CommandError(
                f"The events were erased, but certificates could not be deleted: {error.args[0]} "
                "Delete or unlink the rows that protect them, then run seably_forget again."
            ) from error
        deleted = ngettext("%(count)s certificate", "%(count)s certificates", erasure.certificates) % {
            "count": erasure.certificates
        }
        erased = ngettext("%(count)s event", "%(count)s events", erasure.events) % {"count": erasure.events}
        kept = erasure.kept_certificates
        others = ngettext("%(count)s certificate", "%(count)s certificates", len(kept)) % {"count": len(kept)}
        logger.info(
            "seably_forget (management command) run by OS user %s%s: %s deleted, %s erased, "
            "%s of other learners mentioning the address kept.",
            _os_user(),
            " as a dry run (nothing changed)" if dry_run else "",
            deleted,
            erased,
            others,
        )
        if not erasure.certificates and not erasure.events:
            progress.summary("Nothing stored mentions this address: nothing to erase.")
        elif dry_run:
            progress.summary(f"Would delete {deleted} and erase {erased} (dry run: nothing changed).")
        else:
            progress.summary(
                f"Deleted {deleted} and erased the personal data of {erased}; the event rows stay, so Seably "
                "resending one is still a duplicate."
            )
        if kept:
            shown = ", ".join(str(pk) for pk in kept[:20]) + (", ..." if len(kept) > 20 else "")
            progress.summary(
                f"Kept {others} of other learners whose data mentions the address (ids {shown}): review them."
            )


def _os_user() -> str:
    """Return the name of the OS user running the command, or "unknown" when the system has none for it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a container's arbitrary uid)
        return "unknown"
