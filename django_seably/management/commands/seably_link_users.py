"""``seably_link_users``: link the certificates that have no user to the user with the learner's email.

Processing links new certificates when ``SEABLY["LINK_USERS"]`` is on; this
command catches up on the certificates stored before (or before the user signed
up). Matching is the same as at processing time: case-insensitive, and an address
that several users share links none of them. Work goes in batches by primary key,
a few short queries per batch, so the command can be stopped and run again at any
time; a certificate that already has a user is never changed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_seably.conf import seably_settings
from django_seably.models import Certificate

#: Certificates read per batch: bounded memory and short statements on big tables.
BATCH_SIZE = 1000


class Command(BaseCommand):
    help = (
        "Link certificates without a user to the project's user whose email matches the learner's "
        "(case-insensitive; an address several users share links none), in batches."
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
        unlinked = Certificate.objects.filter(user__isnull=True).exclude(learner_email="")
        seen = linked = 0
        after: Any = None
        while True:
            batch = unlinked.order_by("pk")
            if after is not None:
                batch = batch.filter(pk__gt=after)
            pks = list(batch.values_list("pk", flat=True)[:batch_size])
            if not pks:
                break
            linked += Certificate.objects.filter(pk__in=pks).link_users()
            seen += len(pks)
            after = pks[-1]
        self.stdout.write(
            f"Linked {linked} of {seen} certificate{'' if seen == 1 else 's'} without a user; "
            f"{seen - linked} left unlinked (no user, or several users, with the learner's email)."
        )
        if not seably_settings.LINK_USERS:
            self.stdout.write(
                'SEABLY["LINK_USERS"] is off: new certificates are not linked, and the API\'s '
                '"my certificates" list answers 404.'
            )
