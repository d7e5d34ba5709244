from __future__ import annotations

import io
import json
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_seably.models import Certificate, WebhookEvent
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
    body = certificate_body("SB-1", learner_email="a@example.com")
    seably_deliver(body)

    event = WebhookEvent.objects.get()
    certificate = Certificate.objects.get()
    received.assert_called_once_with(signal=webhook_received, sender=WebhookEvent, event=mock.ANY)
    created.assert_called_once_with(
        signal=certificate_created, sender=WebhookEvent, event=mock.ANY, certificate=mock.ANY
    )
    assert created.call_args.kwargs["event"].pk == event.pk
    assert created.call_args.kwargs["certificate"].pk == certificate.pk
    assert certificate.event == event
    assert certificate.data == body["payload"]["data"]


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
    seably_deliver(certificate_body("SB-1", course_name="Old"))
    first = Certificate.objects.get()

    seably_deliver(certificate_body("SB-1", course_name="New"))

    certificate = Certificate.objects.get()
    assert certificate.pk == first.pk
    assert certificate.course_name == "New"
    assert certificate.data["attributes"]["course_title"] == "New"
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

    real = WebhookEvent.objects.store
    calls = []

    def refuse_valid(event):
        calls.append(event.status)
        if event.status != "invalid":
            raise DataError("unsupported Unicode escape sequence")
        return real(event)

    with mock.patch.object(WebhookEvent.objects, "store", side_effect=refuse_valid):
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

    def test_new_certificate_event(self, seably_deliver):
        seably_deliver(certificate_body("SB-0"))
        total, sql = self.count(seably_deliver, certificate_body("SB-1"))
        # endpoint SELECT; BEGIN, event INSERT, COMMIT (stored); BEGIN, claim UPDATE,
        # certificate INSERT, COMMIT (processed)
        assert total == 8, sql

    def test_duplicate(self, seably_deliver):
        seably_deliver(certificate_body("SB-1"))
        total, sql = self.count(seably_deliver, certificate_body("SB-1"))
        # endpoint SELECT; BEGIN, event INSERT counting the delivery, COMMIT; nothing processed
        assert total == 4, sql

    def test_invalid_body(self, seably_deliver):
        total, sql = self.count(seably_deliver, b"{oops")
        assert total == 4, sql
        total, sql = self.count(seably_deliver, b"{oops")
        assert total == 4, sql

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
    assert f"An on_commit callback raised after Seably event {event.pk} was processed." in caplog.text


class TestManyEvents:
    """Reprocessing many events: each in a transaction of its own."""

    def test_a_failing_event_fails_alone(self, failing_receiver):
        events = [WebhookEventFactory.create(failed=True) for _ in range(3)]
        failing_receiver["fail"] = False

        def picky(sender, event, **kwargs):
            if event.pk == events[1].pk:
                raise Boom("only this one")

        webhook_received.connect(picky, weak=False)
        try:
            outcomes = [process_event(event) for event in events]
        finally:
            webhook_received.disconnect(picky)

        assert outcomes == ["processed", "failed", "processed"]
        statuses = [WebhookEvent.objects.get(pk=e.pk).status for e in events]
        assert statuses == ["processed", "failed", "processed"]
        assert not Certificate.objects.filter(seably_id=events[1].object_id).exists()
        assert Certificate.objects.count() == 2
        assert WebhookEvent.objects.get(pk=events[1].pk).attempts == 2

    @pytest.mark.django_db(transaction=True)
    def test_one_commit_per_event(self, received):
        endpoint = EndpointFactory.create()
        events = [WebhookEventFactory.create(failed=True, endpoint=endpoint) for _ in range(3)]

        with mock.patch.object(connection, "commit", wraps=connection.commit) as commit:
            outcomes = [process_event(event) for event in events]

        assert outcomes == ["processed"] * 3
        assert commit.call_count == 3
        assert received.call_count == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reprocess", ["command", "admin", "admin with ATOMIC_REQUESTS"])
def test_a_raising_on_commit_callback_does_not_stop_the_other_events(reprocess, caplog, admin_client, monkeypatch):
    """The issue's reproduction: three failed events, the first one's callback raises, the others' still run."""
    events = [WebhookEventFactory.create(failed=True) for _ in range(3)]
    ran = []
    if reprocess == "admin with ATOMIC_REQUESTS":
        monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)

    def receiver(sender, event, **kwargs):
        def callback():
            if event.pk == events[0].pk:
                raise Boom("callback exploded")
            ran.append(event.pk)

        transaction.on_commit(callback)

    webhook_received.connect(receiver, weak=False)
    try:
        if reprocess == "command":
            from django.core.management import call_command

            call_command("seably_reprocess", "--failed", stdout=io.StringIO())
        else:
            response = admin_client.post(
                "/admin/django_seably/webhookevent/",
                {"action": "reprocess", "_selected_action": [event.pk for event in events]},
            )
            assert response.status_code == 302
    finally:
        webhook_received.disconnect(receiver)

    assert sorted(ran) == sorted(event.pk for event in events[1:])
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert f"An on_commit callback raised after Seably event {events[0].pk} was processed." in caplog.text


def test_a_duplicate_from_another_endpoint_counts_on_the_first(seably_deliver, seably_endpoint):
    first = seably_deliver(certificate_body("SB-1")).json()
    other = EndpointFactory.create(name="other")

    again = seably_deliver(certificate_body("SB-1"), endpoint=other).json()

    assert again == {"status": "duplicate", "event_id": first["event_id"]}
    event = WebhookEvent.objects.get()
    assert (event.endpoint, event.delivery_count) == (seably_endpoint, 2)


def test_a_stale_instance_still_counts_every_attempt(received):
    event = WebhookEventFactory.create(failed=True)  # attempts=1
    stale = WebhookEvent.objects.get(pk=event.pk)
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=5)  # attempts counted elsewhere since

    assert process_event(stale) == "processed"

    assert stale.attempts == 6
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 6)


@pytest.mark.django_db(transaction=True)
def test_the_certificate_is_built_before_the_write_transaction(seably_deliver, monkeypatch):
    from django_seably import processing

    extract = processing.extract_fields  # type: ignore[attr-defined]
    in_transaction = []

    def spy(data):
        in_transaction.append(connection.in_atomic_block)
        return extract(data)

    monkeypatch.setattr(processing, "extract_fields", spy)

    seably_deliver(certificate_body("SB-1", learner_email="a@example.com"))

    assert in_transaction == [False]
    assert Certificate.objects.get().learner_email == "a@example.com"


def test_a_certificate_without_an_id_fails_before_the_transaction_and_is_recorded(seably_deliver):
    seably_deliver({"event": "certificate.created", "payload": {"data": {"type": "certificate"}}})

    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("failed", 1)
    assert "certificate.created needs payload.data.id" in event.last_error


def test_types_nobody_listens_to_add_no_signal(seably_deliver, received):
    from django_seably import signals

    seably_deliver({"event": "seably.invented.type", "payload": {"data": {"id": "X-1"}}})

    assert received.call_count == 1
    assert signals.connected_signal_for("seably.invented.type") is None
    assert signals.signal_for("seably.invented.type") is signals.signal_for("seably.invented.type")
