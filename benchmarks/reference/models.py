"""The reference receiver's tables: what the contract needs kept, with only the indexes the contract needs.

The views write them with plain SQL; these models exist to create the tables
(a migration, on every database) and to count rows after a round.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class ReferenceEndpoint(models.Model):
    token = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)

    # Declared: this app is only in the benchmark's settings, so django-stubs adds no manager.
    objects: ClassVar[models.Manager[ReferenceEndpoint]] = models.Manager()


class ReferenceEvent(models.Model):
    """A delivery, deduplicated by the fingerprint of its parsed JSON, with a durable delivery count."""

    # A foreign key, but no index of its own: the contract looks events up by fingerprint only.
    endpoint = models.ForeignKey(ReferenceEndpoint, on_delete=models.PROTECT, db_index=False)
    event_type = models.CharField(max_length=255)
    body = models.TextField()
    payload = models.JSONField()
    headers = models.JSONField()
    fingerprint = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16)
    delivery_count = models.PositiveIntegerField()
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True)

    objects: ClassVar[models.Manager[ReferenceEvent]] = models.Manager()


class ReferenceCertificate(models.Model):
    """A certificate with its searchable columns, upserted by its unique Seably id."""

    seably_id = models.CharField(max_length=255, unique=True)
    data = models.JSONField()
    event = models.ForeignKey(ReferenceEvent, on_delete=models.PROTECT, db_index=False)
    learner_email = models.CharField(max_length=254)
    learner_name = models.CharField(max_length=255)
    course_name = models.CharField(max_length=255)
    issued_at = models.DateTimeField(null=True)
    expires_on = models.DateField(null=True)
    url = models.CharField(max_length=500)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects: ClassVar[models.Manager[ReferenceCertificate]] = models.Manager()
