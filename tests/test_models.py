from __future__ import annotations

import base64
import datetime
import re
from typing import Any

import pytest
from django.db.models import ProtectedError
from django.urls import reverse

from django_seably.certificates import extract_fields
from django_seably.models import Certificate, Endpoint, WebhookEvent, generate_token
from django_seably.payloads import parse_body
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def new_event(seably_endpoint: Endpoint, body: bytes) -> WebhookEvent:
    """An unsaved event for ``body``, as the view builds it."""
    parsed = parse_body(body)
    return WebhookEvent(
        endpoint=seably_endpoint,
        event_type=parsed.event_type,
        object_type=parsed.object_type,
        object_id=parsed.object_id,
        body=parsed.text,
        raw_body=parsed.raw,
        payload=parsed.payload,
        fingerprint=parsed.fingerprint,
        status=WebhookEvent.Status.PENDING if parsed.is_valid else WebhookEvent.Status.INVALID,
        last_error=parsed.error,
    )


def new_certificate(event: WebhookEvent | None, seably_id: str = "SB-00000042", **data: Any) -> Certificate:
    data = {"type": "certificate", "id": seably_id, **data}
    return Certificate(seably_id=seably_id, data=data, event=event, **extract_fields(data))


def token_bytes(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


class TestEndpointToken:
    def test_token_generated_on_save(self):
        endpoint = Endpoint(name="production")
        assert endpoint.token == ""

        endpoint.save()

        assert URL_SAFE.fullmatch(endpoint.token)
        assert len(endpoint.token) >= 43
        assert len(token_bytes(endpoint.token)) >= 32
        assert Endpoint.objects.get().token == endpoint.token

    def test_token_generated_by_create(self):
        endpoint = Endpoint.objects.create(name="production")

        assert len(token_bytes(endpoint.token)) >= 32

    def test_tokens_are_unique(self):
        tokens = {EndpointFactory.create().token for _ in range(50)}

        assert len(tokens) == 50

    def test_generate_token_is_random_and_url_safe(self):
        tokens = {generate_token() for _ in range(100)}

        assert len(tokens) == 100
        assert all(URL_SAFE.fullmatch(token) and len(token_bytes(token)) >= 32 for token in tokens)

    def test_token_not_regenerated_on_later_saves(self):
        endpoint = EndpointFactory.create(name="production")
        token = endpoint.token

        endpoint.name = "renamed"
        endpoint.is_active = False
        endpoint.save()
        endpoint.refresh_from_db()
        endpoint.save()

        assert Endpoint.objects.get().token == token
        assert endpoint.token == token

    def test_given_token_is_kept(self):
        endpoint = Endpoint.objects.create(name="production", token="t" * 43)

        assert Endpoint.objects.get(pk=endpoint.pk).token == "t" * 43

    def test_token_is_not_editable(self):
        assert Endpoint._meta.get_field("token").editable is False


class TestEndpoint:
    def test_masked_token(self):
        endpoint = EndpointFactory.create()

        assert endpoint.masked_token == endpoint.token[:4] + "…"
        assert endpoint.token not in endpoint.masked_token

    def test_webhook_path(self):
        endpoint = EndpointFactory.create()

        assert endpoint.webhook_path == reverse("django_seably:webhook", kwargs={"token": endpoint.token})
        assert endpoint.webhook_path == f"/seably/{endpoint.token}/"

    def test_str_is_the_name(self):
        assert str(EndpointFactory.create(name="production")) == "production"

    def test_defaults(self):
        endpoint = Endpoint.objects.create(name="production")

        assert endpoint.is_active is True
        assert endpoint.created_at is not None

    def test_deleting_an_endpoint_with_events_is_refused(self):
        event = WebhookEventFactory.create()

        with pytest.raises(ProtectedError):
            event.endpoint.delete()

        assert Endpoint.objects.filter(pk=event.endpoint.pk).exists()
        assert WebhookEvent.objects.filter(pk=event.pk).exists()

    def test_deleting_an_endpoint_without_events_is_allowed(self):
        endpoint = EndpointFactory.create()

        endpoint.delete()

        assert not Endpoint.objects.exists()


class TestStr:
    def test_event_str(self):
        event = WebhookEventFactory.create()

        assert str(event) == f"certificate.created #{event.pk}"

    def test_invalid_event_str(self):
        event = WebhookEventFactory.create(
            event_type="", payload=None, body="{oops", fingerprint="f" * 64, object_type=None, object_id=None
        )

        assert str(event) == f"invalid body #{event.pk}"

    def test_certificate_str(self):
        assert str(CertificateFactory.create(seably_id="SB-00000042")) == "SB-00000042"


class TestDeletingEvents:
    def test_deleting_an_event_keeps_its_certificate(self):
        certificate = CertificateFactory.create()
        event = certificate.event
        assert event is not None

        event.delete()

        certificate.refresh_from_db()
        assert certificate.event is None
        assert not WebhookEvent.objects.exists()


class TestStore:
    def test_inserts_then_counts(self, seably_endpoint):
        body = b'{"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": "SB-1"}}}'
        first = new_event(seably_endpoint, body)

        assert WebhookEvent.objects.store(first) is True

        assert first.pk is not None
        assert first.delivery_count == 1
        stored = WebhookEvent.objects.get()
        assert (stored.pk, stored.delivery_count, stored.body) == (first.pk, 1, body.decode())

        again = new_event(
            seably_endpoint,
            b'{"payload": {"data": {"id": "SB-1", "type": "certificate"}}, "event": "certificate.created"}',
        )

        assert WebhookEvent.objects.store(again) is False

        assert again.pk == first.pk
        assert again.delivery_count == 2
        stored = WebhookEvent.objects.get()
        assert (stored.pk, stored.delivery_count) == (first.pk, 2)
        # The first delivery's body is the one kept.
        assert stored.body == body.decode()

    def test_third_delivery_counts_three(self, seably_endpoint):
        body = b'{"event": "x.y"}'
        for _ in range(3):
            event = new_event(seably_endpoint, body)
            WebhookEvent.objects.store(event)

        assert event.delivery_count == 3
        assert WebhookEvent.objects.get().delivery_count == 3

    def test_different_bodies_are_different_events(self, seably_endpoint):
        first = new_event(seably_endpoint, b'{"event": "x.y", "n": 1}')
        second = new_event(seably_endpoint, b'{"event": "x.y", "n": 2}')

        assert WebhookEvent.objects.store(first) is True
        assert WebhookEvent.objects.store(second) is True

        assert first.pk != second.pk
        assert WebhookEvent.objects.count() == 2

    def test_invalid_bodies_are_counted_too(self, seably_endpoint):
        first = new_event(seably_endpoint, b"{oops")
        again = new_event(seably_endpoint, b"{oops")

        assert WebhookEvent.objects.store(first) is True
        assert WebhookEvent.objects.store(again) is False

        stored = WebhookEvent.objects.get()
        assert (stored.status, stored.delivery_count, stored.payload) == (WebhookEvent.Status.INVALID, 2, None)


class TestCertificateUpsert:
    def test_inserts_then_updates(self):
        first_event = WebhookEventFactory.create(processed=True)
        second_event = WebhookEventFactory.create(processed=True)
        certificate = new_certificate(
            first_event, user={"email": "ingrid.solberg@example.com", "name": "Ingrid"}, valid_until="2028-11-02"
        )

        assert Certificate.objects.upsert(certificate) is True

        stored = Certificate.objects.get()
        assert certificate.pk == stored.pk
        assert (stored.event_id, stored.learner_email, stored.learner_name) == (
            first_event.pk,
            "ingrid.solberg@example.com",
            "Ingrid",
        )
        assert stored.expires_on == datetime.date(2028, 11, 2)
        created_at, updated_at = stored.created_at, stored.updated_at

        update = new_certificate(
            second_event,
            user={"email": "ingrid@example.com", "name": "Ingrid Solberg"},
            course={"name": "Enclosed Space Entry"},
        )

        assert Certificate.objects.upsert(update) is False

        stored = Certificate.objects.get()
        assert update.pk == stored.pk == certificate.pk
        assert stored.data == update.data
        assert (stored.learner_email, stored.learner_name, stored.course_name, stored.expires_on) == (
            "ingrid@example.com",
            "Ingrid Solberg",
            "Enclosed Space Entry",
            None,
        )
        assert stored.event_id == first_event.pk
        assert stored.created_at == created_at
        assert stored.updated_at >= updated_at

    def test_other_certificates_are_not_touched(self):
        event = WebhookEventFactory.create(processed=True)
        other = CertificateFactory.create(seably_id="SB-OTHER", learner_name="Other")

        assert Certificate.objects.upsert(new_certificate(event, "SB-1", learner_name="One")) is True
        assert Certificate.objects.upsert(new_certificate(event, "SB-2", learner_name="Two")) is True

        assert Certificate.objects.count() == 3
        other.refresh_from_db()
        assert other.learner_name == "Other"

    def test_update_after_the_creating_event_was_deleted(self):
        certificate = CertificateFactory.create(seably_id="SB-1")
        assert certificate.event is not None
        certificate.event.delete()
        event = WebhookEventFactory.create(processed=True)

        assert Certificate.objects.upsert(new_certificate(event, "SB-1", learner_name="Ingrid")) is False

        stored = Certificate.objects.get()
        assert (stored.event_id, stored.learner_name) == (None, "Ingrid")

    def test_insert_without_an_event_returns_true(self):
        assert Certificate.objects.upsert(new_certificate(None, "SB-1")) is True

        assert Certificate.objects.get().event is None

    def test_update_by_the_creating_event_returns_false(self):
        event = WebhookEventFactory.create(processed=True)
        assert Certificate.objects.upsert(new_certificate(event, "SB-1", learner_name="A")) is True

        assert Certificate.objects.upsert(new_certificate(event, "SB-1", learner_name="B")) is False


class TestCertificateRules:
    """Validity and search, written once (CertificateQuerySet) for the admin and the API."""

    @pytest.fixture
    def by_expiry(self):
        today = datetime.date(2026, 12, 3)
        return {
            "expired": CertificateFactory.create(seably_id="SB-OLD", expires_on=today - datetime.timedelta(days=1)),
            "today": CertificateFactory.create(seably_id="SB-TODAY", expires_on=today),
            "later": CertificateFactory.create(seably_id="SB-LATER", expires_on=today + datetime.timedelta(days=1)),
            "never": CertificateFactory.create(seably_id="SB-NEVER", expires_on=None),
        }

    @pytest.fixture(autouse=True)
    def _today(self, monkeypatch):
        monkeypatch.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: datetime.date(2026, 12, 3))

    def ids(self, queryset):
        return sorted(queryset.values_list("seably_id", flat=True))

    def test_valid_through_the_expiry_date(self, by_expiry):
        assert self.ids(Certificate.objects.valid()) == ["SB-LATER", "SB-NEVER", "SB-TODAY"]

    def test_expired_before_today(self, by_expiry):
        assert self.ids(Certificate.objects.expired()) == ["SB-OLD"]

    def test_no_expiry(self, by_expiry):
        assert self.ids(Certificate.objects.no_expiry()) == ["SB-NEVER"]

    def test_search_by_email_is_whole_and_case_insensitive(self):
        CertificateFactory.create(seably_id="SB-1", learner_email="Ingrid@Example.com")
        CertificateFactory.create(seably_id="SB-2", learner_email="ingrid@example.com.evil")

        assert self.ids(Certificate.objects.search(" ingrid@example.com ")) == ["SB-1"]

    def test_search_by_id_is_exact_and_wins_over_names(self):
        CertificateFactory.create(seably_id="SB-1", learner_name="Ada")
        CertificateFactory.create(seably_id="SB-2", learner_name="Has SB-1 in the name")

        assert self.ids(Certificate.objects.search("SB-1")) == ["SB-1"]

    def test_search_by_part_of_a_learner_or_course_name(self):
        CertificateFactory.create(seably_id="SB-1", learner_name="Ingrid Solberg", course_name="Basic Safety")
        CertificateFactory.create(seably_id="SB-2", learner_name="Ada", course_name="Advanced Firefighting")
        CertificateFactory.create(seably_id="SB-3", learner_name="Grace", course_name="Medical Care")

        assert self.ids(Certificate.objects.search("solberg")) == ["SB-1"]
        assert self.ids(Certificate.objects.search("FIRE")) == ["SB-2"]

    def test_an_empty_search_is_everything_and_a_nul_is_nothing(self):
        CertificateFactory.create(seably_id="SB-1")

        assert self.ids(Certificate.objects.search("  ")) == ["SB-1"]
        assert self.ids(Certificate.objects.search("a\x00b")) == []
