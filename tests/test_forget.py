"""``seably_forget``: a learner's certificates go, their events become tombstones; deduplication and others stay."""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.models import ProtectedError, Value
from django.db.models.functions import Collate, Lower
from django.db.models.signals import pre_delete
from django.test.utils import CaptureQueriesContext

from django_seably.erasure import ERASED_NOTE, AsciiLowerText, address_pattern, body_mentions, search_fragment
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.processing import process_event
from django_seably.signals import webhook_received
from django_seably.testing import certificate_body, create_endpoint, deliver

pytestmark = pytest.mark.django_db

ALICE = "alice.martin@example.com"


def forget(*args: str, verbosity: int = 1) -> str:
    out = io.StringIO()
    call_command("seably_forget", *args, stdout=out, verbosity=verbosity)
    return out.getvalue()


def snapshot(model: Any) -> list[dict[str, Any]]:
    return list(model.objects.order_by("pk").values())


def deliver_ok(body: Any, endpoint: Endpoint, **kwargs: Any) -> WebhookEvent:
    response = deliver(body, endpoint=endpoint, **kwargs)
    assert response.status_code in (200, 400), response.content
    return WebhookEvent.objects.latest("pk")


def assert_tombstone(event: WebhookEvent, status: str) -> None:
    before = (event.fingerprint, event.event_type, event.object_id, event.delivery_count, event.received_at)
    event.refresh_from_db()
    assert (event.body, event.raw_body, event.payload, event.headers) == ("", None, None, {})
    assert (event.fingerprint, event.event_type, event.object_id, event.delivery_count, event.received_at) == before
    assert event.status == status


@pytest.fixture
def endpoint() -> Endpoint:
    return create_endpoint("main")


@pytest.fixture
def learners(endpoint: Endpoint) -> dict[str, Any]:
    """Certificates and events of three learners, Alice's in several shapes."""
    alice_cert = deliver_ok(certificate_body("SB-A1", learner_email="Alice.Martin@Example.com"), endpoint)
    alice_second = deliver_ok(certificate_body("SB-A2", learner_email=ALICE), endpoint)
    alice_future = deliver_ok(
        {"event": "user.invited", "payload": {"data": {"type": "user", "id": "U1", "to": f"Alice <{ALICE}>"}}},
        endpoint,
        headers={"X-Request-Note": "invitation"},
    )
    alice_invalid = deliver_ok(f'{{"event": "certificate.created", "email": "{ALICE}", oops', endpoint)
    bob = deliver_ok(certificate_body("SB-B1", learner_email="bob@example.com"), endpoint)
    # Another address that holds Alice's as a part: not hers.
    jim = deliver_ok(certificate_body("SB-J1", learner_email=f"jim{ALICE}"), endpoint)
    return {
        "alice": [alice_cert, alice_second, alice_future],
        "alice_invalid": alice_invalid,
        "others": [bob, jim],
    }


def test_erases_the_learners_events_and_certificates_and_nobody_elses(learners):
    others_events = [snapshot_of(event) for event in learners["others"]]
    others_certificates = list(Certificate.objects.exclude(seably_id__in=["SB-A1", "SB-A2"]).values())
    assert len(others_certificates) == 2

    output = forget("--email", "ALICE.martin@example.COM")

    assert output == (
        "Deleted 2 certificates and erased the personal data of 4 events; the event rows stay, "
        "so Seably resending one is still a duplicate.\n"
    )
    assert not Certificate.objects.filter(seably_id__in=["SB-A1", "SB-A2"]).exists()
    for event in learners["alice"]:
        assert_tombstone(event, "processed")
    assert_tombstone(learners["alice_invalid"], "invalid")
    assert [snapshot_of(event) for event in learners["others"]] == others_events
    assert list(Certificate.objects.exclude(seably_id__in=["SB-A1", "SB-A2"]).values()) == others_certificates


def snapshot_of(event: WebhookEvent) -> dict[str, Any]:
    return dict(WebhookEvent.objects.filter(pk=event.pk).values().get())


def test_a_resend_after_erasure_is_a_duplicate_and_recreates_nothing(endpoint, received, created):
    body = certificate_body("SB-A1", learner_email=ALICE, learner_name="Alice Martin")
    deliver_ok(body, endpoint)
    forget("--email", ALICE)
    received.reset_mock()

    response = deliver(body, endpoint=endpoint)

    assert response.json()["status"] == "duplicate"
    event = WebhookEvent.objects.get()
    assert (event.delivery_count, event.body, event.payload) == (2, "", None)
    assert not Certificate.objects.exists()
    received.assert_not_called()
    # Nothing else recreates it from the tombstone either.
    assert process_event(event) == "skipped"
    call_command("seably_refresh_certificates", stdout=io.StringIO())
    call_command("seably_reprocess", "--failed", stdout=io.StringIO())
    assert not Certificate.objects.exists()
    assert created.call_count == 1  # the first delivery only


