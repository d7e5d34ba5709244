"""Tasks mode with a real backend and real processes: gunicorn (4 processes) and django-tasks-db workers.

PostgreSQL only (scripts/with-postgres): several processes writing at once is
what PostgreSQL deployments do, and the receivers' ``memo`` connection needs a
database with more than one writer. Receivers run in the worker processes, so
they record what they got in the database (tests/workerapp), and that is what
is counted here. The checks are tests/workers.py's, shared with the RQ engine
(tests/test_workers_rq.py). Tests in this module share one database and one
gunicorn; each uses certificate ids of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import workers as checks
from tests.workers import DatabaseEngine, WorkerStack, worker_stack

pytestmark = [pytest.mark.postgres, pytest.mark.servers]

WEB_PROCESSES = 4
WORKERS = 2
ENGINE = DatabaseEngine()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerStack]:
    with worker_stack(
        tmp_path_factory.mktemp("workers"),
        web_processes=WEB_PROCESSES,
        settings=ENGINE.settings,
        worker_command=ENGINE.worker_command,
    ) as live:
        yield live


@pytest.fixture
def workers(stack: WorkerStack) -> Iterator[WorkerStack]:
    """The stack; the workers a test starts are stopped after it."""
    yield stack
    stack.stop_workers()


def test_a_thousand_deliveries_through_gunicorn_and_two_workers(workers: WorkerStack) -> None:
    checks.a_thousand_deliveries(workers, ENGINE, workers=WORKERS)


def test_a_backlog_through_two_workers(workers: WorkerStack) -> None:
    checks.a_backlog(workers, ENGINE, workers=WORKERS)


def test_two_tasks_for_one_event_process_it_once(workers: WorkerStack) -> None:
    checks.two_tasks_for_one_event(workers, ENGINE, workers=WORKERS)


def test_a_worker_killed_mid_task_loses_nothing(workers: WorkerStack) -> None:
    """SIGKILL while a receiver runs: the transaction rolls back, the event stays pending, the sweep finishes it."""
    stack = workers
    seably_id = "SB-KILLED-1"
    (worker,) = stack.start_workers(1, "doomed-")
    event_id = checks.start_a_task_that_blocks(stack, seably_id)

    worker.kill()
    try:
        checks.wait_for_rollback(stack)
        # django-tasks-db will never run that task again: it stays RUNNING, owned by a dead worker.
        assert [run.status for run in checks.runs_like(stack, ENGINE, seably_id)] == ["RUNNING"]
        checks.the_sweep_finishes(stack, [seably_id])
    finally:
        # Out of the way of the other tests.
        stack.database.execute(
            "UPDATE django_tasks_database_dbtaskresult SET status = 'FAILED' "
            "WHERE status = 'RUNNING' AND args_kwargs->'args'->>0 = %s",
            (str(event_id),),
        )
