"""seably_refresh_certificates: the columns follow a changed CERTIFICATE_FIELDS, without signals."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_seably.models import Certificate, WebhookEvent
from django_seably.testing import certificate_body

pytestmark = pytest.mark.django_db


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command("seably_refresh_certificates", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def body_with_email_elsewhere(seably_id: str, email: str) -> dict[str, Any]:
    """A certificate whose learner email sits where the default mapping does not look."""
    body = certificate_body(seably_id, learner_email=None)
    body["payload"]["data"]["learner"] = {"mail": email}
    return body


@pytest.fixture
def stored(seably_deliver: Any) -> list[Certificate]:
    for n in range(5):
        seably_deliver(body_with_email_elsewhere(f"SB-{n}", f"crew{n}@example.com"))
    return list(Certificate.objects.order_by("pk"))


def test_a_changed_mapping_fills_the_columns(stored, settings, created):
    assert {c.learner_email for c in stored} == {""}
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}}

    output = run()

    assert output == "Done: 5 certificates refreshed, 5 changed, 0 already up to date.\n"
    assert [c.learner_email for c in Certificate.objects.order_by("pk")] == [f"crew{n}@example.com" for n in range(5)]
    created.assert_not_called()


def test_only_changed_columns_and_rows_are_written(stored, settings):
    before = {c.pk: (c.learner_name, c.course_name, c.issued_at, c.expires_on, c.url, c.updated_at) for c in stored}
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}}
    Certificate.objects.filter(seably_id="SB-0").update(data={"type": "certificate", "id": "SB-0"})

    run()

    for certificate in Certificate.objects.exclude(seably_id="SB-0"):
        assert (
            certificate.learner_name,
            certificate.course_name,
            certificate.issued_at,
            certificate.expires_on,
            certificate.url,
        ) == before[certificate.pk][:5]
        assert certificate.updated_at > before[certificate.pk][5]
    emptied = Certificate.objects.get(seably_id="SB-0")
    assert (emptied.learner_email, emptied.learner_name, emptied.course_name, emptied.url) == ("", "", "", "")
    assert (emptied.issued_at, emptied.expires_on) == (None, None)


def test_running_again_changes_nothing(stored, settings):
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}}
    run()
    updated_at = list(Certificate.objects.order_by("pk").values_list("updated_at", flat=True))

    output = run()

    assert output.splitlines()[-1] == "Done: 5 certificates refreshed, 0 changed, 5 already up to date."
    assert list(Certificate.objects.order_by("pk").values_list("updated_at", flat=True)) == updated_at


def test_batches_show_progress(stored, settings):
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}}

    output = run("--batch-size", "2", "--verbosity", "2")

    assert output == (
        "Refreshed 2 of 5 certificates (2 changed).\n"
        "Refreshed 4 of 5 certificates (4 changed).\n"
        "Refreshed 5 of 5 certificates (5 changed).\n"
        "Done: 5 certificates refreshed, 5 changed, 0 already up to date.\n"
    )


def test_queries_per_batch_not_per_certificate(seably_deliver, settings):
    """Memory and queries stay flat: a read and a bulk write per batch, whatever the batch holds."""
    for n in range(12):
        seably_deliver(body_with_email_elsewhere(f"SB-{n}", f"crew{n}@example.com"))
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}}

    with CaptureQueriesContext(connection) as queries:
        run("--batch-size", "4")

    sql = [q["sql"] for q in queries.captured_queries]
    keys = [q for q in sql if q.startswith("SELECT") and "seably_certificate" in q and "LIMIT 4" in q]
    reads = [q for q in sql if q.startswith("SELECT") and '"data"' in q]
    writes = [q for q in sql if q.startswith("UPDATE")]
    assert len(keys) == 4  # 3 full batches of ids and the empty one that ends the walk
    assert len(reads) == 3  # each batch's rows, locked in its transaction
    assert all("IN (" in q for q in reads)
    assert len(writes) == 3


def test_nothing_to_refresh(db):
    assert run() == "No certificates to refresh.\n"


@pytest.mark.parametrize("value", ["0", "-1"])
def test_batch_size_must_be_positive(db, value):
    with pytest.raises(CommandError) as error:
        run("--batch-size", value)

    assert str(error.value) == "--batch-size must be 1 or more."


def test_batch_size_must_be_a_number(db):
    with pytest.raises(CommandError) as error:
        run("--batch-size", "many")

    assert str(error.value) == "Error: argument --batch-size: invalid int value: 'many'"


def test_with_link_users_on_it_says_to_link_the_changed_certificates(stored, settings):
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}, "LINK_USERS": True}

    assert run().splitlines()[-1] == (
        "LINK_USERS is on: run seably_link_users to link the certificates whose emails changed."
    )
    assert run().splitlines()[-1].startswith("Done: ")  # nothing changed: nothing to link


# --- certificates deleted by mistake come back -----------------------------------------------------------------


def test_a_deleted_certificate_is_recreated_from_its_newest_event(seably_deliver, created, received):
    first = seably_deliver(certificate_body("SB-1", learner_email="old@example.com")).json()["event_id"]
    newest = seably_deliver(certificate_body("SB-1", learner_email="new@example.com")).json()["event_id"]
    seably_deliver(certificate_body("SB-2"))
    payload = WebhookEvent.objects.get(pk=newest).payload
    assert payload is not None
    newest_data = payload["payload"]["data"]
    assert Certificate.objects.get(seably_id="SB-1").event_id == first  # an update keeps the first event
    Certificate.objects.filter(seably_id="SB-1").delete()
    created.reset_mock()
    received.reset_mock()

    output = run()

    certificate = Certificate.objects.get(seably_id="SB-1")
    assert certificate.event_id == newest
    assert certificate.data == newest_data
    assert certificate.learner_email == "new@example.com"
    assert Certificate.objects.count() == 2
    created.assert_not_called()
    received.assert_not_called()
    assert output == (
        "Done: 1 certificate refreshed, 0 changed, 1 already up to date.\n"
        "Recreated 1 missing certificate from its newest stored certificate.created event.\n"
    )
    assert run().splitlines()[-1].startswith("Done: 2 certificates refreshed")  # nothing missing any more


def test_only_processed_certificate_created_events_with_their_payload_restore(seably_deliver, settings):
    seably_deliver(certificate_body("SB-PRUNED"))
    seably_deliver(certificate_body("SB-FAILED"))
    seably_deliver({"event": "course.completed", "payload": {"data": {"type": "course", "id": "SB-OTHER"}}})
    WebhookEvent.objects.filter(object_id="SB-PRUNED").update(payload=None, body="")
    WebhookEvent.objects.filter(object_id="SB-FAILED").update(status="failed")
    Certificate.objects.all().delete()

    assert run() == "No certificates to refresh.\n"
    assert not Certificate.objects.exists()


def test_many_missing_certificates_in_batches(seably_deliver, django_assert_max_num_queries):
    for n in range(7):
        seably_deliver(certificate_body(f"SB-{n}"))
        seably_deliver(certificate_body(f"SB-{n}", learner_name=f"Again {n}"))
    Certificate.objects.all().delete()
    events = dict(WebhookEvent.objects.order_by("pk").values_list("object_id", "pk"))  # the newest per id wins

    # Queries per batch of 3, not per certificate: 3 batches (walk, newest, read, insert+savepoints, recreated).
    with django_assert_max_num_queries(30):
        output = run("--batch-size", "3", "--verbosity", "2")

    assert dict(Certificate.objects.values_list("seably_id", "event")) == events
    assert [c.learner_name for c in Certificate.objects.order_by("seably_id")] == [f"Again {n}" for n in range(7)]
    lines = output.splitlines()
    details = [line for line in lines if line.startswith("Recreated certificate ")]
    assert details == [f"Recreated certificate SB-{n} from event #{events[f'SB-{n}']}." for n in range(7)]
    # A batch of 3 events holds 2 certificates' events; those after a recreated certificate are skipped.
    assert [line for line in lines if line.endswith("so far.")] == [
        "Recreated 2 missing certificates so far.",
        "Recreated 4 missing certificates so far.",
        "Recreated 6 missing certificates so far.",
        "Recreated 7 missing certificates so far.",
    ]
    assert lines[-1] == "Recreated 7 missing certificates from their newest stored certificate.created events."


def test_a_recreated_certificate_is_linked_when_link_users_is_on(seably_deliver, settings, django_user_model):
    user = django_user_model.objects.create(username="ingrid", email="Ingrid@example.com")
    seably_deliver(certificate_body("SB-1", learner_email="ingrid@example.com"))
    Certificate.objects.all().delete()
    settings.SEABLY = {"LINK_USERS": True}

    run()

    assert Certificate.objects.get().user == user


def test_verbosity_0_prints_nothing(stored, settings, seably_deliver):
    settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["learner.mail"]}}
    Certificate.objects.filter(seably_id="SB-0").delete()
    out, err = io.StringIO(), io.StringIO()

    call_command("seably_refresh_certificates", "--batch-size", "2", verbosity=0, stdout=out, stderr=err)

    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert Certificate.objects.get(seably_id="SB-0").learner_email == "crew0@example.com"
    assert Certificate.objects.exclude(learner_email__endswith="@example.com").count() == 0
