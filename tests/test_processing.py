from __future__ import annotations

import json
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from django_seably import hints
from django_seably.models import Certificate, WebhookEvent, generate_token
from django_seably.processing import process_event
from django_seably.signals import certificate_created, webhook_received
from tests.factories import EndpointFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


@pytest.fixture
def failing_receiver():
    """A certificate_created receiver that raises until told to stop."""
    state = {"fail": True, "calls": 0}

    def receiver(sender, event, certificate, **kwargs):
        state["calls"] += 1
        if state["fail"]:
            raise Boom("receiver exploded")

    certificate_created.connect(receiver, weak=False)
    yield state
    certificate_created.disconnect(receiver)


def test_new_certificate_fires_both_signals_once(seably_deliver, received, created):
    seably_deliver(certificate_body("SB-1", user={"email": "a@example.com"}))

    event = WebhookEvent.objects.get()
    certificate = Certificate.objects.get()
    received.assert_called_once_with(signal=webhook_received, sender=WebhookEvent, event=mock.ANY)
    created.assert_called_once_with(
        signal=certificate_created, sender=WebhookEvent, event=mock.ANY, certificate=mock.ANY
    )
    assert created.call_args.kwargs["event"].pk == event.pk
    assert created.call_args.kwargs["certificate"].pk == certificate.pk
    assert certificate.event == event
    assert certificate.data == {"type": "certificate", "id": "SB-1", "user": {"email": "a@example.com"}}


def test_receiver_failure_rolls_back_and_marks_failed(seably_deliver, failing_receiver, received):
    response = seably_deliver(certificate_body("SB-1"))

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert event.attempts == 1
    assert event.processed_at is None
    assert "Boom: receiver exploded" in event.last_error
    assert event.last_error.startswith("Traceback")
    assert not Certificate.objects.exists()


def test_failure_is_logged_with_the_traceback(seably_deliver, failing_receiver, caplog):
    seably_deliver(certificate_body("SB-1"))

    record = next(r for r in caplog.records if r.name == "django_seably.processing")
    assert record.levelname == "ERROR"
    assert (
        record.getMessage() == f"Processing Seably event {WebhookEvent.objects.get().pk} (certificate.created) failed."
    )
    assert record.exc_info[0] is Boom


def test_failed_event_succeeds_on_reprocess(seably_deliver, failing_receiver):
    seably_deliver(certificate_body("SB-1"))
    event = WebhookEvent.objects.get()
    failing_receiver["fail"] = False

    assert process_event(event) == "processed"

    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 2
    assert event.last_error == ""
    assert event.processed_at is not None
    assert Certificate.objects.get().event == event
    assert failing_receiver["calls"] == 2


def test_failing_again_counts_attempts(seably_deliver, failing_receiver):
    seably_deliver(certificate_body("SB-1"))
    event = WebhookEvent.objects.get()

    assert process_event(event) == "failed"
    assert process_event(event) == "failed"

    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 3)
    assert not Certificate.objects.exists()


def test_processing_a_processed_event_does_nothing(seably_deliver, received):
    seably_deliver(certificate_body("SB-1"))
    event = WebhookEvent.objects.get()

    assert process_event(event) == "skipped"

    event.refresh_from_db()
    assert event.attempts == 1
    assert received.call_count == 1


def test_stale_instance_of_processed_event_is_skipped(received):
    event = WebhookEventFactory.create(failed=True)
    stale = WebhookEvent.objects.get(pk=event.pk)
    assert process_event(event) == "processed"

    assert process_event(stale) == "skipped"
    assert received.call_count == 1


def test_pending_event_is_processed(received, created):
    event = WebhookEventFactory.create()

    assert process_event(event) == "processed"

    assert received.call_count == 1
    assert created.call_count == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 1)