def test_every_stored_event_of_a_deleted_certificate_is_erased_so_nothing_recreates_it(endpoint):
    """Sent first with the learner's old address: no mention of the new one, but the same certificate."""
    before = deliver_ok(
        certificate_body("SB-A1", learner_email="a.martin@old.example", learner_name="A. Martin"), endpoint
    )
    after = deliver_ok(certificate_body("SB-A1", learner_email=ALICE, learner_name="Alice Martin"), endpoint)
    # Another kind of object that happens to have the same id: not about the certificate.
    user = deliver_ok({"event": "user.updated", "payload": {"data": {"type": "user", "id": "SB-A1"}}}, endpoint)
    user_body = WebhookEvent.objects.get(pk=user.pk).body

    assert forget("--email", ALICE, "--dry-run").startswith("Would delete 1 certificate and erase 2 events")
    output = forget("--email", ALICE)

    assert output.startswith("Deleted 1 certificate and erased the personal data of 2 events;")
    assert_tombstone(before, "processed")
    assert_tombstone(after, "processed")
    assert WebhookEvent.objects.get(pk=user.pk).body == user_body
    call_command("seably_refresh_certificates", stdout=io.StringIO())
    assert not Certificate.objects.exists()


def test_pending_and_failed_events_become_invalid_and_are_never_processed(endpoint):
    pending = deliver_ok(certificate_body("SB-P", learner_email=ALICE), endpoint)
    failed = deliver_ok(certificate_body("SB-F", learner_email=ALICE), endpoint)
    WebhookEvent.objects.filter(pk=pending.pk).update(status="pending", processed_at=None)
    WebhookEvent.objects.filter(pk=failed.pk).update(status="failed", last_error=f"Traceback: {ALICE} refused")

    forget("--email", ALICE)

    for event in (pending, failed):
        assert_tombstone(event, "invalid")
        assert event.last_error == ERASED_NOTE
        assert process_event(event) == "invalid"
        event.refresh_from_db()
        assert (event.status, event.body, event.payload) == ("invalid", "", None)
    assert not Certificate.objects.exists()


def test_an_address_escaped_in_the_body_is_found(endpoint):
    address = "josé.núñez@example.com"
    body = certificate_body("SB-E", learner_email=address)
    event = deliver_ok(json.dumps(body, ensure_ascii=True), endpoint)  # "jos\u00e9.n\u00fa\u00f1ez@..."
    assert address not in event.body
    other = deliver_ok(certificate_body("SB-O", learner_email="jose.nunez@example.com"), endpoint)

    output = forget("--email", "JOSé.núñez@example.com")

    assert output.startswith("Deleted 1 certificate and erased the personal data of 1 event;")
    assert_tombstone(event, "processed")
    assert Certificate.objects.get().seably_id == "SB-O"
    assert WebhookEvent.objects.get(pk=other.pk).payload is not None


def test_an_address_whose_plain_letters_are_escaped_is_found(endpoint):
    """No usual encoder writes "a" as \\u0061, but the parsed payload, as the database writes it, has it plain."""
    event = deliver_ok(
        '{"event": "user.invited", "payload": {"data": {"type": "user", "to": "\\u0061lice.martin@example.com"}}}',
        endpoint,
    )
    other = deliver_ok(certificate_body("SB-O", learner_email="bob@example.com"), endpoint)

    assert forget("--email", ALICE).startswith("Deleted 0 certificates and erased the personal data of 1 event;")

    assert_tombstone(event, "processed")
    assert WebhookEvent.objects.get(pk=other.pk).payload is not None


def test_an_invalid_utf8_body_is_erased_with_its_raw_bytes(endpoint):
    raw = f'{{"email": "{ALICE}", "bad": "\xff"}}'.encode("latin-1")
    event = deliver_ok(raw, endpoint)
    assert event.raw_body is not None

    forget("--email", ALICE)

    assert_tombstone(event, "invalid")


def test_certificates_without_a_learner_email_go_and_other_learners_stay(endpoint):
    unnamed = deliver_ok(certificate_body("SB-U", learner_email="", contact={"mail": ALICE.upper()}), endpoint)
    colleague = deliver_ok(certificate_body("SB-C", learner_email="carol@example.com", manager=ALICE), endpoint)
    assert Certificate.objects.get(seably_id="SB-U").learner_email == ""

    output = forget("--email", ALICE)

    carol = Certificate.objects.get()
    assert carol.seably_id == "SB-C"
    assert output.splitlines() == [
        "Deleted 1 certificate and erased the personal data of 2 events; the event rows stay, "
        "so Seably resending one is still a duplicate.",
        f"Kept 1 certificate of other learners whose data mentions the address (ids {carol.pk}): review them.",
    ]
    assert_tombstone(unnamed, "processed")
    assert_tombstone(colleague, "processed")


