"""What the receivers in other processes leave for the test to count."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class SignalRecord(models.Model):
    """One signal a receiver got, written inside the processing transaction: it exists only if that committed."""

    signal = models.CharField(max_length=32)
    event_id = models.BigIntegerField()
    seably_id = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    # Declared: this app is only in the worker processes' settings, so django-stubs adds no manager.
    objects: ClassVar[models.Manager[SignalRecord]] = models.Manager()

    class Meta:
        app_label = "workerapp"


class Memo(models.Model):
    """A fact a receiver must remember although its transaction rolls back: written on its own connection."""

    key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[models.Manager[Memo]] = models.Manager()

    class Meta:
        app_label = "workerapp"
