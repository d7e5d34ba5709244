"""``seably_reprocess``: process stored events again, each in a transaction of its own, a batch per query."""

from __future__ import annotations

import datetime
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import ngettext

from django_seably.batching import Progress, batches
from django_seably.durations import SYNTAX, duration_argument
from django_seably.models import WebhookEvent
from django_seably.processing import Outcome, process_event

Status = WebhookEvent.Status

#: Events loaded per query: memory stays flat however many events there are.
BATCH_SIZE = 500

#: Failed events named on stderr; the rest are counted.
FAILED_SHOWN = 10


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
            type=duration_argument,
            metavar="DURATION",
            help=f"Only events received at least this long ago, to leave work a worker may be doing: {SYNTAX}.",
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
        older_than: datetime.timedelta | None = options["older_than"]
        if older_than is not None:
            events = events.filter(received_at__lte=timezone.now() - older_than)
        progress = Progress.of(self, options)
        outcomes: Counter[str] = Counter()
        failed: list[int] = []
        for batch in batches(events, batch_size=BATCH_SIZE):
            for event in batch:
                # Each event in a transaction of its own (process_event): one event's on_commit
                # callbacks never wait for, or depend on, another's.
                outcome = process_event(event)
                outcomes[outcome] += 1
                if outcome == Outcome.FAILED:
                    failed.append(event.pk)
            done = sum(outcomes.values())
            progress.step(
                ngettext(
                    "Reprocessed %(count)s event so far (up to id %(id)s).",
                    "Reprocessed %(count)s events so far (up to id %(id)s).",
                    done,
                )
                % {"count": f"{done:,}", "id": batch[-1].pk}
            )
        total = sum(outcomes.values())
        summary = ", ".join(f"{outcomes[name]:,} {name}" for name in Outcome.values)
        progress.summary(
            ngettext("Reprocessed %(count)s event: %(summary)s.", "Reprocessed %(count)s events: %(summary)s.", total)
            % {"count": f"{total:,}", "summary": summary}
        )
        if failed:
            # An error at every verbosity: cron mails it.
            shown = ", ".join(f"#{pk}" for pk in failed[:FAILED_SHOWN]) + (
                ", ..." if len(failed) > FAILED_SHOWN else ""
            )
            progress.problem(
                ngettext(
                    "%(count)s event failed again (%(ids)s): see its last_error.",
                    "%(count)s events failed again (%(ids)s): see their last_error.",
                    len(failed),
                )
                % {"count": f"{len(failed):,}", "ids": shown}
            )
