"""Tasks mode with a real backend and real processes: gunicorn (4 processes) and django-tasks-db workers.

PostgreSQL only (scripts/with-postgres): several processes writing at once is
what PostgreSQL deployments do, and the receivers' ``memo`` connection needs a
database with more than one writer. Receivers run in the worker processes, so
they record what they got in the database (tests/workerapp), and that is what
is counted here. Tests in this module share one database and one gunicorn;
each uses certificate ids of its own.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.workers import WorkerStack, post_all, wait_until, worker_stack

pytestmark = [pytest.mark.postgres, pytest.mark.servers]

WEB_PROCESSES = 4
WORKERS = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    with worker_stack(tmp_path_factory.mktemp("workers"), web_processes=WEB_PROCESSES) as live:
        yield live


@pytest.fixture
def workers(stack: WorkerStack) -> Iterator[WorkerStack]:
    """The stack; the workers a test starts are stopped after it, and their logs shown if it fails."""
    yield stack
    stack.stop_workers()


def certificate(seably_id: str, **data: Any) -> dict[str, Any]:
    return {
        "event": "certificate.created",
        "payload": {
            "data": {
                "type": "certificate",
                "id": seably_id,
                "user": {"email": f"{seably_id.lower()}@example.com", "first_name": "Test", "last_name": seably_id},
                "course": {"name": "Enclosed Space Entry"},
                **data,
            }
        },
    }


def events_like(stack: WorkerStack, prefix: str) -> list[dict[str, Any]]:
    return stack.query(
        "SELECT id, object_id, status, attempts, delivery_count, last_error FROM django_seably_webhookevent "
        "WHERE object_id LIKE %s ORDER BY id",
        (f"{prefix}%",),
    )


def signals_like(stack: WorkerStack, prefix: str, signal: str) -> list[dict[str, Any]]:
    return stack.query(
        "SELECT event_id, seably_id, pid FROM workerapp_signalrecord WHERE signal = %s AND seably_id LIKE %s",
        (signal, f"{prefix}%"),
    )


def certificate_ids(stack: WorkerStack, prefix: str) -> list[str]:
    rows = stack.query(
        "SELECT seably_id FROM django_seably_certificate WHERE seably_id LIKE %s ORDER BY seably_id", (f"{prefix}%",)
    )
    return [row["seably_id"] for row in rows]


def tasks_like(stack: WorkerStack, prefix: str) -> list[dict[str, Any]]:
    """The task rows of the events for these certificate ids (the task's one argument is the event's id)."""
    return stack.query(
        "SELECT args_kwargs, status, return_value, started_at, finished_at FROM django_tasks_database_dbtaskresult "
        "WHERE args_kwargs->'args'->>0 IN (SELECT id::text FROM django_seably_webhookevent WHERE object_id LIKE %s)",
        (f"{prefix}%",),
    )


def unfinished_tasks(stack: WorkerStack) -> int:
    return int(
        stack.scalar("SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status IN ('READY', 'RUNNING')")
    )


def wait_for_workers(stack: WorkerStack, prefix: str, *, timeout: float) -> None:
    """Until no task is ready or running and none of these events is pending (bounded); the logs if not."""
    try:
        wait_until(
            lambda: (
                unfinished_tasks(stack) == 0
                and not stack.query(
                    "SELECT 1 FROM django_seably_webhookevent WHERE status = 'pending' AND object_id LIKE %s",
                    (f"{prefix}%",),
                )
            ),
            timeout=timeout,
            interval=0.25,
            what="the workers to finish every task",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{stack.logs()}") from None


def test_a_thousand_deliveries_through_gunicorn_and_two_workers(workers: WorkerStack) -> None:
    """1,000 deliveries: 10% duplicates, 5% for events that fail once; every event ends as it should."""
    stack = workers
    rng = random.Random(5)
    prefix = "SB-BULK-"
    fresh = [f"{prefix}{n:05d}" for n in range(880)]
    fail_once = set(rng.sample(fresh, 50))  # 5% of the 1,000 deliveries
    ok = [seably_id for seably_id in fresh if seably_id not in fail_once]
    bodies = [certificate(seably_id, fail_once=seably_id in fail_once) for seably_id in fresh]
    # A second certificate.created for 20 certificates (new data, a new event): no certificate_created.
    bodies += [certificate(seably_id, fail_once=False, course={"name": "Updated"}) for seably_id in ok[:20]]
    unique = [json.dumps(body).encode() for body in bodies]
    # 100 duplicate deliveries (10%), some with their keys in another order: the same JSON.
    resent = [
        json.dumps(bodies[index], sort_keys=bool(index % 2), indent=index % 3 or None).encode()
        for index in rng.choices(range(len(bodies)), k=100)
    ]
    deliveries = unique + resent
    rng.shuffle(deliveries)
    assert (len(deliveries), len(unique)) == (1000, 900)

    stack.start_workers(WORKERS, "big-")
    started = time.monotonic()
    answers = post_all(stack, deliveries, threads=8, timeout=120)
    sent_in = time.monotonic() - started
    wait_for_workers(stack, prefix, timeout=120)
    drained_in = time.monotonic() - started

    assert Counter(status for status, _answer in answers) == {200: 1000}
    assert Counter(answer["status"] for _status, answer in answers) == {"accepted": 900, "duplicate": 100}
    events = events_like(stack, prefix)
    assert len(events) == 900
    assert sum(event["delivery_count"] for event in events) == 1000
    by_status: dict[str, set[str]] = {}
    for event in events:
        by_status.setdefault(event["status"], set()).add(event["object_id"])
    assert by_status.keys() == {"processed", "failed"}
    assert by_status["failed"] == fail_once
    failed = [event for event in events if event["status"] == "failed"]
    assert {event["attempts"] for event in events} == {1}
    assert all("FailOnce" in event["last_error"] for event in failed)
    # A failed event's receivers and certificate were rolled back with it.
    assert certificate_ids(stack, prefix) == sorted(ok)
    created = signals_like(stack, prefix, "certificate_created")
    assert sorted(row["seably_id"] for row in created) == sorted(ok), "certificate_created once per certificate"
    received = signals_like(stack, prefix, "webhook_received")
    assert len(received) == len({row["event_id"] for row in received}) == 850
    tasks = tasks_like(stack, prefix)
    assert Counter((row["status"], row["return_value"]) for row in tasks) == {
        ("SUCCESSFUL", "processed"): 850,
        ("SUCCESSFUL", "failed"): 50,
    }
    worker_pids = {row["pid"] for row in received}
    assert worker_pids <= {worker.pid for worker in stack.workers}  # receivers ran in the workers, not in gunicorn

    # The operator fixes the cause and reprocesses: each failed event runs once more, and only once.
    output = stack.django("seably_reprocess", "--failed")
    assert output.strip() == "Reprocessed 50 events: 50 processed, 0 failed, 0 invalid, 0 skipped."
    events = events_like(stack, prefix)
    assert Counter(event["status"] for event in events) == {"processed": 900}
    assert Counter(event["attempts"] for event in events) == {1: 850, 2: 50}
    assert certificate_ids(stack, prefix) == sorted(fresh)
    created = signals_like(stack, prefix, "certificate_created")
    assert sorted(row["seably_id"] for row in created) == sorted(fresh)
    received = signals_like(stack, prefix, "webhook_received")
    assert len(received) == len({row["event_id"] for row in received}) == 900
    print(  # shown with -s: the numbers behind the report
        f"\n1,000 deliveries: sent in {sent_in:.1f} s, all events done in {drained_in:.1f} s; "
        f"answers {dict(Counter(answer['status'] for _status, answer in answers))}; "
        f"receivers ran in {len(worker_pids)} worker processes."
    )


def test_two_tasks_for_one_event_process_it_once(workers: WorkerStack) -> None:
    """Each event's task enqueued twice back to back: two workers run them together, receivers run once."""
    stack = workers
    prefix = "SB-TWICE-"
    ids = [f"{prefix}{n:04d}" for n in range(60)]
    bodies = [json.dumps(certificate(seably_id, slow=True)) for seably_id in ids]
    # Seeded with no worker running, so that both tasks of an event are next to each other in the queue.
    stack.django(
        "shell", "-c", f"from tests.workers import seed_doubly_enqueued; seed_doubly_enqueued({json.dumps(bodies)!r})"
    )
    assert unfinished_tasks(stack) == 120

    stack.start_workers(WORKERS, "twice-")
    wait_for_workers(stack, prefix, timeout=90)

    events = events_like(stack, prefix)
    assert [(event["status"], event["attempts"]) for event in events] == [("processed", 1)] * 60
    assert certificate_ids(stack, prefix) == ids
    assert sorted(row["seably_id"] for row in signals_like(stack, prefix, "certificate_created")) == ids
    assert sorted(row["seably_id"] for row in signals_like(stack, prefix, "webhook_received")) == ids
    tasks = tasks_like(stack, prefix)
    per_event: dict[int, list[dict[str, Any]]] = {}
    for row in tasks:
        per_event.setdefault(row["args_kwargs"]["args"][0], []).append(row)
    assert len(per_event) == 60
    assert all(sorted(row["return_value"] for row in rows) == ["processed", "skipped"] for rows in per_event.values())
    overlapping = sum(
        1
        for first, second in (sorted(rows, key=lambda row: row["started_at"]) for rows in per_event.values())
        if second["started_at"] < first["finished_at"]
    )
    # The slow receiver keeps the first task running while the other worker starts the second one.
    assert overlapping > 0, "no two tasks of one event ran at the same time: the test proved nothing"
    print(f"\nTwo tasks per event: {overlapping} of 60 pairs ran at the same time.")


