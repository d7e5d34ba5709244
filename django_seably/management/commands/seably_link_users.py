"""``seably_link_users``: link the certificates that have no user to the user with the learner's email.

Processing links new certificates when ``SEABLY["LINK_USERS"]`` is on; this
command catches up on the certificates stored before (or before the user signed
up, or verified their address). Matching is the same as at processing time
(``django_seably.linking``): the same address ignoring ASCII case only, among
``SEABLY["LINKABLE_USERS"]``, and an address that several users share links
none of them. Work goes in batches by primary key, a few short queries per
batch, so the command can be stopped and run again at any time. A certificate
that already has a user is left alone, unless ``--recheck`` asks to check every
link again (once after upgrading from a version that matched emails with the
database's own case folding).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from django_seably import linking
from django_seably.batching import Progress, id_batches
from django_seably.conf import seably_settings
from django_seably.models import Certificate

#: Certificates read per batch: bounded memory and short statements on big tables.
BATCH_SIZE = 1000


class Command(BaseCommand):
    help = (
        "Link certificates without a user to the project's user whose email matches the learner's "
        "(ignoring ASCII case only; an address several users share links none), in batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Certificates per batch (default {BATCH_SIZE}).",
        )
        parser.add_argument(
            "--recheck",
            action="store_true",
            help="Also check linked certificates: unlink those whose user no longer matches "
            "(or link them to the user who does).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        recheck: bool = options["recheck"]
        certificates = Certificate.objects.all() if recheck else Certificate.objects.filter(user__isnull=True)
        if not recheck:
            certificates = certificates.exclude(learner_email="")
        progress = Progress.of(self, options)
        seen = changed = 0
        for pks in id_batches(certificates, batch_size=batch_size):
            in_batch = Certificate.objects.filter(pk__in=pks)
            changed += linking.relink_certificates(in_batch) if recheck else linking.link_unlinked(in_batch)
            seen += len(pks)
            progress.step(
                ngettext(
                    "Checked %(count)s certificate so far (up to id %(id)s), changed %(changed)s.",
                    "Checked %(count)s certificates so far (up to id %(id)s), changed %(changed)s.",
                    seen,
                )
                % {"count": f"{seen:,}", "id": pks[-1], "changed": f"{changed:,}"}
            )
        values = {"count": f"{seen:,}", "changed": f"{changed:,}", "left": f"{seen - changed:,}"}
        if recheck:
            progress.summary(
                ngettext(
                    "Checked %(count)s certificate; changed the user of %(changed)s.",
                    "Checked %(count)s certificates; changed the user of %(changed)s.",
                    seen,
                )
                % values
            )
        else:
            progress.summary(
                ngettext(
                    "Linked %(changed)s of %(count)s certificate without a user; %(left)s left unlinked "
                    "(no user, or several users, with the learner's email).",
                    "Linked %(changed)s of %(count)s certificates without a user; %(left)s left unlinked "
                    "(no user, or several users, with the learner's email).",
                    seen,
                )
                % values
            )
        if not seably_settings.LINK_USERS:
            progress.summary(
                'SEABLY["LINK_USERS"] is off: new certificates are not linked, and the API\'s '
                '"my certificates" list answers 404.'
            )
