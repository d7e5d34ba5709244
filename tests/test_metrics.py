"""Prometheus metrics: counters at processing's decisions, gauges read at scrape, multiprocess, and no extra."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from django_seably import metrics, processing
from django_seably.models import Endpoint, WebhookEvent
from django_seably.signals import signal_for
from django_seably.testing import certificate_body, create_endpoint, deliver
from tests.factories import EndpointFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def deliveries(endpoint: str, outcome: str) -> float:
    return sample("seably_deliveries_total", endpoint=endpoint, outcome=outcome)


def processed(event_type: str, outcome: str) -> float:
    return sample("seably_processing_total", event_type=event_type, outcome=outcome)


class TestCounters:
    def test_each_delivery_is_counted_by_endpoint_name_and_outcome(self):
        endpoint = create_endpoint("main")
        other = create_endpoint("other")
        before = {outcome: deliveries("main", outcome) for outcome in ("accepted", "duplicate", "invalid")}
        before_other = deliveries("other", "accepted")

        body = certificate_body("SB-1")
        deliver(body, endpoint=endpoint)
        deliver(body, endpoint=endpoint)
        deliver(body, endpoint=endpoint)
        deliver(b"{oops", endpoint=endpoint)
        deliver(b"{oops", endpoint=endpoint)  # an invalid body sent again is still invalid
        deliver(certificate_body("SB-2"), endpoint=other)

        after = {outcome: deliveries("main", outcome) for outcome in before}
        assert {outcome: after[outcome] - before[outcome] for outcome in before} == {
            "accepted": 1,
            "duplicate": 2,
            "invalid": 2,
        }
        assert deliveries("other", "accepted") - before_other == 1

    def test_an_unknown_or_inactive_token_counts_nothing(self, client):
        endpoint = create_endpoint("main")
        Endpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
        before = generate_latest(REGISTRY)

        client.post(endpoint.webhook_path, certificate_body("SB-1"), content_type="application/json")
        unknown = endpoint.webhook_path.replace(endpoint.token, "x" * 43)
        assert client.post(unknown, certificate_body("SB-1"), content_type="application/json").status_code == 404

        assert _counter_lines(generate_latest(REGISTRY)) == _counter_lines(before)

    def test_processing_is_counted_by_event_type_and_outcome(self):
        endpoint = create_endpoint("main")
        before = processed("certificate.created", "processed"), processed("certificate.created", "failed")

        deliver(certificate_body("SB-1"), endpoint=endpoint)
        deliver({"event": "certificate.created", "payload": {}}, endpoint=endpoint)  # no data: fails

        assert processed("certificate.created", "processed") - before[0] == 1
        assert processed("certificate.created", "failed") - before[1] == 1
        event = WebhookEvent.objects.get(status="failed")
        processing.process_event(event)  # a retry that fails again counts again
        assert processed("certificate.created", "failed") - before[1] == 2

    def test_a_type_nobody_listens_to_is_other_so_a_sender_cannot_add_series(self):
        endpoint = create_endpoint("main")
        before = processed("other", "processed")
        series = _series_count()

        for number in range(30):
            deliver({"event": f"invented.type{number}", "payload": {}}, endpoint=endpoint)

        assert processed("other", "processed") - before == 30
        assert _series_count() - series <= 1  # at most the "other" series itself, if it was new

    def test_a_type_with_a_receiver_is_named(self):
        endpoint = create_endpoint("main")

        def receiver(sender: Any, event: Any, **kwargs: Any) -> None:
            pass

        signal_for("user.invited").connect(receiver, sender=WebhookEvent, weak=False)
        try:
            before = processed("user.invited", "processed")
            deliver({"event": "user.invited", "payload": {"data": {"id": "U1"}}}, endpoint=endpoint)
            assert processed("user.invited", "processed") - before == 1
        finally:
            signal_for("user.invited").disconnect(receiver, sender=WebhookEvent)
        assert metrics.event_type_label("user.invited") == "other"

    def test_the_handled_types_are_processings(self):
        assert {"certificate.created"} == processing.HANDLED_EVENT_TYPES
        for event_type in processing.HANDLED_EVENT_TYPES:
            assert metrics.event_type_label(event_type) == event_type

    def test_no_label_carries_a_token_or_personal_data(self):
        endpoint = create_endpoint("main")
        deliver(certificate_body("SB-1", learner_email="ada@example.com", learner_name="Ada"), endpoint=endpoint)
        deliver(b'{"event": "x", "email": "ada@example.com", oops', endpoint=endpoint)

        page = generate_latest(REGISTRY).decode()

        assert "seably_deliveries_total" in page and "seably_processing_total" in page
        assert endpoint.token not in page
        assert endpoint.token[:8] not in page
        assert "ada" not in page.lower()
        assert "SB-1" not in page


DUPLICATE = certificate_body("SB-DUP")
BODIES: dict[str, Callable[[int], Any]] = {
    "new": lambda n: certificate_body(f"SB-NEW-{n}"),
    "duplicate": lambda n: DUPLICATE,
    "invalid": lambda n: f"{{oops {n}".encode(),
    "failed": lambda n: {"event": "certificate.created", "payload": {}, "attempt": n},
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", BODIES)
def test_counting_adds_no_statement(case):
    endpoint = create_endpoint("main")
    deliver(DUPLICATE, endpoint=endpoint)

    def statements(n: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            deliver(BODIES[case](n), endpoint=endpoint)
        return len(queries.captured_queries)

    before = _counter_lines(generate_latest(REGISTRY))
    with_metrics = statements(1)
    assert _counter_lines(generate_latest(REGISTRY)) != before  # it counted
    with mock.patch.object(metrics, "_deliveries", None), mock.patch.object(metrics, "_processing", None):
        without_metrics = statements(2)
    assert with_metrics == without_metrics


class TestDatabaseGauges:
    def test_events_by_status(self):
        for status, count in {"pending": 2, "processed": 3, "failed": 1}.items():
            WebhookEventFactory.create_batch(count, status=status)

        assert {status: sample("seably_events", status=status) for status in WebhookEvent.Status.values} == {
            "pending": 2,
            "processed": 3,
            "failed": 1,
            "invalid": 0,
        }

    def test_oldest_pending_age(self):
        assert sample("seably_oldest_pending_age_seconds") == 0
        WebhookEventFactory.create(status="pending", received_at=timezone.now() - datetime.timedelta(minutes=30))
        WebhookEventFactory.create(status="pending")
        WebhookEventFactory.create(status="failed", received_at=timezone.now() - datetime.timedelta(days=3))

        assert 30 * 60 <= sample("seably_oldest_pending_age_seconds") < 31 * 60

    def test_last_delivery_per_active_endpoint(self):
        main = create_endpoint("main")
        deliver(certificate_body("SB-1"), endpoint=main)
        deliver(certificate_body("SB-2"), endpoint=main)
        newest = WebhookEvent.objects.latest("pk")
        WebhookEvent.objects.filter(pk=newest.pk).update(received_at=timezone.now() - datetime.timedelta(hours=2))
        silent = create_endpoint("silent")
        Endpoint.objects.filter(pk=silent.pk).update(created_at=timezone.now() - datetime.timedelta(days=1))
        off = create_endpoint("off")
        deliver(certificate_body("SB-3"), endpoint=off)
        Endpoint.objects.filter(pk=off.pk).update(is_active=False)

        now = timezone.now().timestamp()
        assert sample("seably_last_delivery_timestamp_seconds", endpoint="main") == pytest.approx(now - 7200, abs=5)
        # Never received: from its creation, as seably_status --max-silence counts silence.
        assert sample("seably_last_delivery_timestamp_seconds", endpoint="silent") == pytest.approx(now - 86400, abs=5)
        assert REGISTRY.get_sample_value("seably_last_delivery_timestamp_seconds", {"endpoint": "off"}) is None

    def test_without_time_zones_the_timestamp_is_the_local_time(self, settings):
        settings.USE_TZ = False
        settings.TIME_ZONE = "Europe/Oslo"
        EndpointFactory.create(name="main")

        timestamp = sample("seably_last_delivery_timestamp_seconds", endpoint="main")

        assert timestamp == pytest.approx(datetime.datetime.now(datetime.UTC).timestamp(), abs=5)

    def test_a_scrape_reads_the_database_in_a_constant_number_of_queries(self, django_assert_num_queries):
        for _number in range(3):
            endpoint = EndpointFactory.create()
            WebhookEventFactory.create_batch(2, endpoint=endpoint)
        collector = metrics.DatabaseCollector()

        with django_assert_num_queries(4):
            families = list(collector.collect())

        assert [family.name for family in families] == [
            "seably_events",
            "seably_oldest_pending_age_seconds",
            "seably_last_delivery_timestamp_seconds",
        ]

    def test_registering_reads_nothing(self, django_assert_num_queries):
        registry = CollectorRegistry(auto_describe=True)
        with django_assert_num_queries(0):
            registry.register(metrics.DatabaseCollector())

    def test_a_database_error_drops_only_these_gauges(self, caplog):
        create_endpoint("main")
        deliver(certificate_body("SB-1"), endpoint=Endpoint.objects.get())
        with mock.patch.object(metrics, "current_status", side_effect=OperationalError("server closed the connection")):
            page = generate_latest(REGISTRY).decode()

        assert "seably_deliveries_total" in page
        assert "seably_events" not in page
        assert "Could not read the Seably gauges from the database" in caplog.text


def _counter_lines(page: bytes) -> list[str]:
    return [line for line in page.decode().splitlines() if line.startswith("seably_") and "_total" in line]


def _series_count() -> int:
    return sum(
        sample.name.endswith("_total")
        for family in REGISTRY.collect()
        if family.name == "seably_processing"
        for sample in family.samples
    )


INCREMENT = """
import os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from django_seably import metrics
from django_seably.models import Endpoint, WebhookEvent
from django_seably.payloads import parse_body
from django_seably.processing import Delivery