def test_second_certificate_event_updates_without_certificate_created(seably_deliver, received, created):
    seably_deliver(certificate_body("SB-1", course={"name": "Old"}))
    first = Certificate.objects.get()

    seably_deliver(certificate_body("SB-1", course={"name": "New"}))

    certificate = Certificate.objects.get()
    assert certificate.pk == first.pk
    assert certificate.course_name == "New"
    assert certificate.data["course"] == {"name": "New"}
    assert certificate.event_id == first.event_id
    assert certificate.created_at == first.created_at
    assert certificate.updated_at > first.updated_at
    assert created.call_count == 1
    assert received.call_count == 2
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_unknown_event_type_is_stored_and_signalled(seably_deliver, received, created, typed_receiver):
    invited = typed_receiver("user.invited")

    response = seably_deliver(
        json.loads((__import__("pathlib").Path(__file__).parent / "payloads/user_invited_future.json").read_text())
    )

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.event_type, event.object_type, event.object_id, event.status) == (
        "user.invited",
        "user",
        "U-9001",
        "processed",
    )
    invited.assert_called_once_with(signal=mock.ANY, sender=WebhookEvent, event=mock.ANY)
    assert received.call_count == 1
    assert created.call_count == 0
    assert not Certificate.objects.exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"event": "certificate.created"}, "certificate.created has no payload.data object."),
        ({"event": "certificate.created", "payload": {"data": "x"}}, "certificate.created has no payload.data object."),
        (
            {"event": "certificate.created", "payload": {"data": {"type": "certificate"}}},
            "certificate.created needs payload.data.id, a string of 1 to 255 characters.",
        ),
        (
            {"event": "certificate.created", "payload": {"data": {"id": ""}}},
            "certificate.created needs payload.data.id, a string of 1 to 255 characters.",
        ),
        (
            {"event": "certificate.created", "payload": {"data": {"id": True}}},
            "certificate.created needs payload.data.id, a string of 1 to 255 characters.",
        ),
    ],
)
def test_certificate_event_without_usable_id_fails(seably_deliver, received, payload, message):
    response = seably_deliver(payload)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == "failed"
    assert f"ProcessingError: {message}" in event.last_error
    assert received.call_count == 0


def test_numeric_certificate_id_is_kept_as_text(seably_deliver):
    seably_deliver({"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": 42}}})

    assert Certificate.objects.get().seably_id == "42"


def test_on_commit_side_effects_run_only_after_success(seably_deliver, failing_receiver):
    done = []

    def receiver(sender, event, **kwargs):
        transaction.on_commit(lambda: done.append(event.object_id))

    webhook_received.connect(receiver, weak=False)
    try:
        seably_deliver(certificate_body("SB-fails"))
        failing_receiver["fail"] = False
        seably_deliver(certificate_body("SB-works"))
    finally:
        webhook_received.disconnect(receiver)

    assert done == ["SB-works"]


class TestInvalidEvents:
    def test_invalid_event_stays_invalid_on_reprocess(self, seably_deliver, received):
        seably_deliver(b"{oops")
        event = WebhookEvent.objects.get()

        assert process_event(event) == "invalid"

        event.refresh_from_db()
        assert (event.status, event.attempts) == ("invalid", 0)
        assert received.call_count == 0

    def test_invalid_event_whose_body_now_parses_is_processed(self, received, created):
        body = json.dumps(certificate_body("SB-R"))
        event = WebhookEventFactory.create(
            status="invalid",
            payload=None,
            body=body,
            event_type="",
            object_type=None,
            object_id=None,
            fingerprint="0" * 64,
        )

        assert process_event(event) == "processed"

        event.refresh_from_db()
        assert event.status == "processed"
        assert event.event_type == "certificate.created"
        assert event.payload == json.loads(event.body)
        assert created.call_count == 1

    def test_revalidated_body_already_stored_as_another_event_stays_invalid(self, received):
        valid = WebhookEventFactory.create(processed=True)
        invalid = WebhookEventFactory.create(
            status="invalid",
            payload=None,
            event_type="",
            object_type=None,
            object_id=None,
            body=valid.body,
            fingerprint="0" * 64,
        )

        assert process_event(invalid) == "invalid"

        invalid.refresh_from_db()
        assert invalid.status == "invalid"
        assert received.call_count == 0

    def test_raw_bytes_are_reparsed_when_kept(self, received):
        event = WebhookEventFactory.create(
            status="invalid",
            payload=None,
            raw_body=b"\xff",
            body="\ufffd",
            event_type="",
            object_type=None,
            object_id=None,
        )

        assert process_event(event) == "invalid"


