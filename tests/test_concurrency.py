"""Concurrent deliveries on PostgreSQL: threads with their own connections, really in parallel in the database."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from django.db import connection, connections
from django.test import Client

from django_seably.models import Certificate, WebhookEvent
from django_seably.processing import process_event
from django_seably.signals import certificate_created, webhook_received
from tests.factories import EndpointFactory, WebhookEventFactory, certificate_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16


@pytest.fixture
def signals_fired():
    fired: Counter[str] = Counter()
    lock = threading.Lock()

    def on_received(sender, event, **kwargs):
        with lock:
            fired["webhook_received"] += 1

    def on_created(sender, event, certificate, **kwargs):
        with lock:
            fired["certificate_created"] += 1

    webhook_received.connect(on_received, weak=False)
    certificate_created.connect(on_created, weak=False)
    yield fired
    webhook_received.disconnect(on_received)
    certificate_created.disconnect(on_created)


def run_in_parallel(work, count=THREADS):
    """Run work(i) in count threads released together; return their results in order."""
    barrier = threading.Barrier(count, timeout=30)
    results = [None] * count
    errors = []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # reported below, with the thread's failure
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread did not finish in 60 s"
    assert not errors, errors
    return results


def test_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_simultaneous_deliveries_of_one_body_make_one_event(signals_fired):
    endpoint = EndpointFactory.create()
    body = json.dumps(certificate_body("SB-RACE"))

    def deliver(i):
        response = Client().post(endpoint.webhook_path, data=body, content_type="application/json")
        return response.status_code, response.json()

    results = run_in_parallel(deliver)

    event = WebhookEvent.objects.get()
    assert event.delivery_count == THREADS
    assert event.status == "processed"
    assert Counter(status for status, _ in results) == {200: THREADS}
    assert Counter(answer["status"] for _, answer in results) == {"accepted": 1, "duplicate": THREADS - 1}
    assert {answer["event_id"] for _, answer in results} == {event.pk}
    assert Certificate.objects.count() == 1
    assert signals_fired == {"webhook_received": 1, "certificate_created": 1}


def test_simultaneous_different_events_for_one_certificate_make_one_certificate(signals_fired):
    endpoint = EndpointFactory.create()

    def deliver(i):
        body = json.dumps(certificate_body("SB-SAME", score=i))
        return Client().post(endpoint.webhook_path, data=body, content_type="application/json").status_code

    assert set(run_in_parallel(deliver)) == {200}

    assert WebhookEvent.objects.filter(status="processed").count() == THREADS
    certificate = Certificate.objects.get()
    assert certificate.data["attributes"]["score"] in range(THREADS)
    assert signals_fired == {"webhook_received": THREADS, "certificate_created": 1}


def test_concurrent_reprocessing_of_one_event_processes_it_once(signals_fired):
    event = WebhookEventFactory.create(failed=True)

    outcomes = run_in_parallel(lambda i: process_event(WebhookEvent.objects.get(pk=event.pk)), count=8)

    assert Counter(outcomes) == {"processed": 1, "skipped": 7}
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("processed", 2)
    assert signals_fired == {"webhook_received": 1, "certificate_created": 1}


def test_concurrent_invalid_bodies_are_stored_once():
    endpoint = EndpointFactory.create()

    def deliver(i):
        return Client().post(endpoint.webhook_path, data=b"{nope", content_type="application/json").status_code

    assert set(run_in_parallel(deliver)) == {400}
    assert WebhookEvent.objects.get().delivery_count == THREADS