def test_a_worker_killed_mid_task_loses_nothing(workers: WorkerStack) -> None:
    """SIGKILL while a receiver runs: the transaction rolls back, the event stays pending, the sweep finishes it."""
    stack = workers
    seably_id = "SB-KILLED-1"
    (worker,) = stack.start_workers(1, "doomed-")
    answers = post_all(stack, [json.dumps(certificate(seably_id, block=True)).encode()], threads=1, timeout=30)
    assert [answer["status"] for _status, answer in answers] == ["accepted"]
    event_id = answers[0][1]["event_id"]
    wait_until(
        lambda: stack.query("SELECT 1 FROM workerapp_memo WHERE key = %s", (f"started:{seably_id}",)),
        timeout=30,
        what="the worker to be inside the receiver",
    )
    # Mid-task: the claim is not committed, so the event is pending to everyone else ...
    (event,) = events_like(stack, seably_id)
    assert (event["status"], event["attempts"]) == ("pending", 0)
    # ... and the cron sweep leaves it alone while it is recent: the worker may still finish it.
    assert stack.django("seably_reprocess", "--pending", "--older-than", "10m").strip() == (
        "Reprocessed 0 events: 0 processed, 0 failed, 0 invalid, 0 skipped."
    )

    worker.kill()
    try:
        _the_sweep_finishes_the_event(stack, seably_id, event_id)
    finally:
        # The dead worker's task would stay RUNNING for good: out of the way of the other tests.
        stack.database.execute(
            "UPDATE django_tasks_database_dbtaskresult SET status = 'FAILED' "
            "WHERE status = 'RUNNING' AND args_kwargs->'args'->>0 = %s",
            (str(event_id),),
        )