endpoint = Endpoint(name="main")
body = parse_body(b'{"event": "certificate.created"}')
for _ in range(int(sys.argv[1])):
    metrics.delivery_received(endpoint, Delivery(WebhookEvent(), True, body))
metrics.event_processed(WebhookEvent(event_type="certificate.created"), "processed")
"""


def run_python(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_multiprocess_mode_sums_the_counters_of_every_process(tmp_path):
    """Two processes (two gunicorn workers) count in their own files; one MultiProcessCollector sums them."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "SEABLY_TEST_DB": ""}
    for count in ("2", "3"):
        result = run_python(INCREMENT, count, env=env)
        assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("counter_*.db"))) == 2

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(tmp_path))
    registry.register(metrics.DatabaseCollector())  # as docs/metrics.md's multiprocess view does

    assert registry.get_sample_value("seably_deliveries_total", {"endpoint": "main", "outcome": "accepted"}) == 5
    labels = {"event_type": "certificate.created", "outcome": "processed"}
    assert registry.get_sample_value("seably_processing_total", labels) == 2
    assert registry.get_sample_value("seably_events", {"status": "pending"}) == 0
    # docs/metrics.md's view, which builds the same registry for each scrape.
    page = generate_latest(registry).decode()
    assert 'seably_deliveries_total{endpoint="main",outcome="accepted"} 5.0' in page
    assert 'seably_events{status="processed"} 0.0' in page


