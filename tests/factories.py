from __future__ import annotations

import json

import factory

from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.payloads import fingerprint


def certificate_body(seably_id: str = "SB-00000001", **data: object) -> dict[str, object]:
    return {"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": seably_id, **data}}}


class EndpointFactory(factory.django.DjangoModelFactory[Endpoint]):
    class Meta:
        model = Endpoint

    name = factory.Sequence(lambda n: f"endpoint-{n}")


class WebhookEventFactory(factory.django.DjangoModelFactory[WebhookEvent]):
    class Meta:
        model = WebhookEvent

    class Params:
        failed = factory.Trait(status="failed", attempts=1, last_error="Traceback: boom")
        processed = factory.Trait(status="processed", attempts=1)

    endpoint = factory.SubFactory(EndpointFactory)
    payload = factory.Sequence(lambda n: certificate_body(f"SB-F{n:08d}"))
    body = factory.LazyAttribute(lambda o: json.dumps(o.payload))
    fingerprint = factory.LazyAttribute(lambda o: fingerprint(o.payload))
    event_type = factory.LazyAttribute(lambda o: o.payload["event"])
    object_type = factory.LazyAttribute(lambda o: o.payload["payload"]["data"]["type"])
    object_id = factory.LazyAttribute(lambda o: o.payload["payload"]["data"]["id"])
    status = "pending"


class CertificateFactory(factory.django.DjangoModelFactory[Certificate]):
    class Meta:
        model = Certificate

    seably_id = factory.Sequence(lambda n: f"SB-C{n:08d}")
    data = factory.LazyAttribute(lambda o: {"type": "certificate", "id": o.seably_id})
    event = factory.SubFactory(WebhookEventFactory, processed=True)
