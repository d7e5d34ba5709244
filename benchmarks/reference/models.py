from __future__ import annotations

from django.db import models


class ReferenceEvent(models.Model):
    """One received body, parsed: what the plain reference view stores."""

    body = models.TextField()
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)


class ReferenceDelivery(models.Model):
    """The same, deduplicated by a unique digest of the body: the cheapest correct duplicate detection."""

    body = models.TextField()
    payload = models.JSONField()
    fingerprint = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(auto_now_add=True)