def test_a_dry_run_counts_and_changes_nothing(learners):
    events, certificates = snapshot(WebhookEvent), snapshot(Certificate)

    output = forget("--email", ALICE, "--dry-run")

    assert output == "Would delete 2 certificates and erase 4 events (dry run: nothing changed).\n"
    assert (snapshot(WebhookEvent), snapshot(Certificate)) == (events, certificates)


def test_nothing_found_says_so(learners):
    events = snapshot(WebhookEvent)

    assert forget("--email", "nobody@example.com") == "Nothing stored mentions this address: nothing to erase.\n"
    assert snapshot(WebhookEvent) == events


@pytest.mark.parametrize("dry_run", [False, True])
def test_logs_who_ran_it_and_how_many_rows_never_the_address(learners, caplog, monkeypatch, dry_run):
    monkeypatch.setattr("getpass.getuser", lambda: "dpo-operator")
    caplog.set_level(logging.DEBUG)

    output = forget("--email", ALICE, *(["--dry-run"] if dry_run else []))

    records = [r for r in caplog.records if r.name.startswith("django_seably")]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "OS user dpo-operator" in message and "management command" in message
    assert "2 certificates deleted, 4 events erased" in message
    assert ("dry run" in message) is dry_run
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}".lower()
        assert "alice" not in text
    assert "alice" not in output.lower()


def test_an_os_without_a_user_name_logs_unknown(learners, caplog, monkeypatch):
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr("getpass.getuser", no_user)
    caplog.set_level(logging.INFO, logger="django_seably")

    forget("--email", ALICE)

    assert "OS user unknown" in caplog.records[-1].getMessage()


def test_verbosity(learners):
    assert forget("--email", ALICE, verbosity=0) == ""
    assert forget("--email", "bob@example.com", "--batch-size", "2", verbosity=2).splitlines() == [
        f"Events up to id {learners['others'][0].pk}: 1 erased so far.",
        "Deleted 1 certificate and erased the personal data of 1 event; the event rows stay, "
        "so Seably resending one is still a duplicate.",
    ]


@pytest.mark.parametrize(
    "address",
    ["", "   ", "alice", "@example.com", "alice@", "alice martin@example.com", "a\x00@x.com", "a" * 250 + "@x.com"],
)
def test_anything_but_one_address_is_refused_and_changes_nothing(learners, address):
    events, certificates = snapshot(WebhookEvent), snapshot(Certificate)

    with pytest.raises(CommandError, match=r"^--email: Give one email address .*like learner@example.com\.$"):
        forget("--email", address)

    assert (snapshot(WebhookEvent), snapshot(Certificate)) == (events, certificates)


@pytest.mark.django_db(transaction=True)
def test_a_certificate_protected_by_a_project_model_is_reported_after_the_events(learners, caplog):
    """As Django's deletion collector raises for a PROTECT foreign key of the project's own model.

    (Raised from pre_delete, inside the deletion's transaction: no test transaction may wrap it.)
    """

    def protect(sender: Any, instance: Certificate, **kwargs: Any) -> None:
        raise ProtectedError(
            "Cannot delete some instances of model 'Certificate' because they are referenced through "
            "protected foreign keys: 'Diploma.certificate'.",
            {instance},
        )

    pre_delete.connect(protect, sender=Certificate, weak=False)
    try:
        with pytest.raises(CommandError, match=r"^The events were erased, but certificates could not be deleted: "):
            forget("--email", ALICE)
    finally:
        pre_delete.disconnect(protect, sender=Certificate)

    for event in learners["alice"]:
        assert_tombstone(event, "processed")
    assert Certificate.objects.filter(seably_id__in=["SB-A1", "SB-A2"]).count() == 2
    assert "Diploma.certificate" in caplog.text
    assert "alice" not in caplog.text.lower()
    assert forget("--email", ALICE).startswith("Deleted 2 certificates and erased the personal data of 0 events;")


def test_batch_size_must_be_positive(learners):
    with pytest.raises(CommandError, match="--batch-size must be 1 or more"):
        forget("--email", ALICE, "--batch-size", "0")


def test_events_are_read_in_bounded_batches(endpoint):
    for number in range(7):
        deliver_ok(certificate_body(f"SB-{number}", learner_email=ALICE if number % 2 else "bob@example.com"), endpoint)

    with CaptureQueriesContext(connection) as queries:
        output = forget("--email", ALICE, "--batch-size", "2")

    assert output.startswith("Deleted 3 certificates and erased the personal data of 3 events;")
    reads = [
        q["sql"] for q in queries if q["sql"].startswith('SELECT "django_seably_webhookevent"') and "LOWER(" in q["sql"]
    ]
    # Three of seven events match the text search: a batch of 2, then one of 1, which ends the walk.
    assert len(reads) == 2
    assert all("LIMIT 2" in sql for sql in reads)
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 2


