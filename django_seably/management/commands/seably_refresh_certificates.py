"""``seably_refresh_certificates``: extract every certificate's columns again, and bring back deleted ones.

Each certificate keeps Seably's whole object in ``data``, so a wrong mapping
loses nothing: the columns are extracted again with the current one, in batches
(memory flat, stoppable at any time). A certificate row deleted by mistake is
created again from its newest processed ``certificate.created`` event, which is
still stored. No signal is sent: a certificate is not new because its row is.
See docs/commands.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import router, transaction
from django.db.models import Exists, Max, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import ngettext

from django_seably import linking
from django_seably.batching import Progress, batches, id_batches
from django_seably.certificates import extract_fields
from django_seably.conf import DEFAULT_CERTIFICATE_FIELDS, seably_settings
from django_seably.models import Certificate, WebhookEvent
from django_seably.payloads import object_data

#: Certificates read and written per transaction.
BATCH_SIZE = 1000

#: The columns extracted from ``data``.
COLUMNS = list(DEFAULT_CERTIFICATE_FIELDS)

CERTIFICATE_CREATED = "certificate.created"


def restorable_events() -> QuerySet[WebhookEvent]:
    """Processed ``certificate.created`` events that still hold their payload (pruned ones do not)."""
    return WebhookEvent.objects.filter(
        event_type=CERTIFICATE_CREATED,
        status=WebhookEvent.Status.PROCESSED,
        object_id__isnull=False,
        payload__isnull=False,
    )


def events_of_missing_certificates() -> QuerySet[WebhookEvent]:
    """Restorable events whose certificate row is missing (deleted by mistake)."""
    return restorable_events().filter(~Exists(Certificate.objects.filter(seably_id=OuterRef("object_id"))))


class Command(BaseCommand):
    help = (
        "Extract every certificate's searchable columns again from its stored data with the current "
        'SEABLY["CERTIFICATE_FIELDS"], in batches, writing only the rows that change; and create again a '
        "certificate whose row is missing from its newest processed certificate.created event. Sends no signal."
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
        progress = Progress.of(self, options)
        refreshed, changed = self.refresh(batch_size, progress)
        recreated = self.recreate(batch_size, progress)
        if not refreshed and not recreated:
            progress.summary("No certificates to refresh.")
            return
        if refreshed:
            progress.summary(
                ngettext(
                    "Done: %(count)s certificate refreshed, %(changed)s changed, %(same)s already up to date.",
                    "Done: %(count)s certificates refreshed, %(changed)s changed, %(same)s already up to date.",
                    refreshed,
                )
                % {"count": f"{refreshed:,}", "changed": f"{changed:,}", "same": f"{refreshed - changed:,}"}
            )
        if recreated:
            progress.summary(
                ngettext(
                    "Recreated %(count)s missing certificate from its newest stored certificate.created event.",
                    "Recreated %(count)s missing certificates from their newest stored certificate.created events.",
                    recreated,
                )
                % {"count": f"{recreated:,}"}
            )
        if changed and seably_settings.LINK_USERS:
            # Linking is its own command: it links only certificates without a user, in batches of its own.
            progress.summary("LINK_USERS is on: run seably_link_users to link the certificates whose emails changed.")

    def refresh(self, batch_size: int, progress: Progress) -> tuple[int, int]:
        """Extract the columns of the stored certificates again; return how many were read and changed."""
        # Certificates stored after the last one now are extracted with the current mapping already.
        last_id = Certificate.objects.aggregate(last=Max("pk"))["last"]
        if last_id is None:
            return 0, 0
        total = Certificate.objects.count()
        refreshed = changed = 0
        for ids in id_batches(Certificate.objects.all(), batch_size=batch_size, last_id=last_id):
            changed += _refresh_batch(ids)
            refreshed += len(ids)
            progress.step(
                ngettext(
                    "Refreshed %(count)s of %(total)s certificate (%(changed)s changed).",
                    "Refreshed %(count)s of %(total)s certificates (%(changed)s changed).",
                    total,
                )
                % {"count": f"{refreshed:,}", "total": f"{total:,}", "changed": f"{changed:,}"}
            )
        return refreshed, changed

    def recreate(self, batch_size: int, progress: Progress) -> int:
        """Create the missing certificates again from their newest stored events; return how many."""
        recreated = 0
        missing = events_of_missing_certificates().only("pk", "object_id")
        for batch in batches(missing, batch_size=batch_size):
            created = _recreate(sorted({event.object_id for event in batch if event.object_id}))
            for seably_id, event_id in created:
                progress.detail(f"Recreated certificate {seably_id} from event #{event_id}.")
            recreated += len(created)
            progress.step(
                ngettext(
                    "Recreated %(count)s missing certificate so far.",
                    "Recreated %(count)s missing certificates so far.",
                    recreated,
                )
                % {"count": f"{recreated:,}"}
            )
        return recreated


def _refresh_batch(ids: list[int]) -> int:
    """Extract the columns of the certificates ``ids`` again; return how many changed."""
    with transaction.atomic(using=router.db_for_write(Certificate)):
        # Locked until the commit (PostgreSQL), so a delivery updating one of these
        # certificates meanwhile is not overwritten with columns of its older data.
        rows = Certificate.objects.filter(pk__in=ids).order_by("pk").select_for_update()
        now = timezone.now()
        changed = []
        for certificate in rows.only("pk", "data", *COLUMNS):
            values = extract_fields(certificate.data if isinstance(certificate.data, dict) else {})
            if any(getattr(certificate, column) != value for column, value in values.items()):
                for column, value in values.items():
                    setattr(certificate, column, value)
                certificate.updated_at = now
                changed.append(certificate)
        if changed:
            Certificate.objects.bulk_update(changed, [*COLUMNS, "updated_at"])
    return len(changed)


def _recreate(seably_ids: list[str]) -> list[tuple[str, int]]:
    """Create the certificates ``seably_ids`` from their newest restorable events; return (id, event id) of each."""
    newest: dict[str, int] = {}
    rows = restorable_events().filter(object_id__in=seably_ids).order_by("object_id", "pk")
    for event_id, seably_id in rows.values_list("pk", "object_id"):
        if seably_id is not None:
            newest[seably_id] = event_id  # ascending ids: the newest comes last
    certificates = []
    for event in WebhookEvent.objects.filter(pk__in=newest.values()).only("pk", "object_id", "payload"):
        data = object_data(event.payload)
        if data is not None and event.object_id is not None:
            certificates.append(Certificate(seably_id=event.object_id, data=data, event=event, **extract_fields(data)))
    if not certificates:
        return []
    with transaction.atomic(using=router.db_for_write(Certificate)):
        # A certificate a delivery stored meanwhile is newer than this event: keep it.
        Certificate.objects.bulk_create(certificates, ignore_conflicts=True)
        created = Certificate.objects.filter(
            seably_id__in=[c.seably_id for c in certificates], event__in=[c.event_id for c in certificates]
        )
        if seably_settings.LINK_USERS:
            linking.link_unlinked(created)
        return sorted(created.values_list("seably_id", "event"))