WITHOUT_PROMETHEUS = """
import os, sys
sys.modules["prometheus_client"] = None  # importing it now raises ImportError, as when it is not installed
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
from django.db import connection
from django.test.utils import setup_test_environment
setup_test_environment()
connection.creation.create_test_db(verbosity=0)
from django_seably import metrics
from django_seably.models import Certificate
from django_seably.testing import certificate_body, deliver

assert metrics.ENABLED is False
body = certificate_body("SB-1")
first = deliver(body)
again = deliver(body, endpoint=Certificate.objects.get().event.endpoint)
invalid = deliver(b"{oops")
print(first.status_code, first.json()["status"], again.json()["status"], invalid.status_code, Certificate.objects.count())
"""


def test_without_prometheus_client_the_app_works_as_before():
    result = run_python(WITHOUT_PROMETHEUS, env={"SEABLY_TEST_DB": ""})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "accepted", "duplicate", "400", "1"]


UNWRITABLE_DIRECTORY = """
import logging, os
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
django.setup()
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
from django.db import connection
from django.test.utils import setup_test_environment
setup_test_environment()
connection.creation.create_test_db(verbosity=0)
from django_seably.models import Certificate
from django_seably.testing import certificate_body, deliver

response = deliver(certificate_body("SB-1"))
print(response.status_code, response.json()["status"], Certificate.objects.count())
"""


def test_a_metrics_directory_that_cannot_be_written_fails_no_delivery(tmp_path):
    result = run_python(
        UNWRITABLE_DIRECTORY, env={"SEABLY_TEST_DB": "", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")}
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "accepted", "1"]
    warning = "WARNING django_seably.metrics Could not count in the Prometheus metrics (is PROMETHEUS_MULTIPROC_DIR writable?)"
    assert result.stderr.count(warning) == 2, result.stderr  # the delivery, and its processing


ONLY_THE_APP = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_seably"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    ROOT_URLCONF=[],
)
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, run_syncdb=True)
from prometheus_client import REGISTRY
print(REGISTRY.get_sample_value("seably_events", {"status": "pending"}))
"""


def test_the_metrics_are_registered_when_the_app_loads():
    """Before any request, even in a project without the admin (which would import processing)."""
    result = run_python(ONLY_THE_APP)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]
