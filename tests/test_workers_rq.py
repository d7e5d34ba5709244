"""Tasks mode on RQ: gunicorn (4 processes), django-tasks-rq, a real redis-server and django-rq's rqworker.

The same checks as the database backend's (tests/workers.py, run by
tests/test_workers.py), on PostgreSQL (scripts/with-postgres), plus what a broker
adds: a worker and its work horse killed mid-task, and Redis stopped for a few
seconds while deliveries arrive. The app names no backend: only the settings
(tests/settings_workers_rq.py) and the worker command differ.

Needs /usr/bin/redis-server (Debian's redis-server package) and django-tasks-rq,
django-rq, rq and redis (requirements/test.txt). Run it as make ci does:
``scripts/with-postgres python -m pytest -m "redis and postgres" tests/test_workers_rq.py``.
Without redis-server it fails under CI (CI=true) and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import workers as checks
from tests.workers import RedisServer, RQEngine, WorkerStack, post_all, wait_until, worker_stack

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.servers]

WEB_PROCESSES = 4
WORKERS = 2
REDIS_SERVER = Path(shutil.which("redis-server") or "/usr/bin/redis-server")
#: How long Redis is down in the outage test, in seconds.
OUTAGE_SECONDS = 3.0

_ENQUEUE_FAILED = re.compile(r"Could not enqueue Seably event (\d+); it stays pending")


def _missing(what: str) -> None:
    """Fail under CI (a missing service is a broken CI image), skip elsewhere."""
    message = f"the RQ worker tests need {what}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not REDIS_SERVER.exists():
        _missing(f"redis-server at {REDIS_SERVER}: apt-get install redis-server")
    for module in ("django_tasks_rq", "django_rq", "rq", "redis"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"the {module} package: pip install -r requirements/test.txt")
    server = RedisServer(REDIS_SERVER, tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def engine(redis_server: RedisServer) -> RQEngine:
    return RQEngine(redis_server.url)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, engine: RQEngine
) -> Iterator[WorkerStack]:
    with worker_stack(
        tmp_path_factory.mktemp("workers-rq"),
        web_processes=WEB_PROCESSES,
        settings=engine.settings,
        worker_command=engine.worker_command,
        env={"SEABLY_TEST_REDIS_URL": redis_server.url},
    ) as live:
        yield live


@pytest.fixture
def workers(stack: WorkerStack) -> Iterator[WorkerStack]:
    """The stack; the workers a test starts are stopped after it."""
    yield stack
    stack.stop_workers()


def test_a_thousand_deliveries_through_gunicorn_and_two_workers(workers: WorkerStack, engine: RQEngine) -> None:
    checks.a_thousand_deliveries(workers, engine, workers=WORKERS)


def test_a_backlog_through_two_workers(workers: WorkerStack, engine: RQEngine) -> None:
    checks.a_backlog(workers, engine, workers=WORKERS)


def test_two_tasks_for_one_event_process_it_once(workers: WorkerStack, engine: RQEngine) -> None:
    checks.two_tasks_for_one_event(workers, engine, workers=WORKERS)


def test_workers_killed_mid_task_lose_nothing(workers: WorkerStack, engine: RQEngine) -> None:
    """SIGKILL mid-task, of a work horse alone (the OOM killer) and of a worker with its horse (a lost host).

    Either way the processing transaction rolls back, RQ never runs the job again
    (it is failed, or left started by a dead worker), and the sweep finishes the event.
    """
    stack = workers
    (worker,) = stack.start_workers(1, "doomed-")
    try:
        checks.start_a_task_that_blocks(stack, "SB-HORSE-1")
        (horse,) = worker.children()
        os.kill(horse, 9)
        checks.wait_for_rollback(stack)
        # The worker sees its horse die and fails the job; it does not run it again.
        wait_until(
            lambda: [run.status for run in checks.runs_like(stack, engine, "SB-HORSE-1")] == ["FAILED"],
            timeout=30,
            what="RQ to fail the job whose work horse died",
        )

        checks.start_a_task_that_blocks(stack, "SB-HOST-1")
        worker.kill(children=True)
        checks.wait_for_rollback(stack)
        # Nobody is left to fail this one: it stays started until RQ's cleanup gives up on the dead worker.
        assert [run.status for run in checks.runs_like(stack, engine, "SB-HOST-1")] == ["RUNNING"]

        checks.the_sweep_finishes(stack, ["SB-HORSE-1", "SB-HOST-1"])
    finally:
        engine.forget_started()  # out of the way of the other tests


def _supervise(stack: WorkerStack) -> list[str]:
    """Start again each worker that exited, as systemd's Restart=always does (docs/deploying.md); bounded.

    rqworker exits when it loses Redis outside its wait for a job.
    """
    exited = [worker for worker in stack.workers if not worker.stopped and worker.process.poll() is not None]
    for worker in exited:
        worker.stopped = True
    restarts = sum(1 for worker in stack.workers if worker.name.startswith("worker restarted-"))
    assert restarts + len(exited) <= 3 * WORKERS, "the workers keep exiting after Redis came back"
    return [started.name for started in stack.start_workers(len(exited), f"restarted-{restarts}-")]


def test_redis_stopped_during_load_loses_nothing(
    workers: WorkerStack, engine: RQEngine, redis_server: RedisServer
) -> None:
    """Redis down for a few seconds during 400 deliveries: every one answered 2xx, every event processed once.

    100 deliveries before, 200 while Redis stops (in the middle of them) and restarts,
    100 after. An enqueue that fails is logged once, with the event's id and without the
    token; its event stays pending until the sweep. What was queued before Redis stopped
    runs after it restarts (append-only file). A worker that exits for want of Redis is
    started again, as its supervisor would.
    """
    stack = workers
    prefix = "SB-OUTAGE-"
    ids = [f"{prefix}{n:04d}" for n in range(400)]
    deliveries = [json.dumps(checks.certificate(seably_id)).encode() for seably_id in ids]
    log_offset = len(stack.server.stderr())
    stack.start_workers(WORKERS, "outage-")
    try:
        answers = post_all(stack, deliveries[:100], threads=8, timeout=60)
        during: list[tuple[int, Any]] = []
        failures: list[BaseException] = []

        def send() -> None:
            try:
                during.extend(post_all(stack, deliveries[100:300], threads=8, timeout=120))
            except BaseException as error:  # reported below
                failures.append(error)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        wait_until(
            lambda: len(checks.events_like(stack, prefix)) >= 120, timeout=60, what="the first deliveries to be stored"
        )
        redis_server.stop()
        stopped_at = time.monotonic()
        try:
            time.sleep(OUTAGE_SECONDS)
        finally:
            redis_server.start()
        down_for = time.monotonic() - stopped_at
        restarted = _supervise(stack)
        sender.join(timeout=130)
        assert not sender.is_alive(), "the deliveries did not finish"
        assert not failures, failures
        answers += during
        answers += post_all(stack, deliveries[300:], threads=8, timeout=60)

        assert Counter((status, answer["status"]) for status, answer in answers) == {(200, "accepted"): 400}
        events = checks.events_like(stack, prefix)
        assert len(events) == 400
        log = stack.server.stderr()[log_offset:]
        logged = Counter(int(event_id) for event_id in _ENQUEUE_FAILED.findall(log))
        assert logged, f"no enqueue failed while Redis was down for {down_for:.1f} s: the test proved nothing"
        assert set(logged.values()) == {1}, "each failed enqueue is logged once"
        assert set(logged) <= {event["id"] for event in events}
        assert stack.webhook_path.strip("/").rsplit("/", 1)[-1] not in log, "the token is in the log"

        # The workers empty the queue. Still pending: what could not be enqueued, and at most
        # one task per worker, taken from the queue just before Redis stopped and lost with it.
        def settled() -> bool:
            restarted.extend(_supervise(stack))
            live = [worker.name.removeprefix("worker ") for worker in stack.workers if not worker.stopped]
            return engine.queued() == 0 and engine.running_on(live) == 0

        try:
            wait_until(settled, timeout=120, interval=0.25, what="the workers to run every queued task")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{stack.logs()}") from None
        events = checks.events_like(stack, prefix)
        pending = [event for event in events if event["status"] == "pending"]
        lost_in_flight = {event["object_id"] for event in pending if event["id"] not in logged}
        assert len(lost_in_flight) <= WORKERS, lost_in_flight
        assert pending, "every failed enqueue's event got processed anyway: the sweep was not tested"
        # Everything delivered after Redis came back was run by the workers.
        assert not set(ids[300:]) & {event["object_id"] for event in pending}
        assert not {event["id"] for event in events if event["object_id"] in ids[300:]} & set(logged)

        checks.the_sweep_finishes(stack, [event["object_id"] for event in pending])
        events = checks.events_like(stack, prefix)
        assert Counter((event["status"], event["attempts"]) for event in events) == {("processed", 1): 400}
        assert checks.certificate_ids(stack, prefix) == ids
        assert sorted(row["seably_id"] for row in checks.signals_like(stack, prefix, "certificate_created")) == ids
        received = checks.signals_like(stack, prefix, "webhook_received")
        assert len(received) == len({row["event_id"] for row in received}) == 400
        print(
            f"\nRedis down for {down_for:.1f} s during 400 deliveries: {len(restarted)} workers exited (restarted), "
            f"{len(logged)} enqueues failed (logged once each), {len(lost_in_flight)} tasks lost in flight, "
            f"{len(pending)} events left pending for the sweep, 100 delivered after it; 0 lost, 0 processed twice."
        )
    finally:
        # A task that finished while Redis was down may be left started: out of the way of the other tests.
        engine.forget_started()
