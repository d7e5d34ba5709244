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

# Statements per page, exactly, on SQLite and on PostgreSQL (where each count first asks the
# planner for its estimate: one EXPLAIN more). Every list: the session, the user, the count,
# the page of rows, then one index probe per filter choice (two event types or courses: three
# probes, the last finding no more) or one query for the endpoints. The certificate search by
# a word first looks for it as a Seably id. The overview: the session, the user, four status
# counts, the oldest failed and pending events, the endpoints with their last delivery, the
# past days' counts (then cached) and today's.
PAGES = {
    "/admin/django_seably/webhookevent/": (7, 8),
    "/admin/django_seably/webhookevent/?status__exact=failed": (7, 8),
    "/admin/django_seably/webhookevent/?event_type=certificate.created": (7, 8),
    "/admin/django_seably/webhookevent/?q=SB-00000001": (7, 8),
    "/admin/django_seably/webhookevent/?received_at__gte=2000-01-01+00%3A00%3A00%2B00%3A00": (7, 8),
    "/admin/django_seably/certificate/": (7, 8),
    "/admin/django_seably/certificate/?validity=expired": (7, 8),
    "/admin/django_seably/certificate/?course=Course+1": (7, 8),
    "/admin/django_seably/certificate/?q=learner1%40example.com": (7, 8),
    "/admin/django_seably/certificate/?q=Course": (8, 9),
    "/admin/django_seably/eventoverview/": (11, 15),
    # The session, the user, the count, the endpoints with their last delivery, the filter's choices.
    "/admin/django_seably/endpoint/": (5, 5),
}


def expected(url: str) -> int:
    return PAGES[url][connection.vendor == "postgresql"]


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
def test_query_count_is_exact_and_does_not_grow_with_rows(admin_client, url):
    endpoints = [EndpointFactory.create(), EndpointFactory.create()]
    seed(5, endpoints)
    few = queries_for(admin_client, url)

    seed(25, endpoints, start=5)
    EndpointFactory.create_batch(3)
    many = queries_for(admin_client, url)

    assert few == many == expected(url)


def test_a_small_unfiltered_event_list_is_counted_once(admin_client):
    WebhookEventFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/django_seably/webhookevent/")

    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1


@pytest.mark.postgres
def test_unfiltered_event_list_asks_the_planner_before_counting_on_postgresql(admin_client):
    WebhookEventFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/django_seably/webhookevent/")

    sql = [q["sql"] for q in queries]
    explain = next(index for index, statement in enumerate(sql) if statement.startswith("EXPLAIN"))
    counts = [index for index, statement in enumerate(sql) if "COUNT(" in statement.upper()]
    assert len(counts) == 1 and counts[0] > explain  # small: counted exactly, after the estimate


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