class TestTasksMode:
    @override_settings(SEABLY={"PROCESSING": "tasks"})
    def test_event_is_stored_pending_and_handed_to_the_task(self, seably_deliver, received):
        with mock.patch("django_seably.tasks.enqueue") as enqueue:
            response = seably_deliver(certificate_body("SB-1"))

        assert response.json()["status"] == "accepted"
        event = WebhookEvent.objects.get()
        assert (event.status, event.attempts) == ("pending", 0)
        enqueue.assert_called_once()
        assert enqueue.call_args.args[0].pk == event.pk
        assert received.call_count == 0

    @override_settings(SEABLY={"PROCESSING": "tasks"})
    def test_duplicate_is_not_enqueued_again(self, seably_deliver):
        with mock.patch("django_seably.tasks.enqueue") as enqueue:
            seably_deliver(certificate_body("SB-1"))
            seably_deliver(certificate_body("SB-1"))

        assert enqueue.call_count == 1

    @override_settings(SEABLY={"PROCESSING": "tasks"})
    def test_invalid_body_is_not_enqueued(self, seably_deliver):
        with mock.patch("django_seably.tasks.enqueue") as enqueue:
            seably_deliver(b"nope")

        enqueue.assert_not_called()

    @override_settings(SEABLY={"PROCESSING": "tasks"})
    def test_enqueue_failure_leaves_the_event_pending(self, seably_deliver, caplog):
        with mock.patch("django_seably.tasks.process_event_task") as task:
            task.enqueue.side_effect = RuntimeError("broker down")
            response = seably_deliver(certificate_body("SB-1"))

        assert response.status_code == 200
        event = WebhookEvent.objects.get()
        assert event.status == "pending"
        assert f"Could not enqueue Seably event {event.pk}" in caplog.text

    def test_task_function_processes_by_id(self, received):
        from django_seably.tasks import process_event_by_id

        event = WebhookEventFactory.create()

        assert process_event_by_id(event.pk) == "processed"
        assert process_event_by_id(event.pk) == "skipped"
        assert process_event_by_id(event.pk + 1000) == "skipped"
        assert received.call_count == 1


def test_database_refusing_json_stores_the_body_as_invalid(seably_deliver):
    from django.db import DataError

    real = WebhookEvent.objects.prepare_delivery
    calls = []

    def refuse():
        raise DataError("unsupported Unicode escape sequence")

    def refuse_valid(event, **options):
        calls.append(event.status)
        return refuse if event.status != "invalid" else real(event, **options)

    with mock.patch.object(type(WebhookEvent.objects), "prepare_delivery", side_effect=refuse_valid, autospec=False):
        response = seably_deliver(certificate_body("SB-1"))

    assert response.status_code == 400
    assert response.json() == {
        "error": "Body is not valid JSON for storage (the database refused it: unsupported Unicode escape sequence)."
    }
    event = WebhookEvent.objects.get()
    assert event.status == "invalid"
    assert json.loads(event.body) == certificate_body("SB-1")


