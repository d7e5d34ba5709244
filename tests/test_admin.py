from __future__ import annotations

import csv
import datetime
import json
from typing import Any
from unittest import mock

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.messages import constants as message_levels
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from django_seably.admin.display import list_value
from django_seably.models import Certificate, Endpoint, WebhookEvent
from tests.conftest import load_payload
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status


def changelist(model: str) -> str:
    return reverse(f"admin:django_seably_{model}_changelist")


def change(model: str, pk: int) -> str:
    return reverse(f"admin:django_seably_{model}_change", args=[pk])


def add(model: str) -> str:
    return reverse(f"admin:django_seably_{model}_add")


def overview_url() -> str:
    return reverse("admin:django_seably_eventoverview_changelist")


def listed(response: Any) -> list[Any]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def shown_messages(response: Any) -> list[tuple[str, int]]:
    return [(message.message, message.level) for message in response.context["messages"]]


def offered_actions(response: Any) -> list[str]:
    form = response.context["action_form"]
    if form is None:
        return []
    return [name for name, _ in form.fields["action"].choices if name]


def staff_client(*permissions: str, username: str = "staff") -> Client:
    user = User.objects.create_user(username, is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="django_seably", codename=codename))
    client = Client()
    client.force_login(user)
    return client


def unprocessable_event(**kwargs: Any) -> WebhookEvent:
    """A failed certificate.created without payload.data: it fails again whenever processed."""
    payload = {"event": "certificate.created", "payload": {}, "n": WebhookEvent.objects.count()}
    return WebhookEventFactory.create(failed=True, payload=payload, object_type=None, object_id=None, **kwargs)


def invalid_event(**kwargs: Any) -> WebhookEvent:
    return WebhookEventFactory.create(
        status=Status.INVALID,
        payload=None,
        body="{oops",
        fingerprint="f" * 64,
        event_type="",
        object_type=None,
        object_id=None,
        last_error="Body is not valid JSON.",
        **kwargs,
    )


@pytest.fixture
def admin_user(db: None) -> User:
    """pytest-django's superuser, without hashing a password (admin_client logs in with force_login)."""
    return User.objects.create_superuser("admin", "admin@example.com", password=None)


@pytest.fixture
def events(seably_endpoint: Endpoint) -> dict[str, WebhookEvent]:
    other = EndpointFactory.create(name="staging")
    return {
        "processed": WebhookEventFactory.create(
            processed=True, endpoint=seably_endpoint, payload=certificate_body("SB-1")
        ),
        "failed": WebhookEventFactory.create(failed=True, endpoint=seably_endpoint, payload=certificate_body("SB-2")),
        "pending": WebhookEventFactory.create(
            endpoint=other,
            payload={"event": "user.invited", "payload": {"data": {"type": "user", "id": "U-1"}}},
            received_at=timezone.now() - datetime.timedelta(days=40),
        ),
        "invalid": invalid_event(endpoint=seably_endpoint),
    }


@pytest.fixture
def certificates() -> dict[str, Certificate]:
    today = timezone.localdate()
    return {
        "valid": CertificateFactory.create(
            seably_id="SB-00000042",
            learner_email="ingrid.solberg@example.com",
            learner_name="Ingrid Solberg",
            course_name="Enclosed Space Entry",
            expires_on=today + datetime.timedelta(days=365),
        ),
        "expired": CertificateFactory.create(
            seably_id="SB-00000043",
            learner_email="asa@example.se",
            learner_name="Åsa Lindqvist",
            course_name="Fire Safety",
            expires_on=today - datetime.timedelta(days=1),
        ),
        "no_expiry": CertificateFactory.create(
            seably_id="SB-00000044",
            learner_email="ola@example.no",
            learner_name="Ola Nordmann",
            course_name="Fire Safety",
            expires_on=None,
        ),
    }


