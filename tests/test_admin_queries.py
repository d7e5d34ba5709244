"""Admin pages cost the same number of queries at 5 rows as at 30: nothing runs once per row."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_seably.admin.counting import EXACT_COUNT_BELOW
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/django_seably/webhookevent/",
    "/admin/django_seably/webhookevent/?status__exact=failed",
    "/admin/django_seably/webhookevent/?event_type=certificate.created",
    "/admin/django_seably/webhookevent/?q=SB-00000001",
    "/admin/django_seably/webhookevent/?received_at__gte=2000-01-01+00%3A00%3A00%2B00%3A00",
    "/admin/django_seably/certificate/",
    "/admin/django_seably/certificate/?validity=expired",
    "/admin/django_seably/certificate/?course=Course+1",
    "/admin/django_seably/certificate/?q=learner1%40example.com",
    "/admin/django_seably/certificate/?q=Course",
    "/admin/django_seably/eventoverview/",
]


def seed(count, endpoints, start=0):
    for i in range(start, start + count):
        endpoint = endpoints[i % len(endpoints)]
        event = WebhookEventFactory.create(
            endpoint=endpoint,
            payload=certificate_body(f"SB-{i:08d}"),
            status="failed" if i % 3 == 0 else "processed",
        )
        CertificateFactory.create(
            seably_id=f"SB-{i:08d}",
            event=event,
            learner_email=f"learner{i}@example.com",
            course_name=f"Course {i % 2}",
            expires_on="2001-01-01" if i % 2 else None,
        )


def queries_for(client, url, *, cold=True):
    if cold:  # the overview caches past days: compare first views
        cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


@pytest.mark.parametrize("url", PAGES)
def test_query_count_does_not_grow_with_rows(admin_client, url):
    endpoints = [EndpointFactory.create(), EndpointFactory.create()]
    seed(5, endpoints)
    few = queries_for(admin_client, url)

    seed(25, endpoints, start=5)
    many = queries_for(admin_client, url)

    assert many == few


def test_endpoint_list_costs_one_capped_count_per_endpoint(admin_client):
    endpoints = [EndpointFactory.create() for _ in range(3)]
    seed(6, endpoints)

    # session, user, count, endpoints (with the latest event's time), one capped count per endpoint
    base = queries_for(admin_client, "/admin/django_seably/endpoint/")
    seed(30, endpoints, start=6)

    assert queries_for(admin_client, "/admin/django_seably/endpoint/") == base


def test_unfiltered_event_list_does_not_count_the_table_on_postgresql(admin_client):
    WebhookEventFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/django_seably/webhookevent/")
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    if connection.vendor == "postgresql":
        # Small tables are counted exactly, after a look at the planner's estimate.
        assert any(q["sql"].startswith("EXPLAIN") for q in queries)
    assert len(counts) <= 1


def test_big_result_shows_the_estimate_without_counting(admin_client):
    WebhookEventFactory.create_batch(2)
    with (
        mock.patch("django_seably.admin.counting.estimated_count", return_value=2_000_000),
        CaptureQueriesContext(connection) as queries,
    ):
        response = admin_client.get("/admin/django_seably/webhookevent/?status__exact=pending")

    page = response.content.decode()
    assert "2000000 webhook events" in page
    assert "The number of webhook events is PostgreSQL's estimate" in page
    assert not [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("path", ["/admin/django_seably/webhookevent/", "/admin/django_seably/certificate/"])
def test_an_exact_count_is_not_called_an_estimate(admin_client, path):
    WebhookEventFactory.create_batch(2)
    with mock.patch("django_seably.admin.counting.estimated_count", return_value=EXACT_COUNT_BELOW - 1):
        page = admin_client.get(path).content.decode()

    assert 'class="paginator"' in page
    assert "seably-estimate" not in page


def test_a_big_certificate_list_says_its_count_is_an_estimate(admin_client):
    with mock.patch("django_seably.admin.counting.estimated_count", return_value=EXACT_COUNT_BELOW):
        page = admin_client.get("/admin/django_seably/certificate/").content.decode()

    assert f"{EXACT_COUNT_BELOW} certificates" in page
    assert "The number of certificates is PostgreSQL's estimate" in page


@pytest.mark.postgres
def test_planner_estimate_on_postgresql():
    from django_seably.admin.counting import estimated_count
    from django_seably.models import WebhookEvent

    WebhookEventFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE django_seably_webhookevent")

    assert estimated_count(WebhookEvent.objects.all()) == 3
    assert estimated_count(WebhookEvent.objects.filter(status="processed")) in (0, 1)


def test_overview_counts_past_days_once_then_only_today(admin_client):
    import datetime

    from django.utils import timezone

    WebhookEventFactory.create(received_at=timezone.now() - datetime.timedelta(days=3))
    WebhookEventFactory.create()
    first = queries_for(admin_client, "/admin/django_seably/eventoverview/")  # counts and caches past days
    WebhookEventFactory.create(received_at=timezone.now() - datetime.timedelta(days=2))  # a past day: cached
    WebhookEventFactory.create()

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/django_seably/eventoverview/")

    assert len(queries) == first - 1
    assert "(3 in all)" in response.content.decode()
