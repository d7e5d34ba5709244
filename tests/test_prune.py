"""``seably_prune``: old processed events lose their contents, never their fingerprint; nothing else is touched."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_seably.models import Certificate, WebhookEvent
from tests.factories import CertificateFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("seably_prune", *args, stdout=out)
    return out.getvalue()


def old_event(days: float = 40, **fields: object) -> WebhookEvent:
    fields.setdefault("processed", True)
    return WebhookEventFactory.create(
        received_at=timezone.now() - days * DAY, headers={"User-Agent": "Seably"}, **fields
    )


def assert_pruned(event: WebhookEvent) -> None:
    before = (event.fingerprint, event.object_id, event.event_type, event.delivery_count, event.received_at)
    event.refresh_from_db()
    assert (event.body, event.raw_body, event.payload, event.headers) == ("", None, None, {})
    assert (event.fingerprint, event.object_id, event.event_type, event.delivery_count, event.received_at) == before
    assert event.status == "processed"


def assert_intact(event: WebhookEvent) -> None:
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert (stored.body, stored.payload, stored.headers, stored.status) == (
        event.body,
        event.payload,
        event.headers,
        event.status,
    )


def test_processed_events_older_than_the_days_lose_their_contents():
    old = [old_event(40), old_event(31)]
    recent = [old_event(29), old_event(0)]

    output = prune("--older-than", "30d")

    for event in old:
        assert_pruned(event)
    for event in recent:
        assert_intact(event)
    assert output.splitlines()[-1].startswith("Pruned 2 processed events received before ")
    assert output.splitlines()[-1].endswith(
        ": their body, payload and headers are deleted; their rows stay, so Seably resending one is still a duplicate."
    )


@pytest.mark.parametrize("status", ["pending", "failed", "invalid"])
def test_other_statuses_are_never_pruned(status):
    event = old_event(400, processed=False, status=status)

    output = prune("--older-than", "1d")

    assert_intact(event)
    assert output.startswith("Nothing to prune: no processed event received before ")


def test_certificates_are_kept_with_their_link_to_the_event():
    certificate = CertificateFactory.create(
        seably_id="SB-C1", event=old_event(40), data={"type": "certificate", "id": "SB-C1", "score": 92}
    )

    prune("--older-than", "30d")

    stored = Certificate.objects.get()
    assert (stored.seably_id, stored.data, stored.event_id) == ("SB-C1", certificate.data, certificate.event_id)
    assert certificate.event is not None
    assert_pruned(certificate.event)


def test_a_resend_of_a_pruned_event_is_still_a_duplicate(seably_deliver, received, created):
    body = certificate_body("SB-1", course_name="Enclosed Space Entry")
    first = seably_deliver(body).json()
    WebhookEvent.objects.update(received_at=timezone.now() - 90 * DAY)
    prune("--older-than", "30d")
    received.reset_mock()
    created.reset_mock()

    # Seably resends it months later, keys in another order: the same JSON.
    again = seably_deliver(json.dumps(body, sort_keys=True, indent=2)).json()

    assert again == {"status": "duplicate", "event_id": first["event_id"]}
    event = WebhookEvent.objects.get()
    assert (event.delivery_count, event.body) == (2, "")
    assert received.call_count == created.call_count == 0


def test_reprocessing_a_pruned_event_does_nothing(received):
    event = old_event(40)
    prune("--older-than", "30d")

    out = io.StringIO()
    call_command("seably_reprocess", "--id", str(event.pk), stdout=out)

    assert out.getvalue().strip() == "Reprocessed 1 event: 0 processed, 0 failed, 0 invalid, 1 skipped."
    assert received.call_count == 0


def test_batches_are_short_updates_with_progress():
    events = [old_event(40) for _ in range(5)]
    ids = [event.pk for event in events]

    with CaptureQueriesContext(connection) as queries:
        output = prune("--older-than", "30d", "--batch-size", "2", "--verbosity", "2")

    updates = [query["sql"] for query in queries if query["sql"].startswith("UPDATE")]
    assert len(updates) == 3
    assert output.splitlines() == [
        f"Pruned 2 events so far (up to id {ids[1]} of {ids[4]}).",
        f"Pruned 4 events so far (up to id {ids[3]} of {ids[4]}).",
        f"Pruned 5 events so far (up to id {ids[4]} of {ids[4]}).",
        output.splitlines()[-1],
    ]
    for event in events:
        assert_pruned(event)


@pytest.mark.django_db(transaction=True)
def test_each_batch_commits_on_its_own(monkeypatch):
    """One UPDATE per batch in autocommit: no transaction (and no lock) spans the batches."""
    events = [old_event(40) for _ in range(3)]
    seen: list[bool] = []
    queryset_class = type(WebhookEvent.objects.all())
    real_update = queryset_class.update

    def update(queryset, **kwargs):
        seen.append(connection.in_atomic_block)
        return real_update(queryset, **kwargs)

    monkeypatch.setattr(queryset_class, "update", update)

    prune("--older-than", "30d", "--batch-size", "1")

    assert seen == [False, False, False]
    for event in events:
        assert_pruned(event)


def test_running_it_again_has_nothing_to_do():
    old_event(40)
    prune("--older-than", "30d")

    assert prune("--older-than", "30d").startswith("Nothing to prune: no processed event received before ")


def test_dry_run_counts_and_changes_nothing():
    events = [old_event(40), old_event(35)]
    old_event(1)

    output = prune("--older-than", "30d", "--dry-run")

    assert output.startswith("Would prune 2 processed events received before ")
    for event in events:
        assert_intact(event)


def test_the_admin_shows_a_pruned_event(admin_client):
    event = old_event(40)
    prune("--older-than", "30d")

    response = admin_client.get(reverse("admin:django_seably_webhookevent_change", args=[event.pk]))

    assert response.status_code == 200


def test_older_than_is_required():
    with pytest.raises(CommandError, match="--older-than"):
        prune()


def test_bad_batch_size_is_an_error():
    with pytest.raises(CommandError, match="--batch-size must be 1 or more."):
        prune("--older-than", "30d", "--batch-size", "0")


@pytest.mark.parametrize("value", ["90", "30", "-1d", "1.5d", "90 d", "90D", "3mo"])
def test_older_than_without_its_unit_is_refused_and_changes_nothing(value):
    """The cron line that emptied the database: `--older-than 10` copied from seably_reprocess (minutes)."""
    events = [old_event(40), old_event(11)]

    with pytest.raises(CommandError) as error:
        prune(f"--older-than={value}")

    assert str(error.value) == (
        f"Error: argument --older-than: {value!r} is not a duration: write a whole number followed by "
        "s (seconds), m (minutes), h (hours) or d (days), e.g. 30s, 10m, 2h, 90d."
    )
    for event in events:
        assert_intact(event)


@pytest.mark.parametrize(("value", "pruned"), [("10m", 3), ("2h", 3), ("1d", 2), ("45d", 0), ("3600s", 3)])
def test_older_than_takes_every_unit(value, pruned):
    old_event(40)
    old_event(2)
    WebhookEventFactory.create(processed=True, received_at=timezone.now() - datetime.timedelta(hours=3))
    WebhookEventFactory.create(processed=True)

    prune("--older-than", value)

    assert WebhookEvent.objects.filter(payload__isnull=True).count() == pruned


def test_verbosity_0_prints_nothing():
    events = [old_event(40) for _ in range(3)]
    out, err = io.StringIO(), io.StringIO()

    call_command("seably_prune", "--older-than", "30d", "--batch-size", "1", verbosity=0, stdout=out, stderr=err)
    call_command("seably_prune", "--older-than", "30d", verbosity=0, stdout=out, stderr=err)  # nothing left to do
    call_command("seably_prune", "--older-than", "1s", "--dry-run", verbosity=0, stdout=out, stderr=err)

    assert (out.getvalue(), err.getvalue()) == ("", "")
    for event in events:
        assert_pruned(event)


def test_verbosity_1_prints_the_summary_only():
    old_event(40)
    old_event(40)

    output = prune("--older-than", "30d", "--batch-size", "1")

    assert len(output.splitlines()) == 1
    assert output.startswith("Pruned 2 processed events received before ")


def test_verbosity_1_on_a_terminal_shows_progress_on_one_line():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    events = [old_event(40) for _ in range(3)]
    out = Terminal()

    call_command("seably_prune", "--older-than", "30d", "--batch-size", "2", stdout=out)

    text = out.getvalue()
    assert text.startswith(f"\rPruned 2 events so far (up to id {events[1].pk} of {events[2].pk}).\x1b[K\r")
    assert f"\rPruned 3 events so far (up to id {events[2].pk} of {events[2].pk}).\x1b[K" in text
    summary = text.rsplit("\r\x1b[K", 1)[1]  # the progress line erased, then the summary on a line of its own
    assert summary.startswith("Pruned 3 processed events received before ") and summary.endswith("duplicate.\n")