class TestPagesRender:
    @pytest.mark.parametrize("model", ["endpoint", "webhookevent", "certificate"])
    def test_changelist_renders(self, admin_client, events, certificates, model):
        response = admin_client.get(changelist(model))

        model_class = {"endpoint": Endpoint, "webhookevent": WebhookEvent, "certificate": Certificate}[model]
        assert set(listed(response)) == set(model_class._default_manager.all())
        assert len(listed(response)) >= 2

    @pytest.mark.parametrize("model", ["endpoint", "webhookevent", "certificate"])
    def test_empty_changelist_renders(self, admin_client, model):
        assert listed(admin_client.get(changelist(model))) == []

    @pytest.mark.parametrize("kind", ["processed", "failed", "pending", "invalid"])
    def test_event_page_renders(self, admin_client, events, kind):
        event = events[kind]

        response = admin_client.get(change("webhookevent", event.pk))

        assert response.status_code == 200
        assert response.context["original"] == event

    def test_certificate_page_renders(self, admin_client, certificates):
        certificate = Certificate.objects.get(pk=certificates["valid"].pk)  # as stored: jsonb reorders keys

        response = admin_client.get(change("certificate", certificate.pk))

        assert response.status_code == 200
        assert escape(json.dumps(certificate.data, indent=2, ensure_ascii=False)) in response.content.decode()

    def test_certificate_page_formats_its_events_time(self, admin_client, settings):
        settings.TIME_ZONE = "Europe/Oslo"
        event = WebhookEventFactory.create(payload=certificate_body("SB-00000777"))
        WebhookEvent.objects.filter(pk=event.pk).update(
            received_at=datetime.datetime(2026, 12, 3, 7, 53, 30, 38668, tzinfo=datetime.UTC)
        )
        certificate = CertificateFactory.create(seably_id="SB-00000777", event=event)

        content = admin_client.get(change("certificate", certificate.pk)).content.decode()

        assert "Dec. 3, 2026, 8:53 a.m." in content  # the admin's DATETIME_FORMAT, in local time
        assert "2026-12-03 07:53:30" not in content

    def test_endpoint_page_renders(self, admin_client, seably_endpoint):
        assert admin_client.get(change("endpoint", seably_endpoint.pk)).status_code == 200

    def test_endpoint_add_page_renders(self, admin_client):
        assert admin_client.get(add("endpoint")).status_code == 200

    def test_admin_index_lists_the_models(self, admin_client):
        response = admin_client.get(reverse("admin:index"))

        assert response.status_code == 200
        for model in ("endpoint", "webhookevent", "certificate"):
            assert changelist(model) in response.content.decode()

    def test_every_filter_choice_renders(self, admin_client, events, certificates):
        for model in ("endpoint", "webhookevent", "certificate"):
            response = admin_client.get(changelist(model))
            cl = response.context["cl"]
            assert cl.filter_specs
            for spec in cl.filter_specs:
                for choice in spec.choices(cl):
                    page = admin_client.get(changelist(model) + choice["query_string"])
                    assert page.status_code == 200, (model, choice["display"])
                    assert "e=1" not in page.get("Location", "")


class TestEventFiltersAndSearch:
    @pytest.mark.parametrize("status", ["processed", "failed", "pending", "invalid"])
    def test_status_filter(self, admin_client, events, status):
        response = admin_client.get(changelist("webhookevent"), {"status__exact": status})

        assert listed(response) == [events[status]]

    def test_event_type_filter(self, admin_client, events):
        response = admin_client.get(changelist("webhookevent"), {"event_type": "user.invited"})

        assert listed(response) == [events["pending"]]

    def test_event_type_filter_offers_the_stored_types(self, admin_client, events):
        response = admin_client.get(changelist("webhookevent"))

        (spec,) = [
            spec
            for spec in response.context["cl"].filter_specs
            if getattr(spec, "parameter_name", None) == "event_type"
        ]
        assert [value for value, _ in spec.lookup_choices] == ["certificate.created", "user.invited"]

    def test_endpoint_filter(self, admin_client, events, seably_endpoint):
        response = admin_client.get(changelist("webhookevent"), {"endpoint__id__exact": seably_endpoint.pk})

        assert set(listed(response)) == {events["processed"], events["failed"], events["invalid"]}

    def test_received_at_filter(self, admin_client, events):
        since = str(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - datetime.timedelta(days=7))
        until = str(timezone.now() + datetime.timedelta(days=1))

        response = admin_client.get(changelist("webhookevent"), {"received_at__gte": since, "received_at__lt": until})

        assert set(listed(response)) == {events["processed"], events["failed"], events["invalid"]}

    @pytest.mark.parametrize(
        ("term", "expected"),
        [("SB-2", ["failed"]), ("U-1", ["pending"]), ("user.invited", ["pending"]), (" SB-1 ", ["processed"])],
    )
    def test_search(self, admin_client, events, term, expected):
        response = admin_client.get(changelist("webhookevent"), {"q": term})

        assert listed(response) == [events[kind] for kind in expected]

    def test_search_without_match(self, admin_client, events):
        assert listed(admin_client.get(changelist("webhookevent"), {"q": "SB-404"})) == []