@pytest.mark.django_db(transaction=True)
class TestStatementCounts:
    """Exact statements per delivery, transaction control included (issue 3's budget: 8 new, 4 duplicate).

    Django captures BEGIN on SQLite but not on PostgreSQL, where the driver sends
    it; COMMIT is captured on neither. Both are added to the captured count.
    """

    def count(self, seably_deliver, body):
        with (
            CaptureQueriesContext(connection) as queries,
            mock.patch.object(connection, "commit", wraps=connection.commit) as commit,
        ):
            seably_deliver(body)
            commits = commit.call_count
        return _with_transaction_control([q["sql"] for q in queries.captured_queries], commits)

    def test_first_delivery_to_an_endpoint(self, seably_deliver):
        total, sql = self.count(seably_deliver, certificate_body("SB-1"))
        # endpoint lookup, BEGIN, event INSERT, certificate upsert, COMMIT: no savepoint
        assert total == 5, sql

    def test_new_certificate_event(self, seably_deliver):
        seably_deliver(certificate_body("SB-0"))
        total, sql = self.count(seably_deliver, certificate_body("SB-1"))
        # The event's INSERT checks the endpoint's token itself: no lookup once it is known.
        assert total == 4, sql

    def test_duplicate(self, seably_deliver):
        seably_deliver(certificate_body("SB-1"))
        total, sql = self.count(seably_deliver, certificate_body("SB-1"))
        # This process stored it: one UPDATE counts it, a transaction by itself.
        assert total == 1, sql
        assert sql[0].startswith("UPDATE"), sql

    def test_duplicate_first_seen_by_this_process(self, seably_deliver):
        seably_deliver(certificate_body("SB-1"))
        hints.recent_fingerprints.clear()
        total, sql = self.count(seably_deliver, certificate_body("SB-1"))
        assert total == 3, sql

    def test_invalid_body(self, seably_deliver):
        total, sql = self.count(seably_deliver, b"{oops")
        assert total == 4, sql
        total, sql = self.count(seably_deliver, b"{again")
        assert total == 3, sql
        total, sql = self.count(seably_deliver, b"{again")
        assert total == 1, sql

    def test_reprocess_of_a_failed_event(self, received):
        event = WebhookEventFactory.create(failed=True, endpoint=EndpointFactory.create())
        with CaptureQueriesContext(connection) as queries:
            process_event(event)
        total, sql = _with_transaction_control([q["sql"] for q in queries.captured_queries], 1)
        # BEGIN, claim UPDATE, certificate upsert, COMMIT
        assert total == 4, sql


def _with_transaction_control(sql, commits):
    """Add the BEGIN and COMMIT statements the driver sends without Django capturing them."""
    total = len(sql)
    if not any(s.startswith("BEGIN") for s in sql):
        total += commits
    if "COMMIT" not in sql:
        total += commits
    return total, sql


@pytest.mark.django_db(transaction=True)
def test_raising_on_commit_callback_still_answers_2xx(client, caplog):
    endpoint = EndpointFactory.create()

    def receiver(sender, event, **kwargs):
        transaction.on_commit(lambda: 1 / 0)

    webhook_received.connect(receiver, weak=False)
    try:
        response = client.post(endpoint.webhook_path, data=certificate_body("SB-1"), content_type="application/json")
    finally:
        webhook_received.disconnect(receiver)

    event = WebhookEvent.objects.get()
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "event_id": event.pk}
    assert event.status == "processed"
    assert "An on_commit callback raised after a Seably event was stored." in caplog.text


class TestBatches:
    def test_a_failing_event_fails_alone_in_its_batch(self, failing_receiver):
        from django_seably.processing import process_events

        events = [WebhookEventFactory.create(failed=True) for _ in range(3)]
        failing_receiver["fail"] = False
        fail_second = {"SB": events[1].object_id}

        def picky(sender, event, **kwargs):
            if event.object_id == fail_second["SB"]:
                raise Boom("only this one")

        webhook_received.connect(picky, weak=False)
        try:
            outcomes = list(process_events(events))
        finally:
            webhook_received.disconnect(picky)

        assert outcomes == ["processed", "failed", "processed"]
        statuses = [WebhookEvent.objects.get(pk=e.pk).status for e in events]
        assert statuses == ["processed", "failed", "processed"]
        assert Certificate.objects.filter(seably_id=events[1].object_id).count() == 0
        assert Certificate.objects.count() == 2
        assert WebhookEvent.objects.get(pk=events[1].pk).attempts == 2

    @pytest.mark.django_db(transaction=True)
    def test_events_share_one_commit_per_batch(self, monkeypatch, received):
        from django_seably import processing

        monkeypatch.setattr(processing, "EVENTS_PER_TRANSACTION", 4)
        endpoint = EndpointFactory.create()
        events = [WebhookEventFactory.create(failed=True, endpoint=endpoint) for _ in range(10)]

        with mock.patch.object(connection, "commit", wraps=connection.commit) as commit:
            outcomes = list(processing.process_events(events))

        assert outcomes == ["processed"] * 10
        assert commit.call_count == 3
        assert received.call_count == 10


