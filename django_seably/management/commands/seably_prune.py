"""``seably_prune --older-than DURATION``: delete what processed events received, keep what deduplication needs.

Any body Seably ever sent could come again, and only the event row's fingerprint
recognises it: so each row stays as a tombstone and loses its contents (body, raw
body, payload, headers: nearly all its size and all its personal data). Only
processed events are pruned. Why and how: docs/deploying.md, "Pruning".
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import ngettext

from django_seably.batching import Progress, id_batches
from django_seably.durations import SYNTAX, duration_argument
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
        "Delete the body, payload and headers of processed events older than a duration (e.g. 90d), in batches. "
        "The event rows stay (with their fingerprints), so a late resend from Seably is still a duplicate; "
        "certificates, and pending, failed and invalid events, are not touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=duration_argument,
            required=True,
            metavar="DURATION",
            help=f"Prune events received at least this long ago: {SYNTAX}.",
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
        older_than: datetime.timedelta = options["older_than"]
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        progress = Progress.of(self, options)
        cutoff = timezone.now() - older_than
        before = f"{cutoff:%Y-%m-%d %H:%M %Z}"
        events = prunable(cutoff)
        # The last id to look at, found on the received_at index: the batches below
        # then walk the (status, id) index up to it and never scan newer events.
        last_id = events.aggregate(last=Max("pk"))["last"]
        if last_id is None:
            progress.summary(f"Nothing to prune: no processed event received before {before}.")
            return
        if options["dry_run"]:
            total = events.filter(pk__lte=last_id).count()
            progress.summary(
                ngettext(
                    "Would prune %(count)s processed event received before %(before)s.",
                    "Would prune %(count)s processed events received before %(before)s.",
                    total,
                )
                % {"count": f"{total:,}", "before": before}
            )
            return
        pruned = 0
        for ids in id_batches(events, batch_size=batch_size, last_id=last_id):
            # status is checked again in the UPDATE itself: only a processed event loses its contents.
            pruned += WebhookEvent.objects.filter(pk__in=ids, status=Status.PROCESSED).update(
                body="", raw_body=None, payload=None, headers={}
            )
            progress.step(
                ngettext(
                    "Pruned %(count)s event so far (up to id %(id)s of %(last)s).",
                    "Pruned %(count)s events so far (up to id %(id)s of %(last)s).",
                    pruned,
                )
                % {"count": f"{pruned:,}", "id": ids[-1], "last": last_id}
            )
        progress.summary(
            ngettext(
                "Pruned %(count)s processed event received before %(before)s: its body, payload and headers "
                "are deleted; its row stays, so Seably resending it is still a duplicate.",
                "Pruned %(count)s processed events received before %(before)s: their body, payload and headers "
                "are deleted; their rows stay, so Seably resending one is still a duplicate.",
                pruned,
            )
            % {"count": f"{pruned:,}", "before": before}
        )
