from __future__ import annotations

import json

from factory.declarations import LazyAttribute, Sequence, SubFactory, Trait
from factory.django import DjangoModelFactory

from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.payloads import fingerprint

# The package's own builder of bodies (the one the integrator's tests use), for every test here.
from django_seably.testing import certificate_body as certificate_body


class EndpointFactory(DjangoModelFactory[Endpoint]):
    class Meta:
        model = Endpoint

    name = Sequence(lambda n: f"endpoint-{n}")


class WebhookEventFactory(DjangoModelFactory[WebhookEvent]):
    class Meta:
        model = WebhookEvent

    class Params:
        failed = Trait(status="failed", attempts=1, last_error="Traceback: boom")
        processed = Trait(status="processed", attempts=1)

    endpoint = SubFactory(EndpointFactory)
    payload = Sequence(lambda n: certificate_body(f"SB-F{n:08d}"))
    body = LazyAttribute(lambda o: json.dumps(o.payload))
    fingerprint = LazyAttribute(lambda o: fingerprint(o.payload))
    event_type = LazyAttribute(lambda o: o.payload["event"])
    object_type = LazyAttribute(lambda o: o.payload["payload"]["data"]["type"])
    object_id = LazyAttribute(lambda o: o.payload["payload"]["data"]["id"])
    status = "pending"


class CertificateFactory(DjangoModelFactory[Certificate]):
    class Meta:
        model = Certificate

    seably_id = Sequence(lambda n: f"SB-C{n:08d}")
    data = LazyAttribute(lambda o: {"type": "certificate", "id": o.seably_id})
    event = SubFactory(WebhookEventFactory, processed=True)
