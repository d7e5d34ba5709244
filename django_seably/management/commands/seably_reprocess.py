from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, QuerySet
from django.utils import timezone

from django_seably.models import WebhookEvent
from django_seably.processing import process_event

Status = WebhookEvent.Status

#: Events loaded per query: memory stays flat however many events there are.
BATCH_SIZE = 500


class Command(BaseCommand):
    help = "Process stored events again: failed, pending (e.g. whose task never ran), invalid, or by id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--failed", action="store_true", help="Events whose processing failed.")
        parser.add_argument("--pending", action="store_true", help="Events not processed yet.")
        parser.add_argument("--invalid", action="store_true", help="Invalid bodies, parsed again.")
        parser.add_argument(
            "--id",
            type=int,
            nargs="+",
            default=[],
            metavar="N",
            dest="ids",
            help="Events by id.",
        )
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="MINUTES",
            help="Only events received at least this many minutes ago (leaves work a worker may be doing).",
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            metavar="N",
            help="With --failed: only failed events tried fewer than N times (retries from cron end).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = [status for status in Status.values if options.get(status)]
        ids: list[int] = options["ids"]
        max_attempts: int | None = options["max_attempts"]
        if max_attempts is not None and not options["failed"]:
            raise CommandError("--max-attempts limits --failed: use them together.")
        if max_attempts is not None and max_attempts < 1:
            raise CommandError("--max-attempts must be 1 or more.")
        if not statuses and not ids:
            raise CommandError("Say which events to reprocess: --failed, --pending, --invalid and/or --id N ...")
        if ids:
            missing = sorted(set(ids) - set(WebhookEvent.objects.filter(pk__in=ids).values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"No event with id {', '.join(map(str, missing))}.")
        selected = Q(status__in=statuses)
        if max_attempts is not None:
            # Every attempt counts in attempts, so each failed event is retried at most N times in all.
            selected = Q(status__in=[s for s in statuses if s != Status.FAILED]) | Q(
                status=Status.FAILED, attempts__lt=max_attempts
            )
        events = WebhookEvent.objects.filter(selected | Q(pk__in=ids))
        if options["older_than"] is not None:
            if options["older_than"] < 0:
                raise CommandError("--older-than must be 0 or more minutes.")
            cutoff = timezone.now() - datetime.timedelta(minutes=options["older_than"])
            events = events.filter(received_at__lte=cutoff)
        # Each event in a transaction of its own (process_event): one event's on_commit
        # callbacks never wait for, or depend on, another's.
        outcomes: Counter[str] = Counter(process_event(event) for event in _in_batches(events))
        total = sum(outcomes.values())
        summary = ", ".join(f"{outcomes[name]} {name}" for name in ("processed", "failed", "invalid", "skipped"))
        self.stdout.write(f"Reprocessed {total} event{'s' if total != 1 else ''}: {summary}.")


def _in_batches(events: QuerySet[WebhookEvent]) -> Any:
    """Yield events in id order, a batch per query, without holding a cursor open while processing."""
    last_id = 0
    while True:
        batch = list(events.filter(pk__gt=last_id).order_by("pk")[:BATCH_SIZE])
        yield from batch
        if len(batch) < BATCH_SIZE:
            return
        last_id = batch[-1].pk
