"""Store first: a delivery is committed before any handler or receiver runs, whatever the project's settings."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.db import DataError, OperationalError, connection, connections
from django.http import JsonResponse
from django.test import Client

from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.processing import process_event
from django_seably.signals import processing_failed, webhook_received
from tests.factories import EndpointFactory, WebhookEventFactory, certificate_body


class Boom(Exception):
    pass


def _seen_from_another_connection(pk: int) -> str | None:
    """The event's status as a second connection to the same database sees it, or None."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT status FROM {WebhookEvent._meta.db_table} WHERE id = %s", [pk])
            row = cursor.fetchone()
    finally:
        other.close()
    return row[0] if row else None


@pytest.fixture
def observing_receiver():
    """A webhook_received receiver that records what it sees, then raises."""
    seen: dict[str, Any] = {}

    def receiver(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        seen["transactions"] = len(connection.atomic_blocks)
        if connection.vendor == "postgresql":
            seen["elsewhere"] = _seen_from_another_connection(event.pk)
        raise Boom("receiver exploded")

    webhook_received.connect(receiver, weak=False)
    yield seen
    webhook_received.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_atomic_requests_does_not_wrap_the_view(monkeypatch, observing_receiver):
    """With ATOMIC_REQUESTS, the view still commits the event before the receiver runs in a transaction of its own."""
    # What Django reads for each request: DATABASES["default"]["ATOMIC_REQUESTS"], as the connection holds it.
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    endpoint = EndpointFactory.create()

    response = Client().post(endpoint.webhook_path, data=certificate_body("SB-1"), content_type="application/json")

    event = WebhookEvent.objects.get()
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "event_id": event.pk}
    # Only the processing transaction is open while the receiver runs: none of the request's.
    assert observing_receiver["transactions"] == 1
    if connection.vendor == "postgresql":
        assert observing_receiver["elsewhere"] == "pending"
    assert (event.status, event.attempts) == ("failed", 1)
    assert "receiver exploded" in event.last_error
    assert not Certificate.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_event_is_committed_before_any_receiver_runs(observing_receiver):
    endpoint = EndpointFactory.create()

    Client().post(endpoint.webhook_path, data=certificate_body("SB-1"), content_type="application/json")

    assert observing_receiver["elsewhere"] == "pending"
    assert WebhookEvent.objects.get().status == "failed"


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_while_processing_leaves_the_event_pending(caplog, monkeypatch):
    """Stored, then the database fails: Seably gets its 2xx and the sweep finishes the event later."""
    endpoint = EndpointFactory.create()

    def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(WebhookEvent.objects, "claim", unavailable)
    with caplog.at_level(logging.ERROR, logger="django_seably.processing"):
        response = Client().post(endpoint.webhook_path, data=certificate_body("SB-1"), content_type="application/json")

    event = WebhookEvent.objects.get()
    assert response.status_code == 200
    assert (event.status, event.attempts) == ("failed", 1)
    assert "server closed the connection unexpectedly" in event.last_error

    def also_unrecordable(*args: Any, **kwargs: Any) -> int:
        raise OperationalError("still down")

    other = json.dumps(certificate_body("SB-2"))
    monkeypatch.setattr(type(WebhookEvent.objects.all()), "update", also_unrecordable)
    with caplog.at_level(logging.ERROR, logger="django_seably.processing"):
        response = Client().post(endpoint.webhook_path, data=other, content_type="application/json")
    monkeypatch.undo()

    assert response.status_code == 200
    second = WebhookEvent.objects.get(object_id="SB-2")
    assert response.json() == {"status": "accepted", "event_id": second.pk}
    assert second.status == "pending"
    assert f"The database failed while processing Seably event {second.pk}" in caplog.text


