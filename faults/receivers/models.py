from __future__ import annotations

from django.db import models


class SignalRecord(models.Model):
    """One signal a receiver got, written inside the processing transaction: it exists only if that committed.

    No unique constraint on purpose: a signal fired twice must show up as two rows.
    """

    kind = models.CharField(max_length=32)
    object_id = models.CharField(max_length=255, blank=True)
    event_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    # Declared, so that type checkers that read only tests.settings (where this app is not installed) know it.
    objects: models.Manager[SignalRecord] = models.Manager()

    class Meta:
        app_label = "faults_receivers"

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} (event {self.event_id})"
