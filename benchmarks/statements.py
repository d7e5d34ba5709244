"""Count the SQL statements one delivery costs, transaction control included.

As ``tests/test_processing.py::TestStatementCounts`` does: the captured SQL, plus the
transaction control that Django did not log, counted from the calls to
``connection.commit``/``rollback`` (Django logs "BEGIN", "COMMIT" and "ROLLBACK"
pseudo-queries when it sends them; a BEGIN the driver sends implicitly is added).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from unittest import mock

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from benchmarks.bodies import certificate, encode


def count(action: Callable[[], Any]) -> dict[str, Any]:
    """Run ``action`` and return its statements: the captured SQL plus any uncaptured BEGIN/COMMIT/ROLLBACK."""
    with (
        CaptureQueriesContext(connection) as queries,
        mock.patch.object(connection, "commit", wraps=connection.commit) as commit,
        mock.patch.object(connection, "rollback", wraps=connection.rollback) as rollback,
    ):
        result = action()
        commits, rollbacks = commit.call_count, rollback.call_count
    sql = [query["sql"] for query in queries.captured_queries]

    def captured(word: str) -> int:
        return sum(1 for s in sql if s.upper().split(" ", 1)[0] == word)

    # Django 4.2+ logs BEGIN/COMMIT/ROLLBACK itself when it sends them; add only those it did not log.
    missing_begins = max(0, commits + rollbacks - captured("BEGIN"))
    shown = ["BEGIN  -- implicit, sent by the driver"] * missing_begins + sql
    shown += ["COMMIT  -- connection.commit(), not logged"] * max(0, commits - captured("COMMIT"))
    shown += ["ROLLBACK  -- connection.rollback(), not logged"] * max(0, rollbacks - captured("ROLLBACK"))
    return {"total": len(shown), "sql": shown, "result": result}


def post(path: str, body: bytes, headers: dict[str, str] | None = None) -> Callable[[], Any]:
    """Return an action that POSTs ``body`` to ``path`` with Django's test client; it returns status and JSON."""
    client = Client()

    def action() -> Any:
        response = client.post(path, data=body, content_type="application/json", headers=headers)
        content = response.json() if response.get("Content-Type") == "application/json" else response.content.decode()
        return {"status": response.status_code, "body": content}

    return action


def measure(endpoint_path: str, reference_path: str) -> dict[str, Any]:
    """Count the statements of a new certificate event, a duplicate, an invalid body and a reprocess; and the reference's.

    "new" is the first delivery to the endpoint in this process. The duplicate
    repeats the body of an event stored without this view (so no per-process
    memory of the view could have seen it).
    """
    from django_seably.models import Endpoint, WebhookEvent
    from django_seably.payloads import fingerprint
    from django_seably.processing import process_event

    results: dict[str, Any] = {"new": count(post(endpoint_path, encode(certificate("SB-STATEMENTS-1"))))}
    payload = certificate("SB-STATEMENTS-FAILED")
    event = WebhookEvent.objects.create(
        endpoint=Endpoint.objects.get(name="bench"),
        event_type="certificate.created",
        object_type="certificate",
        object_id="SB-STATEMENTS-FAILED",
        body=json.dumps(payload),
        payload=payload,
        fingerprint=fingerprint(payload),
        status=WebhookEvent.Status.FAILED,
        attempts=1,
        last_error="Traceback: boom",
    )
    results["duplicate"] = count(post(endpoint_path, encode(payload)))
    results["invalid"] = count(post(endpoint_path, b"{oops"))
    results["reprocess"] = count(lambda: process_event(event))
    reference_body = encode(certificate("SB-STATEMENTS-REF"))
    results["reference_new"] = count(post(reference_path, reference_body))
    results["reference_duplicate"] = count(post(reference_path, reference_body))
    expectations = (("new", "accepted"), ("duplicate", "duplicate"), ("reference_new", "accepted"))
    for name, expected in (*expectations, ("reference_duplicate", "duplicate")):
        status = results[name]["result"]["body"].get("status")
        assert status == expected, (name, results[name]["result"])
    assert results["invalid"]["result"]["status"] == 400, results["invalid"]
    assert results["reprocess"]["result"] == "processed", results["reprocess"]
    return {name: {"total": value["total"], "sql": value["sql"]} for name, value in results.items()}