def _the_sweep_finishes_the_event(stack: WorkerStack, seably_id: str, event_id: int) -> None:
    # The backend will never run that task again: it stays RUNNING, owned by a dead worker.
    wait_until(
        lambda: (
            stack.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state LIKE 'idle in transaction%%'",
                (stack.database.name,),
            )
            == 0
        ),
        timeout=30,
        what="PostgreSQL to roll back the killed worker's transaction",
    )
    assert [task["status"] for task in tasks_like(stack, seably_id)] == ["RUNNING"]
    (event,) = events_like(stack, seably_id)
    assert (event["status"], event["attempts"]) == ("pending", 0)
    assert certificate_ids(stack, seably_id) == []
    assert signals_like(stack, seably_id, "webhook_received") == []

    # Ten minutes later, the cron line from the README.
    stack.database.execute(
        "UPDATE django_seably_webhookevent SET received_at = received_at - interval '11 minutes' WHERE id = %s",
        (event_id,),
    )
    assert stack.django("seably_reprocess", "--pending", "--older-than", "10m").strip() == (
        "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped."
    )
    (event,) = events_like(stack, seably_id)
    assert (event["status"], event["attempts"]) == ("processed", 1)
    assert certificate_ids(stack, seably_id) == [seably_id]
    assert [row["event_id"] for row in signals_like(stack, seably_id, "certificate_created")] == [event_id]
    assert [row["event_id"] for row in signals_like(stack, seably_id, "webhook_received")] == [event_id]
