"""What the API shows of events and certificates: never an endpoint's token, nor stored headers.

Fields are listed one by one (never ``"__all__"``), so a column added to a model
later stays private until someone decides to publish it. Left out on purpose:
``Endpoint.token`` (the endpoint's only secret: an event names its endpoint by
``name``), ``WebhookEvent.headers``, ``raw_body`` and ``fingerprint``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from django_seably.models import Certificate, WebhookEvent
from django_seably.processing import Outcome


class CertificateSerializer(serializers.ModelSerializer[Certificate]):
    """A certificate: its searchable columns, and in data the whole object Seably sent."""

    class Meta:
        model = Certificate
        fields = [
            "id",
            "seably_id",
            "learner_email",
            "learner_name",
            "course_name",
            "issued_at",
            "expires_on",
            "url",
            "user",
            "event",
            "data",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs: dict[str, dict[str, Any]] = {
            "user": {"help_text": 'The local user linked by email (SEABLY["LINK_USERS"]), or null.'},
            "event": {"help_text": "The event that created the certificate, or null once that event is deleted."},
        }


class WebhookEventSerializer(serializers.ModelSerializer[WebhookEvent]):
    """An event as the list shows it: what it is and where it stands, without its contents."""

    endpoint = serializers.CharField(source="endpoint.name", read_only=True, help_text="The endpoint's name.")

    class Meta:
        model = WebhookEvent
        fields = [
            "id",
            "endpoint",
            "event_type",
            "object_type",
            "object_id",
            "status",
            "delivery_count",
            "attempts",
            "received_at",
            "processed_at",
        ]
        read_only_fields = fields


class WebhookEventDetailSerializer(WebhookEventSerializer):
    """An event with its contents: the parsed payload, the text received and the last error."""

    class Meta(WebhookEventSerializer.Meta):
        fields = [*WebhookEventSerializer.Meta.fields, "payload", "body", "last_error"]
        read_only_fields = fields


class ReprocessResultSerializer(serializers.Serializer[dict[str, Any]]):
    """What reprocessing one event did, and the status the event has now."""

    id = serializers.IntegerField(help_text="The event's id.")
    outcome = serializers.ChoiceField(
        choices=Outcome.values,
        help_text="processed; failed (see the event's last_error); invalid (its body is still not valid); "
        "skipped (already processed: nothing to do).",
    )
    status = serializers.ChoiceField(choices=WebhookEvent.Status.choices, help_text="The event's status now.")
