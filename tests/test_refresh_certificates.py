"""seably_refresh_certificates: the columns follow a changed CERTIFICATE_FIELDS, without signals."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_seably.models import Certificate
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

    assert output == (
        "Refreshed 5 of 5 certificates (5 changed).\nDone: 5 certificates refreshed, 5 changed, 0 already up to date.\n"
    )
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

    output = run("--batch-size", "2")

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

    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and '"data"' in q["sql"]]
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(reads) == 4  # 3 full batches and the empty one that ends the walk
    assert all("LIMIT 4" in sql for sql in reads)
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