class TestCertificateFiltersAndSearch:
    def test_course_filter(self, admin_client, certificates):
        response = admin_client.get(changelist("certificate"), {"course": "Fire Safety"})

        assert set(listed(response)) == {certificates["expired"], certificates["no_expiry"]}

    @pytest.mark.parametrize(
        ("validity", "expected"),
        [("valid", {"valid", "no_expiry"}), ("expired", {"expired"}), ("no_expiry", {"no_expiry"})],
    )
    def test_validity_filter(self, admin_client, certificates, validity, expected):
        response = admin_client.get(changelist("certificate"), {"validity": validity})

        assert set(listed(response)) == {certificates[kind] for kind in expected}

    @pytest.mark.parametrize(
        ("term", "expected"),
        [
            ("SB-00000043", {"expired"}),
            ("Ingrid.Solberg@Example.com", {"valid"}),
            ("solberg", {"valid"}),
            ("fire", {"expired", "no_expiry"}),
            ("nobody@example.com", set()),
        ],
    )
    def test_search(self, admin_client, certificates, term, expected):
        response = admin_client.get(changelist("certificate"), {"q": term})

        assert set(listed(response)) == {certificates[kind] for kind in expected}


class TestEndpointFiltersAndSearch:
    def test_active_filter(self, admin_client, seably_endpoint):
        inactive = EndpointFactory.create(name="old", is_active=False)

        assert listed(admin_client.get(changelist("endpoint"), {"is_active__exact": "0"})) == [inactive]
        assert listed(admin_client.get(changelist("endpoint"), {"is_active__exact": "1"})) == [seably_endpoint]

    def test_search_by_name(self, admin_client, seably_endpoint):
        EndpointFactory.create(name="staging")

        assert listed(admin_client.get(changelist("endpoint"), {"q": "tes"})) == [seably_endpoint]


class TestReadOnly:
    @pytest.mark.parametrize("model", ["webhookevent", "certificate"])
    def test_add_is_forbidden(self, admin_client, model):
        assert admin_client.get(add(model)).status_code == 403
        assert admin_client.post(add(model), {}).status_code == 403

    @pytest.mark.parametrize("model", ["webhookevent", "certificate"])
    def test_changelist_has_no_add_link(self, admin_client, model):
        response = admin_client.get(changelist(model))

        assert response.context["has_add_permission"] is False
        assert add(model) not in response.content.decode()

    def test_event_is_not_editable(self, admin_client, events):
        event = events["failed"]

        page = admin_client.get(change("webhookevent", event.pk))
        posted = admin_client.post(change("webhookevent", event.pk), {"status": "processed", "event_type": "x"})

        assert page.context["has_change_permission"] is False
        assert 'name="_save"' not in page.content.decode()
        assert posted.status_code == 403
        event.refresh_from_db()
        assert (event.status, event.event_type) == (Status.FAILED, "certificate.created")

    def test_certificate_is_not_editable(self, admin_client, certificates):
        certificate = certificates["valid"]

        page = admin_client.get(change("certificate", certificate.pk))
        posted = admin_client.post(change("certificate", certificate.pk), {"learner_name": "Changed"})

        assert page.context["has_change_permission"] is False
        assert 'name="_save"' not in page.content.decode()
        assert posted.status_code == 403
        certificate.refresh_from_db()
        assert certificate.learner_name == "Ingrid Solberg"


class TestEventPage:
    def test_payload_is_pretty_printed(self, admin_client, seably_deliver):
        seably_deliver(load_payload("certificate_created_jsonapi.json"))
        event = WebhookEvent.objects.get()

        content = admin_client.get(change("webhookevent", event.pk)).content.decode()

        pretty = json.dumps(event.payload, indent=2, ensure_ascii=False)
        assert "\n" in pretty
        assert escape(pretty) in content
        assert "Åsa Lindqvist-Nyström" in content

    def test_payload_is_escaped(self, admin_client):
        event = WebhookEventFactory.create(payload={**certificate_body("SB-X"), "note": "<script>alert(1)</script>"})

        content = admin_client.get(change("webhookevent", event.pk)).content.decode()

        assert "<script>alert(1)</script>" not in content
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content

    def test_invalid_event_shows_its_body_and_error(self, admin_client, events):
        content = admin_client.get(change("webhookevent", events["invalid"].pk)).content.decode()

        assert "{oops" in content
        assert "Body is not valid JSON." in content

    def test_failed_event_shows_its_traceback(self, admin_client, events):
        content = admin_client.get(change("webhookevent", events["failed"].pk)).content.decode()

        assert "Traceback: boom" in content