@pytest.mark.django_db
class TestProcessingFailed:
    def test_sent_once_per_failed_attempt_after_the_failure_is_recorded(self):
        event = WebhookEventFactory.create()
        calls: list[tuple[str, int, str]] = []

        def failing(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
            raise Boom("receiver exploded")

        def alert(sender: Any, event: WebhookEvent, exception: BaseException, **kwargs: Any) -> None:
            stored = WebhookEvent.objects.get(pk=event.pk)
            calls.append((stored.status, stored.attempts, str(exception)))
            assert sender is WebhookEvent
            assert isinstance(exception, Boom)

        webhook_received.connect(failing, weak=False)
        processing_failed.connect(alert, weak=False)
        try:
            assert process_event(event) == "failed"
            assert process_event(event) == "failed"
        finally:
            webhook_received.disconnect(failing)
            processing_failed.disconnect(alert)

        assert calls == [("failed", 1, "receiver exploded"), ("failed", 2, "receiver exploded")]

    def test_not_sent_when_processing_succeeds(self):
        calls = []
        processing_failed.connect(lambda **kwargs: calls.append(kwargs), weak=False, dispatch_uid="t")
        try:
            assert process_event(WebhookEventFactory.create()) == "processed"
        finally:
            processing_failed.disconnect(dispatch_uid="t")

        assert calls == []

    def test_a_raising_receiver_is_logged_and_the_failure_stays_recorded(self, caplog):
        event = WebhookEventFactory.create()

        def failing(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
            raise Boom("receiver exploded")

        def broken_alert(sender: Any, **kwargs: Any) -> None:
            raise RuntimeError("alerting is down")

        webhook_received.connect(failing, weak=False)
        processing_failed.connect(broken_alert, weak=False)
        try:
            assert process_event(event) == "failed"
        finally:
            webhook_received.disconnect(failing)
            processing_failed.disconnect(broken_alert)

        assert WebhookEvent.objects.get(pk=event.pk).status == "failed"
        assert "A processing_failed receiver" in caplog.text
        assert f"raised for Seably event {event.pk}." in caplog.text
        assert "alerting is down" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_while_its_delivery_is_stored_is_503_and_stores_nothing(monkeypatch):
    """Not dressed up as an invalid body: the database's refusal is a 503, and nothing is stored."""
    endpoint = EndpointFactory.create()
    gone = Endpoint(pk=endpoint.pk + 1000, token=endpoint.token)
    monkeypatch.setattr("django_seably.views._active_endpoint", lambda token: gone)

    response = Client().post(endpoint.webhook_path, data=certificate_body("SB-1"), content_type="application/json")

    assert response.status_code == 503
    assert response.json() == {"error": "Database unavailable, try again later."}
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
class TestEdges:
    """The failure paths of storing and processing that only a race or a broken database reaches."""

    def test_a_database_refusing_an_invalid_body_is_503(self, seably_endpoint, monkeypatch):
        def refuse(event: WebhookEvent) -> bool:
            raise DataError("refused")

        monkeypatch.setattr(WebhookEvent.objects, "store", refuse)

        response = Client().post(seably_endpoint.webhook_path, data=b"{oops", content_type="application/json")

        assert response.status_code == 503
        assert not WebhookEvent.objects.exists()

    def test_a_failure_after_another_caller_processed_the_event_is_not_recorded(self, monkeypatch):
        """Our attempt failed, but meanwhile another process claimed and processed the event: it stays processed."""
        event = WebhookEventFactory.create()

        def failing(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
            raise Boom("receiver exploded")

        calls = []

        def claimable(self: Any, *, only_pending: bool = False) -> Any:
            # _record_failure's question, after the rollback: by then another caller has processed the event.
            calls.append(only_pending)
            return self.none()

        monkeypatch.setattr(type(WebhookEvent.objects.all()), "claimable", claimable)
        sent = []
        processing_failed.connect(lambda **kwargs: sent.append(kwargs), weak=False, dispatch_uid="edge")
        webhook_received.connect(failing, weak=False)
        try:
            assert process_event(event) == "skipped"
        finally:
            webhook_received.disconnect(failing)
            processing_failed.disconnect(dispatch_uid="edge")

        assert calls == [False]
        assert sent == []
        stored = WebhookEvent.objects.get(pk=event.pk)
        assert (stored.status, stored.attempts, stored.last_error) == ("pending", 0, "")

    def test_an_invalid_event_valid_now_but_already_received_stays_invalid(self):
        """Reprocessing an invalid body that parses now, whose JSON arrived since as a valid event of its own."""
        valid = WebhookEventFactory.create(processed=True)
        invalid = WebhookEventFactory.create(
            status="invalid",
            body=valid.body,
            payload=None,
            fingerprint="invalid:" + "0" * 56,
            event_type="",
            object_type=None,
            object_id=None,
            last_error="Body is not valid JSON.",
        )

        assert process_event(invalid) == "invalid"

        invalid.refresh_from_db()
        assert (invalid.status, invalid.last_error) == ("invalid", "Body is not valid JSON.")
        assert WebhookEvent.objects.get(pk=valid.pk).status == "processed"


def test_upsert_names_only_concrete_fields():
    from django_seably.upsert import upsert

    with pytest.raises(ValueError, match=r"^WebhookEvent.created_certificates is not a concrete field.$"):
        upsert(WebhookEvent(body="{}", fingerprint="x"), conflict="created_certificates")


@pytest.mark.django_db
def test_an_invalid_event_revalidated_meanwhile_by_another_caller_is_left_to_it():
    event = WebhookEventFactory.create()  # pending in the database...
    stale = WebhookEvent.objects.get(pk=event.pk)
    stale.status = WebhookEvent.Status.INVALID  # ...but invalid as this caller loaded it

    assert process_event(stale) == "invalid"
    assert WebhookEvent.objects.get(pk=event.pk).status == "pending"


@pytest.mark.django_db
def test_a_content_length_that_is_no_number_is_read_as_no_body(rf, seably_endpoint):
    from django_seably.views import WebhookView

    request = rf.post(seably_endpoint.webhook_path, data=b"", content_type="application/json")
    request.META["CONTENT_LENGTH"] = "twelve"

    response = WebhookView.as_view()(request, token=seably_endpoint.token)

    assert isinstance(response, JsonResponse)
    assert response.status_code == 400
    assert json.loads(response.content) == {
        "error": "Body is not valid JSON (Expecting value: line 1 column 1 (char 0))."
    }