@pytest.mark.parametrize(
    "text",
    [
        "alice.martin@example.com",
        "ALICE.MARTIN@EXAMPLE.COM",
        "mailto:alice.martin@example.com",
        "Alice <alice.martin@example.com>",
        "write to alice.martin@example.com.",
        "alice.martin@example.com, bob@example.com",
        "(alice.martin@example.com)",
    ],
)
def test_the_address_is_found_as_a_whole_address(text):
    assert address_pattern(ALICE).search(text)


@pytest.mark.parametrize(
    "text",
    [
        "jimalice.martin@example.com",
        "x.alice.martin@example.com",
        "jim+alice.martin@example.com",
        "alice.martin@example.com.au",
        "alice.martin@example.community",
        "alice.martin@example.co",
        "alice.martin@example-com",
        "alice.martin@example.com-mail.net",
        "ålice.martin@example.com"[0] + ALICE,  # a non-ASCII letter before it: another address
        "alice.martın@example.com",  # dotless i: not the ASCII letter, not folded
    ],
)
def test_a_longer_or_other_address_is_not_the_address(text):
    assert not address_pattern(ALICE).search(text)


def test_escapes_are_decoded_before_matching():
    pattern = address_pattern("bob@x.com")
    assert body_mentions('{"to": "b\\u006fb@x.com"}', pattern)
    assert body_mentions('{"to": "bob\\u0040x.com"}', pattern)
    assert not body_mentions('{"to": "jim\\u0062ob@x.com"}', pattern)
    assert not body_mentions("not json \\u0062ob@x.com", pattern)


def test_the_database_searches_what_json_writes_literally():
    assert search_fragment("Alice.Martin@Example.com") == "alice.martin@example.com"
    assert search_fragment("josé.núñez@example.com") == "ez@example.com"
    assert search_fragment("a/b@x.com") == "b@x.com"
    assert search_fragment("tom&jerry@cartoons.example") == "jerry@cartoons.example"


@pytest.mark.postgres
def test_the_text_search_folds_ascii_letters_only_whatever_the_collation():
    """Under a Turkish collation, LOWER folds "I" to "ı" (and ILIKE misses "ALICE"): the search does not."""
    text = Collate(Value("ALICE.MARTIN@EXAMPLE.COM İ É"), "tr-x-icu")
    row = Endpoint.objects.annotate(ours=AsciiLowerText(text), databases=Lower(text)).values("ours", "databases")

    create_endpoint("main")

    assert row.get() == {"ours": "alice.martin@example.com İ É", "databases": "alıce.martın@example.com i é"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_certificate_processed_during_the_erasure_is_deleted_too():
    """Events are erased first: the erasure waits for a processing transaction holding the event's row."""
    endpoint = create_endpoint("main")
    body = certificate_body("SB-RACE", learner_email=ALICE)
    deliver(body, endpoint=endpoint)
    event = WebhookEvent.objects.get()
    Certificate.objects.all().delete()
    WebhookEvent.objects.filter(pk=event.pk).update(status="pending")
    event.refresh_from_db()
    inside, release = threading.Event(), threading.Event()

    def hold(**kwargs: Any) -> None:
        inside.set()
        assert release.wait(10)

    def process() -> None:
        try:
            process_event(event)
        finally:
            connections.close_all()

    results: list[str] = []

    def erase() -> None:
        try:
            results.append(forget("--email", ALICE))
        finally:
            connections.close_all()

    webhook_received.connect(hold, weak=False)
    try:
        processor = threading.Thread(target=process)
        processor.start()
        assert inside.wait(10)  # the certificate is saved, the transaction still open
        eraser = threading.Thread(target=erase)
        eraser.start()
        eraser.join(1)
        assert eraser.is_alive()  # waiting for the event's row lock
        release.set()
        processor.join(10)
        eraser.join(10)
    finally:
        release.set()
        webhook_received.disconnect(hold)
    assert results == [
        "Deleted 1 certificate and erased the personal data of 1 event; the event rows stay, "
        "so Seably resending one is still a duplicate.\n"
    ]
    assert not Certificate.objects.exists()
    assert_tombstone(event, "processed")
    assert transaction.get_autocommit()


def test_call_command_with_keyword_arguments(learners):
    out = io.StringIO()
    call_command("seably_forget", email=ALICE, dry_run=True, stdout=out)
    assert out.getvalue() == "Would delete 2 certificates and erase 4 events (dry run: nothing changed).\n"
    call_command("seably_forget", email=ALICE, stdout=out)
    assert not Certificate.objects.filter(seably_id__in=["SB-A1", "SB-A2"]).exists()