class TestReprocessAction:
    def post_action(self, client: Client, events: list[WebhookEvent]) -> Any:
        return client.post(
            changelist("webhookevent"),
            {"action": "reprocess", "_selected_action": [event.pk for event in events]},
            follow=True,
        )

    def test_action_is_offered_to_a_superuser(self, admin_client, events):
        response = admin_client.get(changelist("webhookevent"))

        assert "reprocess" in offered_actions(response)
        assert "Reprocess selected events" in response.content.decode()

    def test_failed_events_are_processed(self, admin_client):
        failed = WebhookEventFactory.create_batch(2, failed=True)

        response = self.post_action(admin_client, failed)

        assert response.status_code == 200
        assert shown_messages(response) == [
            ("Reprocessed events: 2 processed, 0 failed, 0 skipped.", message_levels.SUCCESS)
        ]
        assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
        assert set(Certificate.objects.values_list("event_id", flat=True)) == {event.pk for event in failed}

    def test_counts_failed_and_skipped(self, admin_client, events):
        failing = unprocessable_event()

        response = self.post_action(admin_client, [events["failed"], events["processed"], events["invalid"], failing])

        assert shown_messages(response) == [
            ("Reprocessed events: 1 processed, 1 failed, 2 skipped.", message_levels.ERROR)
        ]
        failing.refresh_from_db()
        assert (failing.status, failing.attempts) == (Status.FAILED, 2)
        assert WebhookEvent.objects.get(pk=events["failed"].pk).status == Status.PROCESSED

    def test_only_selected_events_are_processed(self, admin_client, events):
        self.post_action(admin_client, [events["pending"]])

        assert WebhookEvent.objects.get(pk=events["pending"].pk).status == Status.PROCESSED
        assert WebhookEvent.objects.get(pk=events["failed"].pk).status == Status.FAILED

    def test_view_only_staff_does_not_get_the_action(self, events):
        client = staff_client("view_webhookevent")

        response = client.get(changelist("webhookevent"))

        assert response.status_code == 200
        assert "reprocess" not in offered_actions(response)
        assert "Reprocess selected events" not in response.content.decode()

    def test_view_only_staff_cannot_post_the_action(self, events):
        client = staff_client("view_webhookevent")

        self.post_action(client, [events["failed"]])

        assert WebhookEvent.objects.get(pk=events["failed"].pk).status == Status.FAILED

    def test_staff_with_change_permission_gets_the_action(self, events):
        client = staff_client("view_webhookevent", "change_webhookevent")

        response = self.post_action(client, [events["failed"]])

        assert shown_messages(response) == [
            ("Reprocessed events: 1 processed, 0 failed, 0 skipped.", message_levels.SUCCESS)
        ]
        assert WebhookEvent.objects.get(pk=events["failed"].pk).status == Status.PROCESSED


