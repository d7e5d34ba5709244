"""processing_failed from the outside: a delivery, the retry command, an import; once per failed attempt."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from django_seably.models import Certificate, WebhookEvent
from django_seably.signals import certificate_created, processing_failed
from django_seably.testing import certificate_body

pytestmark = pytest.mark.django_db


class CrmDown(Exception):
    pass


@pytest.fixture
def crm() -> Iterator[dict[str, bool]]:
    """A certificate_created receiver that raises while the CRM is down."""
    state = {"down": True}

    def push_to_crm(sender: Any, certificate: Certificate, **kwargs: Any) -> None:
        if state["down"]:
            raise CrmDown(f"CRM down for {certificate.seably_id}")

    certificate_created.connect(push_to_crm, weak=False)
    yield state
    certificate_created.disconnect(push_to_crm)


@pytest.fixture
def alerts() -> Iterator[list[dict[str, Any]]]:
    """What an alerting receiver saw: its kwargs, and the event as stored when it ran."""
    seen: list[dict[str, Any]] = []

    def alert(sender: Any, event: WebhookEvent, exception: BaseException, **kwargs: Any) -> None:
        stored = WebhookEvent.objects.get(pk=event.pk)
        seen.append(
            {
                "sender": sender,
                "event": event,
                "exception": exception,
                "extra": kwargs,
                "stored": (stored.status, stored.attempts, stored.last_error.splitlines()[-1]),
                "certificates": Certificate.objects.count(),
                "in_transaction": connection.in_atomic_block,
            }
        )

    processing_failed.connect(alert, weak=False)
    yield seen
    processing_failed.disconnect(alert)


def test_a_delivery_whose_receiver_raises_sends_it_once(seably_deliver, crm, alerts):
    response = seably_deliver(certificate_body("SB-1"))

    assert response.json()["status"] == "accepted"
    (alert,) = alerts
    event = WebhookEvent.objects.get()
    assert alert["sender"] is WebhookEvent
    assert alert["event"].pk == event.pk
    assert isinstance(alert["exception"], CrmDown)
    assert str(alert["exception"]) == "CRM down for SB-1"
    assert alert["extra"] == {"signal": processing_failed}
    # Recorded before the signal, and the failed attempt's certificate rolled back.
    assert alert["stored"] == ("failed", 1, "tests.test_processing_failed.CrmDown: CRM down for SB-1")
    assert alert["certificates"] == 0


def test_the_event_sent_says_what_is_stored(seably_deliver, crm, alerts):
    seably_deliver(certificate_body("SB-1"))

    (alert,) = alerts
    assert (alert["event"].status, alert["event"].attempts) == alert["stored"][:2]


def test_a_duplicate_delivery_sends_nothing_more(seably_deliver, crm, alerts):
    body = certificate_body("SB-1")
    seably_deliver(body)

    seably_deliver(body)

    assert len(alerts) == 1


def test_each_retry_that_fails_sends_it_again(seably_deliver, crm, alerts):
    seably_deliver(certificate_body("SB-1"))

    for _ in range(3):
        call_command("seably_reprocess", "--failed", "--max-attempts", "3", stdout=io.StringIO())

    assert [alert["stored"][:2] for alert in alerts] == [("failed", 1), ("failed", 2), ("failed", 3)]


def test_a_successful_retry_sends_nothing(seably_deliver, crm, alerts):
    seably_deliver(certificate_body("SB-1"))
    crm["down"] = False

    call_command("seably_reprocess", "--failed", stdout=io.StringIO())

    assert len(alerts) == 1
    assert WebhookEvent.objects.get().status == "processed"


def test_an_import_sends_it_per_failed_body(seably_endpoint, crm, alerts, tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(certificate_body(f"SB-{n}")) + "\n" for n in range(3)))

    call_command("seably_import", "--endpoint", "test", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert sorted(str(alert["exception"]) for alert in alerts) == [f"CRM down for SB-{n}" for n in range(3)]


@pytest.mark.django_db(transaction=True)
def test_sent_outside_any_transaction_once_the_failure_is_committed(seably_deliver, crm, alerts):
    seably_deliver(certificate_body("SB-1"))

    (alert,) = alerts
    assert alert["in_transaction"] is False
    assert alert["stored"][:2] == ("failed", 1)
