"""``seably_status``: what is waiting and what arrived, with exit codes for cron and monitoring."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from django_seably.batching import Progress
from django_seably.durations import SYNTAX, duration_argument
from django_seably.status import EndpointActivity, WaitingEvent, current_status, format_age

#: The exit code when nothing could be checked (a bad option, the database unreachable), apart from
#: 1 (a threshold crossed), so monitoring can tell them apart.
CANNOT_CHECK = 2


class Command(BaseCommand):
    help = (
        "Print events by status, the oldest pending and failed events and the last delivery per endpoint. "
        "Durations take their unit: 30s, 10m, 2h, 90d. "
        "Exit 1 when a threshold given is crossed (for cron and monitoring), 0 otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-pending-age",
            type=duration_argument,
            metavar="DURATION",
            help=f"Exit 1 if the oldest pending event was received longer ago than this: {SYNTAX}.",
        )
        parser.add_argument(
            "--max-failed",
            type=int,
            metavar="N",
            help="Exit 1 if more than N events are failed (0: any failed event).",
        )
        parser.add_argument(
            "--max-silence",
            type=duration_argument,
            metavar="DURATION",
            help="Exit 1 if an active endpoint has received nothing for longer than this "
            f"(one that never received anything counts from its creation): {SYNTAX}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        max_pending_age: datetime.timedelta | None = options["max_pending_age"]
        max_failed: int | None = options["max_failed"]
        max_silence: datetime.timedelta | None = options["max_silence"]
        if max_failed is not None and max_failed < 0:
            raise CommandError("--max-failed must be 0 or more.", returncode=CANNOT_CHECK)
        try:
            status = current_status()
        except DatabaseError as error:
            raise CommandError(f"The events cannot be read: {error}".strip(), returncode=CANNOT_CHECK) from error
        # -v 0 for cron: nothing on stdout; a crossed threshold is still said on stderr.
        report = Progress.of(self, options)
        counts = ", ".join(f"{name} {count:,}" for name, count in status.counts.items())
        report.summary(f"Events by status: {counts}.")
        report.summary(f"Oldest pending: {_waiting(status.oldest_pending)}.")
        report.summary(f"Oldest failed: {_waiting(status.oldest_failed)}.")
        if not status.endpoints:
            report.summary("Endpoints: none (create one with seably_endpoint create NAME).")
        else:
            report.summary("Last delivery per endpoint:")
            width = max(len(endpoint.name) for endpoint in status.endpoints)
            for endpoint in status.endpoints:
                state = "active" if endpoint.is_active else "inactive"
                last = _last_delivery(endpoint, status.checked_at)
                report.summary(f"  {endpoint.name:<{width}}  {endpoint.masked_token:<5}  {state:<8}  {last}")
        problems = status.problems(max_pending_age=max_pending_age, max_failed=max_failed, max_silence=max_silence)
        if problems:
            raise CommandError(" ".join(problems), returncode=1)
        if max_pending_age is not None or max_failed is not None or max_silence is not None:
            report.summary("OK: no threshold crossed.")


def _last_delivery(endpoint: EndpointActivity, now: datetime.datetime) -> str:
    if endpoint.last_received_at is None:
        return f"no delivery yet (created {format_age(endpoint.silence)} ago)"
    return _when(endpoint.last_received_at, now)


def _waiting(event: WaitingEvent | None) -> str:
    if event is None:
        return "none"
    return f"#{event.id}, received {_when(event.received_at, event.received_at + event.age)}"


def _when(moment: datetime.datetime, now: datetime.datetime) -> str:
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return f"{local:%Y-%m-%d %H:%M %Z}".rstrip() + f" ({format_age(max(now - moment, datetime.timedelta()))} ago)"