class TestEndpointToken:
    def test_list_shows_only_the_masked_token(self, admin_client, seably_endpoint):
        inactive = EndpointFactory.create(is_active=False)

        content = admin_client.get(changelist("endpoint")).content.decode()

        assert seably_endpoint.masked_token in content
        assert inactive.masked_token in content
        assert seably_endpoint.token not in content
        assert inactive.token not in content

    def test_change_page_shows_the_webhook_path(self, admin_client, seably_endpoint):
        content = admin_client.get(change("endpoint", seably_endpoint.pk)).content.decode()

        assert seably_endpoint.webhook_path in content
        assert f"http://testserver{seably_endpoint.webhook_path}" in content

    def test_change_page_of_another_endpoint_does_not_show_this_token(self, admin_client, seably_endpoint):
        other = EndpointFactory.create()

        content = admin_client.get(change("endpoint", other.pk)).content.decode()

        assert other.token in content
        assert seably_endpoint.token not in content

    def test_add_page_shows_no_token(self, admin_client, seably_endpoint):
        content = admin_client.get(add("endpoint")).content.decode()

        assert seably_endpoint.token not in content

    def test_endpoint_added_in_the_admin_gets_a_token(self, admin_client):
        response = admin_client.post(add("endpoint"), {"name": "from-admin", "is_active": "on"})

        assert response.status_code == 302
        endpoint = Endpoint.objects.get()
        assert endpoint.name == "from-admin"
        assert len(endpoint.token) >= 43

    def test_editing_an_endpoint_keeps_its_token(self, admin_client, seably_endpoint):
        token = seably_endpoint.token

        response = admin_client.post(change("endpoint", seably_endpoint.pk), {"name": "renamed"})

        assert response.status_code == 302
        seably_endpoint.refresh_from_db()
        assert (seably_endpoint.name, seably_endpoint.is_active, seably_endpoint.token) == ("renamed", False, token)

    @pytest.mark.parametrize(
        "page", ["event list", "event", "invalid event", "certificate list", "certificate", "index", "overview"]
    )
    def test_other_pages_never_show_the_token(self, admin_client, seably_endpoint, events, certificates, page):
        url = {
            "event list": changelist("webhookevent"),
            "event": change("webhookevent", events["processed"].pk),
            "invalid event": change("webhookevent", events["invalid"].pk),
            "certificate list": changelist("certificate"),
            "certificate": change("certificate", certificates["valid"].pk),
            "index": reverse("admin:index"),
            "overview": overview_url(),
        }[page]

        response = admin_client.get(url)

        assert response.status_code == 200
        assert seably_endpoint.token not in response.content.decode()


class TestTokenOnlyForThoseWhoMayChangeEndpoints:
    VIEW_ALL = ("view_endpoint", "view_webhookevent", "view_certificate")

    def test_view_only_staff_sees_a_masked_url_on_the_endpoint_page(self, seably_endpoint):
        client = staff_client(*self.VIEW_ALL)

        response = client.get(change("endpoint", seably_endpoint.pk))

        content = response.content.decode()
        assert response.status_code == 200
        assert seably_endpoint.token not in content
        assert f"http://testserver/seably/{seably_endpoint.masked_token}/" in content
        assert "Only users who may change endpoints see the whole URL." in content
        assert 'data-seably-copy="seably-webhook-url"' not in content

    def test_staff_who_may_change_endpoints_sees_the_url(self, seably_endpoint):
        client = staff_client("view_endpoint", "change_endpoint")

        content = client.get(change("endpoint", seably_endpoint.pk)).content.decode()

        assert f"http://testserver{seably_endpoint.webhook_path}" in content
        assert 'data-seably-copy="seably-webhook-url"' in content

    @pytest.mark.parametrize(
        "page",
        ["endpoint list", "endpoint", "endpoint history", "event list", "event", "certificate", "index", "overview"],
    )
    def test_no_page_shows_the_token_to_view_only_staff(self, seably_endpoint, events, certificates, page):
        client = staff_client(*self.VIEW_ALL)
        url = {
            "endpoint list": changelist("endpoint"),
            "endpoint": change("endpoint", seably_endpoint.pk),
            "endpoint history": reverse("admin:django_seably_endpoint_history", args=[seably_endpoint.pk]),
            "event list": changelist("webhookevent"),
            "event": change("webhookevent", events["processed"].pk),
            "certificate": change("certificate", certificates["valid"].pk),
            "index": reverse("admin:index"),
            "overview": overview_url(),
        }[page]

        response = client.get(url)

        assert response.status_code == 200
        assert seably_endpoint.token not in response.content.decode()

    def test_view_only_staff_cannot_rotate_or_edit(self, seably_endpoint):
        client = staff_client(*self.VIEW_ALL)
        token = seably_endpoint.token

        response = client.post(change("endpoint", seably_endpoint.pk), {"name": "renamed", "is_active": "on"})

        assert response.status_code == 403
        seably_endpoint.refresh_from_db()
        assert (seably_endpoint.name, seably_endpoint.token) == ("test", token)


class TestEventsCannotBeDeleted:
    def test_no_delete_action_even_for_a_superuser(self, admin_client, events):
        response = admin_client.get(changelist("webhookevent"))

        assert "delete_selected" not in offered_actions(response)

    def test_the_delete_page_is_refused(self, admin_client, events):
        response = admin_client.post(
            reverse("admin:django_seably_webhookevent_delete", args=[events["failed"].pk]), {"post": "yes"}
        )

        assert response.status_code == 403
        assert WebhookEvent.objects.filter(pk=events["failed"].pk).exists()

    def test_posting_the_delete_action_deletes_nothing(self, events):
        client = staff_client("view_webhookevent", "change_webhookevent", "delete_webhookevent")

        client.post(
            changelist("webhookevent"),
            {"action": "delete_selected", "_selected_action": [events["failed"].pk], "post": "yes"},
        )

        assert WebhookEvent.objects.count() == len(events)