@pytest.mark.django_db(transaction=True)
def test_raising_on_commit_callback_does_not_stop_batched_reprocessing(caplog):
    from django_seably.processing import process_events

    events = [WebhookEventFactory.create(failed=True) for _ in range(2)]

    def receiver(sender, event, **kwargs):
        transaction.on_commit(lambda: 1 / 0)

    webhook_received.connect(receiver, weak=False)
    try:
        outcomes = list(process_events(events))
    finally:
        webhook_received.disconnect(receiver)

    assert outcomes == ["processed", "processed"]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert "An on_commit callback raised after a batch of Seably events was committed." in caplog.text


class TestRecentFingerprints:
    """A hint of which deliveries are duplicates; wrong, it must cost nothing but time."""

    def test_a_remembered_delivery_that_is_new_after_all_is_processed(self, seably_deliver, created):
        seably_deliver(certificate_body("SB-1"))
        Certificate.objects.all().delete()
        WebhookEvent.objects.all().delete()

        response = seably_deliver(certificate_body("SB-1"))

        assert response.json()["status"] == "accepted"
        assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
        assert Certificate.objects.get().seably_id == "SB-1"
        assert created.call_count == 2

    def test_a_remembered_delivery_that_fails_is_recorded(self, seably_deliver, failing_receiver):
        failing_receiver["fail"] = False
        seably_deliver(certificate_body("SB-1"))
        Certificate.objects.all().delete()
        WebhookEvent.objects.all().delete()
        failing_receiver["fail"] = True

        seably_deliver(certificate_body("SB-1"))

        event = WebhookEvent.objects.get()
        assert event.status == WebhookEvent.Status.FAILED
        assert "receiver exploded" in event.last_error
        assert not Certificate.objects.exists()

    def test_the_hint_is_bounded(self, monkeypatch):
        monkeypatch.setattr(hints, "recent_fingerprints", hints.Hint(hints.recent_fingerprints.size))
        for number in range(hints.recent_fingerprints.size + 3):
            hints.recent_fingerprints.remember(str(number))

        assert len(hints.recent_fingerprints) <= hints.recent_fingerprints.size

    def test_a_remembered_duplicate_is_counted_by_one_update(self, seably_deliver, received):
        first = seably_deliver(certificate_body("SB-1")).json()

        again = seably_deliver(certificate_body("SB-1")).json()

        assert again == {"status": "duplicate", "event_id": first["event_id"]}
        assert WebhookEvent.objects.get().delivery_count == 2
        assert received.call_count == 1

    @pytest.mark.parametrize("change", ["rotate", "deactivate"])
    def test_a_remembered_duplicate_to_an_endpoint_gone_is_404(self, seably_deliver, seably_endpoint, change):
        old_path = seably_endpoint.webhook_path
        seably_deliver(certificate_body("SB-1"))
        if change == "rotate":
            seably_endpoint.token = generate_token()
        else:
            seably_endpoint.is_active = False
        seably_endpoint.save()

        response = Client().post(old_path, data=json.dumps(certificate_body("SB-1")), content_type="application/json")

        assert response.status_code == 404
        assert WebhookEvent.objects.get().delivery_count == 1

    def test_a_remembered_duplicate_from_another_endpoint_counts_on_the_first(self, seably_deliver, seably_endpoint):
        first = seably_deliver(certificate_body("SB-1")).json()
        other = EndpointFactory.create(name="other")

        again = seably_deliver(certificate_body("SB-1"), endpoint=other).json()

        assert again == {"status": "duplicate", "event_id": first["event_id"]}
        assert WebhookEvent.objects.get().endpoint == seably_endpoint

    def test_count_delivery_finds_nothing_for_an_unknown_fingerprint(self, seably_endpoint):
        assert WebhookEvent.objects.count_delivery("0" * 64, token=seably_endpoint.token) is None
