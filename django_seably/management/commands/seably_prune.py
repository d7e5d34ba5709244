"""``seably_prune --older-than DAYS``: delete what processed events received, keep what deduplication needs.

Seably documents no retry window and no delivery id, so any body it ever sent
could come again, and deduplication recognises it only by its fingerprint, the
unique column of the event row. Deleting the rows would let a late resend be
stored and processed again (``webhook_received`` would fire twice). So pruning
keeps each event row as a tombstone and deletes its contents: ``body``,
``raw_body``, ``payload`` and ``headers``, which are nearly all of its size and
all of the personal data it holds. What stays (fingerprint, type, Seably object
id, status, counts, dates) is a few hundred bytes with its index entries, keeps
the guarantee for every body ever received, and keeps each certificate's link to
the event that created it. This needs no schema change and adds nothing to the
cost of a delivery; a separate fingerprint table would do both.

Only ``processed`` events are pruned: pending ones are still to be processed,
failed ones wait for an operator, and invalid ones are all that is left of what
Seably sent. Certificates are never touched. Work goes in batches by primary
key, one short UPDATE (its own transaction) per batch, so no lock is held for
long and the command can be stopped and run again at any time.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max, QuerySet
from django.utils import timezone

from django_seably.models import WebhookEvent

Status = WebhookEvent.Status

#: Events emptied per UPDATE: short transactions, few round trips.
BATCH_SIZE = 1000


def prunable(cutoff: datetime.datetime) -> QuerySet[WebhookEvent]:
    """Processed events received before ``cutoff`` that still hold their contents.

    A pruned event is the only processed event without a payload (processing
    needs one), which makes running the command again cheap and idempotent.
    """
    return WebhookEvent.objects.filter(status=Status.PROCESSED, received_at__lt=cutoff, payload__isnull=False)


class Command(BaseCommand):
    help = (
        "Delete the body, payload and headers of processed events older than DAYS, in batches. "
        "The event rows stay (with their fingerprints), so a late resend from Seably is still a duplicate; "
        "certificates, and pending, failed and invalid events, are not touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            required=True,
            metavar="DAYS",
            help="Prune events received at least this many days ago.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Events per UPDATE (default {BATCH_SIZE}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be pruned.")

    def handle(self, *args: Any, **options: Any) -> None:
        days: int = options["older_than"]
        batch_size: int = options["batch_size"]
        if days < 0:
            raise CommandError("--older-than must be 0 or more days.")
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        cutoff = timezone.now() - datetime.timedelta(days=days)
        events = prunable(cutoff)
        # The last id to look at, found on the received_at index: the batches below
        # then walk the (status, id) index up to it and never scan newer events.
        last_id = events.aggregate(last=Max("pk"))["last"]
        if last_id is None:
            self.stdout.write(f"Nothing to prune: no processed event received before {cutoff:%Y-%m-%d %H:%M %Z}.")
            return
        events = events.filter(pk__lte=last_id)
        if options["dry_run"]:
            total = events.count()
            self.stdout.write(
                f"Would prune {total} processed event{_s(total)} received before {cutoff:%Y-%m-%d %H:%M %Z}."
            )
            return
        pruned = 0
        after = 0
        for _batch in range(last_id // batch_size + 2):  # bounded: ids only grow and each batch moves past them
            ids = list(events.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            # status is checked again in the UPDATE itself: only a processed event loses its contents.
            pruned += WebhookEvent.objects.filter(pk__in=ids, status=Status.PROCESSED).update(
                body="", raw_body=None, payload=None, headers={}
            )
            after = ids[-1]
            self.stdout.write(f"Pruned {pruned} event{_s(pruned)} so far (up to id {after} of {last_id}).")
        self.stdout.write(
            f"Pruned {pruned} processed event{_s(pruned)} received before {cutoff:%Y-%m-%d %H:%M %Z}: "
            "their body, payload and headers are deleted; their rows stay, so Seably resending one is "
            "still a duplicate."
        )


def _s(count: int) -> str:
    return "" if count == 1 else "s"