class TestRotateToken:
    def post_action(self, client: Client, endpoints: list[Endpoint], **extra: str) -> Any:
        return client.post(
            changelist("endpoint"),
            {"action": "rotate_token", "_selected_action": [endpoint.pk for endpoint in endpoints], **extra},
            follow=True,
        )

    def test_asks_for_confirmation_showing_masked_tokens(self, admin_client, seably_endpoint):
        token = seably_endpoint.token

        response = self.post_action(admin_client, [seably_endpoint])

        content = response.content.decode()
        assert response.status_code == 200
        assert seably_endpoint.masked_token in content
        assert token not in content
        assert 'name="confirm" value="yes"' in content
        seably_endpoint.refresh_from_db()
        assert seably_endpoint.token == token

    def test_confirmed_rotation_replaces_the_token(self, admin_client, client, seably_endpoint):
        old_token, old_path = seably_endpoint.token, seably_endpoint.webhook_path

        response = self.post_action(admin_client, [seably_endpoint], confirm="yes")

        assert shown_messages(response) == [
            (
                "Rotated the token of 1 endpoint: its old URL now answers 404. Register the new URL on Seably.",
                message_levels.SUCCESS,
            )
        ]
        seably_endpoint.refresh_from_db()
        assert seably_endpoint.token != old_token
        assert len(seably_endpoint.token) >= 43
        assert client.get(old_path).status_code == 404
        assert client.get(seably_endpoint.webhook_path).status_code == 200
        assert old_token not in response.content.decode()
        assert seably_endpoint.token not in response.content.decode()

    def test_rotation_is_logged_with_masked_tokens(self, admin_client, seably_endpoint):
        old_token = seably_endpoint.token
        self.post_action(admin_client, [seably_endpoint], confirm="yes")

        seably_endpoint.refresh_from_db()
        (entry,) = LogEntry.objects.filter(object_id=str(seably_endpoint.pk))
        assert entry.change_message == f"Rotated token {old_token[:4]}… → {seably_endpoint.masked_token}"
        history = admin_client.get(reverse("admin:django_seably_endpoint_history", args=[seably_endpoint.pk]))
        assert history.status_code == 200
        assert old_token not in history.content.decode()
        assert seably_endpoint.token not in history.content.decode()

    def test_rotating_several_endpoints(self, admin_client, seably_endpoint):
        other = EndpointFactory.create()
        tokens = {seably_endpoint.token, other.token}

        response = self.post_action(admin_client, [seably_endpoint, other], confirm="yes")

        assert shown_messages(response)[0][0].startswith("Rotated the tokens of 2 endpoints")
        assert not tokens & set(Endpoint.objects.values_list("token", flat=True))

    def test_view_only_staff_does_not_get_the_action(self, seably_endpoint):
        client = staff_client("view_endpoint")
        token = seably_endpoint.token

        response = client.get(changelist("endpoint"))
        self.post_action(client, [seably_endpoint], confirm="yes")

        assert "rotate_token" not in offered_actions(response)
        seably_endpoint.refresh_from_db()
        assert seably_endpoint.token == token


class TestCsvExport:
    def export(self, client: Client, certificates: list[Certificate]) -> list[str]:
        response = client.post(
            changelist("certificate"),
            {"action": "export_csv", "_selected_action": [certificate.pk for certificate in certificates]},
        )
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"] == 'attachment; filename="certificates.csv"'
        assert response.streaming
        return response.getvalue().decode().splitlines()

    def test_exports_the_selected_certificates(self, admin_client, certificates):
        valid = certificates["valid"]

        lines = self.export(admin_client, [valid])

        assert lines == [
            "seably_id,learner_name,learner_email,course_name,issued_at,expires_on,url,created_at",
            f"SB-00000042,Ingrid Solberg,ingrid.solberg@example.com,Enclosed Space Entry,,"
            f"{valid.expires_on.isoformat()},,{valid.created_at.isoformat()}",
        ]

    def test_formulas_are_neutralised(self, admin_client):
        certificate = CertificateFactory.create(learner_name='=HYPERLINK("http://x")', course_name="+1", url="@SUM(A1)")

        (_, row) = self.export(admin_client, [certificate])

        assert next(csv.reader([row]))[:7] == [
            certificate.seably_id,
            '\'=HYPERLINK("http://x")',
            "",
            "'+1",
            "",
            "",
            "'@SUM(A1)",
        ]

    def test_view_only_staff_can_export(self, certificates):
        client = staff_client("view_certificate")

        lines = self.export(client, [certificates["expired"], certificates["no_expiry"]])

        assert [line.split(",")[0] for line in lines[1:]] == ["SB-00000043", "SB-00000044"]


