from __future__ import annotations

from typing import ClassVar

from django.db import models


class ReferenceEvent(models.Model):
    """One received body, parsed: what the plain reference view stores."""

    body = models.TextField()
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    # Declared: this app is only in the benchmark's settings, so django-stubs adds no manager.
    objects: ClassVar[models.Manager[ReferenceEvent]] = models.Manager()


class ReferenceDelivery(models.Model):
    """The same, deduplicated by a unique digest of the body: the cheapest correct duplicate detection."""

    body = models.TextField()
    payload = models.JSONField()
    fingerprint = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[models.Manager[ReferenceDelivery]] = models.Manager()