class TestOverview:
    def test_overview_renders(self, admin_client, seably_endpoint, events):
        response = admin_client.get(overview_url())

        assert response.status_code == 200
        content = response.content.decode()
        assert "test" in content
        assert seably_endpoint.token not in content
        counts = {entry["status"]: entry["count"] for entry in response.context["statuses"]}
        assert counts == {"processed": 1, "failed": 1, "pending": 1, "invalid": 1}
        assert response.context["oldest_failed"] == events["failed"]
        assert response.context["oldest_pending"] == events["pending"]

    def test_overview_renders_without_events(self, admin_client):
        response = admin_client.get(overview_url())

        assert response.status_code == 200
        assert response.context["chart"]["total"] == 0

    def test_overview_needs_the_event_view_permission(self):
        assert staff_client().get(overview_url()).status_code == 403
        assert staff_client("view_webhookevent", username="viewer").get(overview_url()).status_code == 200


class TestOverviewSilence:
    """How long each active endpoint has been silent: since its last delivery, or its creation."""

    @staticmethod
    def silence_row(content: str, name: str) -> str:
        start = content.index(f">{name}</a>")
        return content[start : content.index("</tr>", start)]

    @pytest.fixture
    def endpoints(self) -> dict[str, Endpoint]:
        now = timezone.now()
        heard = EndpointFactory.create(name="heard")
        WebhookEventFactory.create(endpoint=heard, received_at=now - datetime.timedelta(days=9))
        WebhookEventFactory.create(endpoint=heard, received_at=now - datetime.timedelta(days=3, hours=2))
        never = EndpointFactory.create(name="never")
        Endpoint.objects.filter(pk=never.pk).update(created_at=now - datetime.timedelta(days=2, hours=1))
        inactive = EndpointFactory.create(name="inactive", is_active=False)
        WebhookEventFactory.create(endpoint=inactive, received_at=now - datetime.timedelta(days=30))
        return {"heard": heard, "never": never, "inactive": inactive}

    def test_each_active_endpoint_shows_its_silence(self, admin_client, endpoints):
        content = admin_client.get(overview_url()).content.decode()

        heard = self.silence_row(content, "heard")
        assert '<td class="seably-silence">3\xa0days, 2\xa0hours</td>' in heard
        never = self.silence_row(content, "never")
        assert "Never" in never
        assert '<td class="seably-silence">2\xa0days, 1\xa0hour (since it was created)</td>' in never
        assert '<td class="seably-silence">—</td>' in self.silence_row(content, "inactive")
        assert "seably-too-long" not in content  # no HEALTH_MAX_SILENCE: nothing is flagged

    def test_silence_longer_than_the_setting_is_flagged(self, admin_client, endpoints, settings):
        settings.SEABLY = {"HEALTH_MAX_SILENCE": datetime.timedelta(days=2, hours=12)}
        content = admin_client.get(overview_url()).content.decode()

        assert '<tr class="seably-too-long">' in content[: content.index(">heard</a>")][-200:]
        assert "longer than 2\xa0days, 12\xa0hours" in self.silence_row(content, "heard")
        assert "seably-alert" not in self.silence_row(content, "never")  # 2 days 1 hour: within the limit
        assert "seably-alert" not in self.silence_row(content, "inactive")  # off on purpose: never flagged
        assert 'SEABLY["HEALTH_MAX_SILENCE"]' in content

    def test_one_query_for_all_endpoints(self, admin_client, endpoints, django_assert_num_queries):
        admin_client.get(overview_url())  # the past days' counts are cached from here on
        with CaptureQueriesContext(connection) as few:
            admin_client.get(overview_url())
        EndpointFactory.create_batch(5)

        with django_assert_num_queries(len(few)):
            admin_client.get(overview_url())


class TestNothingCanBeDeleted:
    """Events are what deduplication remembers; a deleted certificate would not come back on a resend."""

    @pytest.mark.parametrize("model", ["webhookevent", "certificate"])
    def test_the_page_shows_no_delete_link(self, admin_client, model):
        obj = WebhookEventFactory.create() if model == "webhookevent" else CertificateFactory.create()

        response = admin_client.get(change(model, obj.pk))

        assert response.status_code == 200
        assert reverse(f"admin:django_seably_{model}_delete", args=[obj.pk]) not in response.content.decode()

    def test_the_certificate_delete_page_is_refused_even_with_the_permission(self):
        certificate = CertificateFactory.create()
        client = staff_client("view_certificate", "delete_certificate")

        response = client.post(
            reverse("admin:django_seably_certificate_delete", args=[certificate.pk]), {"post": "yes"}
        )

        assert response.status_code == 403
        assert Certificate.objects.filter(pk=certificate.pk).exists()

    def test_no_certificate_delete_action(self, admin_client, certificates):
        response = admin_client.get(changelist("certificate"))
        admin_client.post(
            changelist("certificate"),
            {"action": "delete_selected", "_selected_action": [certificates["valid"].pk], "post": "yes"},
        )

        assert offered_actions(response) == ["export_csv"]
        assert Certificate.objects.count() == len(certificates)


class TestListValues:
    """Long values in list columns: whole words, break points after dots and before @, cut with a title."""

    def test_break_points(self):
        assert list_value("ingrid.solberg@example.com") == (
            '<span class="seably-nobreak">ingrid.</span><wbr><span class="seably-nobreak">solberg</span><wbr>'
            '<span class="seably-nobreak">@example.</span><wbr><span class="seably-nobreak">com</span>'
        )
        assert list_value("SB-00000042") == '<span class="seably-nobreak">SB-00000042</span>'
        assert list_value("") is None
        assert list_value(None) is None

    def test_a_long_value_is_cut_with_the_whole_of_it_in_title(self):
        value = "<b>" + "x" * 70

        html = list_value(value)

        assert html is not None
        assert html.startswith(f'<span class="seably-cut" title="{escape(value)}">')
        assert f">{escape(value[:59])}…</span>" in html
        assert "<b>" not in html

    def test_the_event_list_shows_a_cut_type_whole_on_hover(self, admin_client):
        long_type = "certificate.created." + "x" * 70
        WebhookEventFactory.create(payload={"event": long_type, "payload": {"data": {"type": "t", "id": "1"}}})

        content = admin_client.get(changelist("webhookevent")).content.decode()

        assert f'title="{long_type}"' in content


class TestEndpointList:
    def test_links_to_the_events_of_each_endpoint(self, admin_client, events, seably_endpoint):
        content = admin_client.get(changelist("endpoint")).content.decode()
        link = f"{changelist('webhookevent')}?endpoint__id__exact={seably_endpoint.pk}"

        assert f'<a href="{link}">View events</a>' in content
        assert {event.endpoint_id for event in listed(admin_client.get(link))} == {seably_endpoint.pk}


class TestReprocessInBatches:
    def test_every_selected_event_is_processed_across_batches(self, admin_client):
        failed = [unprocessable_event() for _ in range(2)] + [
            WebhookEventFactory.create(failed=True, payload=certificate_body(f"SB-B{n}")) for n in range(3)
        ]

        with mock.patch("django_seably.admin.events.REPROCESS_BATCH_SIZE", 2):
            response = admin_client.post(
                changelist("webhookevent"),
                {"action": "reprocess", "_selected_action": [event.pk for event in failed]},
                follow=True,
            )

        assert shown_messages(response) == [
            ("Reprocessed events: 3 processed, 2 failed, 0 skipped.", message_levels.ERROR)
        ]
        assert WebhookEvent.objects.filter(status=Status.PROCESSED).count() == 3


@pytest.mark.parametrize("model", ["webhookevent", "certificate", "endpoint"])
def test_a_search_for_a_nul_character_is_refused_by_django(admin_client, events, certificates, model):
    # Django's search form refuses it (a message) and lists everything, before any query holds
    # it: PostgreSQL refuses NUL in text.
    response = admin_client.get(changelist(model), {"q": "SB-1\x00"})

    assert response.status_code == 200
    assert [text for text, _ in shown_messages(response)] == ["Null characters are not allowed."]
