"""The web app under gunicorn and task workers, on a PostgreSQL database of their own.

Two engines: django-tasks-db's ``db_worker`` (tests/test_workers.py, settings
tests.settings_workers) and RQ, django-rq's ``rqworker`` on a throwaway
``redis-server`` (tests/test_workers_rq.py, tests.settings_workers_rq). Every
process runs PROCESSING = "tasks" with receivers that record signals in the
database. The test process never shares their database through Django: it reads
rows back with plain psycopg (tests.servers.PostgresDatabase). Every wait is
bounded in count and time, and every process is stopped (SIGTERM, then SIGKILL)
whatever happens.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django_seably.testing import certificate_body
from tests import servers
from tests.servers import REPO_ROOT, PostgresDatabase, Server, create_endpoint, run_django

SETTINGS = "tests.settings_workers"

#: The cron line of docs/deploying.md: events pending for more than ten minutes.
SWEEP = ("seably_reprocess", "--pending", "--older-than", "10m")

#: Bounds, in seconds.
START_TIMEOUT = 30
STOP_TIMEOUT = 15
REQUEST_TIMEOUT = 30.0


def wait_until(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str) -> Any:
    """Return ``predicate()``'s first truthy value; fail after ``timeout`` seconds (and a bounded number of polls)."""
    deadline = time.monotonic() + timeout
    for _poll in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# --- processes ---------------------------------------------------------------------


@dataclass
class Process:
    """A child process in its own process group, its output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[int]:
        """The pids of the processes this one forked (an RQ worker's work horse), from /proc."""
        return [pid for pid, parent, _group in _processes() if parent == self.process.pid]

    def kill(self, *, children: bool = False) -> None:
        """SIGKILL the process (and its children: a lost host), as the OOM killer or a crash does."""
        doomed = self.children() if children else []
        os.kill(self.process.pid, signal.SIGKILL)
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self.stopped = True

    def stop(self) -> None:
        """SIGTERM the group, wait (bounded), SIGKILL it if it is still there."""
        if self.stopped:
            return
        self.stopped = True
        children = self.children()  # in groups of their own (an RQ work horse): not reached by killpg
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _processes() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every process, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after the name: state, ppid, pgrp
            found.append((int(stat.parent.name), int(fields[1]), int(fields[2])))
    return found


def db_worker_command(worker_id: str) -> list[str]:
    """django-tasks-db's ``db_worker``: polls every 50 ms when idle, no startup delay, no autoreload."""
    return [
        "db_worker",
        "--interval",
        "0.05",
        "--no-startup-delay",
        "--no-reload",
        "--worker-id",
        worker_id,
        "--verbosity",
        "1",
    ]


def start_worker(env: dict[str, str], log_dir: Path, worker_id: str, command: Sequence[str]) -> Process:
    """Start the management command ``command`` as a worker, its output in ``log_dir``."""
    log_path = log_dir / f"worker-{worker_id}.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "django", *command],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name=f"worker {worker_id}", process=process, log_path=log_path)


def start_gunicorn(env: dict[str, str], log_dir: Path, ready_path: str, *, workers: int) -> Server:
    """Serve tests.wsgi with ``workers`` processes on a free port of 127.0.0.1; wait until GET answers 200."""
    return servers.start_gunicorn(env, log_dir, ready_path, workers=workers, timeout=30)


# --- HTTP ----------------------------------------------------------------------------


def request(host: str, port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def post_all(stack: WorkerStack, bodies: Sequence[bytes], *, threads: int, timeout: float) -> list[tuple[int, Any]]:
    """POST every body to the webhook from ``threads`` threads; return (status, JSON answer) in input order."""
    results: list[tuple[int, Any] | None] = [None] * len(bodies)
    errors: list[BaseException] = []
    lock = threading.Lock()
    position = iter(range(len(bodies)))
    deadline = time.monotonic() + timeout

    def sender() -> None:
        while time.monotonic() < deadline:
            with lock:
                index = next(position, None)
            if index is None:
                return
            try:
                status, answer = request(
                    stack.server.host, stack.server.port, "POST", stack.webhook_path, bodies[index]
                )
                results[index] = (status, json.loads(answer))
            except BaseException as error:  # reported below
                errors.append(error)
                return

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=max(deadline - time.monotonic(), 0.1))
    assert not errors, errors[:3]
    assert not any(thread.is_alive() for thread in pool), f"deliveries did not finish in {timeout} s"
    missing = [index for index, result in enumerate(results) if result is None]
    assert not missing, f"{len(missing)} deliveries not sent in {timeout} s"
    return [result for result in results if result is not None]


# --- the stack ---------------------------------------------------------------------


@dataclass
class WorkerStack:
    """A database, gunicorn serving it, and the workers started on it so far."""

    database: PostgresDatabase
    env: dict[str, str]
    webhook_path: str
    server: Server
    log_dir: Path
    worker_command: Callable[[str], list[str]]
    workers: list[Process] = field(default_factory=list)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self.database.query(sql, params)

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        (row,) = self.query(sql, params)
        (value,) = row.values()
        return value

    def django(self, *args: str) -> str:
        """Run a management command in a process of its own, on this database; return its stdout."""
        return run_django(self.env, *args)

    def start_workers(self, count: int, prefix: str) -> list[Process]:
        started = [
            start_worker(self.env, self.log_dir, f"{prefix}{n}", self.worker_command(f"{prefix}{n}"))
            for n in range(count)
        ]
        self.workers.extend(started)
        return started

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def logs(self) -> str:
        """Every process's output, for a failure message."""
        parts = [f"--- gunicorn ---\n{self.server.stderr()[-4000:]}"]
        parts += [f"--- {worker.name} ---\n{worker.log()[-4000:]}" for worker in self.workers]
        return "\n".join(parts)


@contextlib.contextmanager
def worker_stack(
    tmp_dir: Path,
    *,
    web_processes: int,
    settings: str = SETTINGS,
    worker_command: Callable[[str], list[str]] = db_worker_command,
    env: Mapping[str, str] | None = None,
) -> Iterator[WorkerStack]:
    """Create and migrate a PostgreSQL database, create an endpoint, serve it; undo it all afterwards.

    ``settings`` is the Django settings module of every process, ``worker_command``
    the management command (and its arguments) that starts worker number N, and
    ``env`` what else their environment holds (e.g. the Redis URL).
    """
    database = PostgresDatabase()
    database.name = f"seably_workers_{secrets.token_hex(6)}"
    database.env = {"SEABLY_TEST_DB_NAME": database.name}
    database.create()
    try:
        process_env = {**os.environ, **database.env, **(env or {})}
        process_env["DJANGO_SETTINGS_MODULE"] = settings
        process_env["PYTHONUNBUFFERED"] = "1"
        run_django(process_env, "migrate", "--no-input", "-v", "0")
        webhook_path = create_endpoint(process_env, "workers")
        server = start_gunicorn(process_env, tmp_dir, webhook_path, workers=web_processes)
        stack = WorkerStack(
            database=database,
            env=process_env,
            webhook_path=webhook_path,
            server=server,
            log_dir=tmp_dir,
            worker_command=worker_command,
        )
        try:
            yield stack
        finally:
            stack.stop_workers()
            server.stop()
    finally:
        database.drop()


# --- engines: what the test reads back from each backend's queue -------------------------


@dataclass(frozen=True)
class TaskRun:
    """One task of an event, as the backend keeps it (status in the tasks framework's words)."""

    event_id: int
    status: str  # READY, RUNNING, SUCCESSFUL, FAILED
    return_value: Any
    started_at: Any
    finished_at: Any


class Engine(Protocol):
    """A task backend under test: how to start its worker and read its queue."""

    settings: str

    def worker_command(self, worker_id: str) -> list[str]: ...

    def unfinished(self, stack: WorkerStack) -> int:
        """How many tasks are waiting or running."""
        ...

    def runs(self, stack: WorkerStack, event_ids: Sequence[int]) -> list[TaskRun]:
        """The tasks of these events."""
        ...


class DatabaseEngine:
    """django-tasks-db: the queue is a table in the same PostgreSQL database."""

    settings = SETTINGS

    def worker_command(self, worker_id: str) -> list[str]:
        return db_worker_command(worker_id)

    def unfinished(self, stack: WorkerStack) -> int:
        return int(
            stack.scalar("SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE status IN ('READY', 'RUNNING')")
        )

    def runs(self, stack: WorkerStack, event_ids: Sequence[int]) -> list[TaskRun]:
        rows = stack.query(
            "SELECT args_kwargs, status, return_value, started_at, finished_at FROM django_tasks_database_dbtaskresult "
            "WHERE args_kwargs->'args'->>0 = ANY(%s)",
            ([str(event_id) for event_id in event_ids],),
        )
        return [
            TaskRun(
                row["args_kwargs"]["args"][0], row["status"], row["return_value"], row["started_at"], row["finished_at"]
            )
            for row in rows
        ]


class RedisServer:
    """A throwaway ``redis-server`` on 127.0.0.1, a free port, its files in a temp dir; stop() whatever happens.

    Append-only file on, as a production Redis under RQ should be: a restart keeps
    the queue (what was enqueued before Redis stopped still runs afterwards).
    """

    def __init__(self, binary: Path, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start on a free port (or, after stop(), on the same one); wait (bounded) until it answers PING."""
        for _attempt in range(3):  # another process may take a free port between choosing and binding it
            if not self.port or _attempt:
                with contextlib.closing(socket.socket()) as probe:
                    probe.bind(("127.0.0.1", 0))
                    self.port = probe.getsockname()[1]
            log = (self.directory / "redis.log").open("ab")
            with log:
                self.process = subprocess.Popen(
                    [
                        str(self.binary),
                        "--bind",
                        "127.0.0.1",
                        "--port",
                        str(self.port),
                        "--dir",
                        str(self.directory),
                        "--save",
                        "",
                        "--appendonly",
                        "yes",
                        "--daemonize",
                        "no",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._answers(timeout=START_TIMEOUT):
                return
            self.stop()
        raise AssertionError(f"redis-server did not start:\n{self.log()[-2000:]}")

    def _answers(self, *, timeout: float) -> bool:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + timeout
        for _poll in range(int(timeout / 0.05) + 1):
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                return False
            try:
                if client.ping():
                    return True
            except redis.RedisError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM (Redis flushes its append-only file and exits), SIGKILL if it lingers; bounded."""
        if self.process is None:
            return
        process, self.process = self.process, None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


class RQEngine:
    """django-tasks-rq: jobs in Redis, run by django-rq's ``rqworker`` with the job class the backend needs."""

    settings = "tests.settings_workers_rq"

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url

    def worker_command(self, worker_id: str) -> list[str]:
        """The command of docs/deploying.md; a worker forks a work horse per job (RQ's default Worker)."""
        return ["rqworker", "--job-class", "django_tasks_rq.Job", "--name", worker_id, "default"]

    def _queue(self) -> Any:
        import redis
        from rq import Queue

        return Queue("default", connection=redis.Redis.from_url(self.redis_url, socket_timeout=5))

    def queued(self) -> int:
        """How many jobs wait in the queue."""
        return int(self._queue().count)

    def unfinished(self, stack: WorkerStack) -> int:
        from rq.registry import StartedJobRegistry

        queue = self._queue()
        return int(queue.count) + int(StartedJobRegistry(queue=queue).count)

    def runs(self, stack: WorkerStack, event_ids: Sequence[int]) -> list[TaskRun]:
        from rq.job import Job, JobStatus

        statuses = {
            JobStatus.QUEUED: "READY",
            JobStatus.STARTED: "RUNNING",
            JobStatus.FINISHED: "SUCCESSFUL",
            JobStatus.FAILED: "FAILED",
        }
        queue = self._queue()
        wanted = set(event_ids)
        job_ids = [key.decode().removeprefix("rq:job:") for key in queue.connection.keys("rq:job:*")]
        runs = []
        for job in Job.fetch_many(job_ids, connection=queue.connection):
            if job is None or not job.args or job.args[0] not in wanted:
                continue
            status = job.get_status()
            runs.append(
                TaskRun(
                    job.args[0],
                    statuses.get(status, str(status)),
                    job.return_value() if status == JobStatus.FINISHED else None,
                    job.started_at,
                    job.ended_at,
                )
            )
        return runs

    def running_on(self, worker_names: Sequence[str]) -> int:
        """How many jobs these workers are running (a dead worker's job stays started: not counted)."""
        from rq.job import Job, JobStatus
        from rq.registry import StartedJobRegistry

        queue = self._queue()
        job_ids = StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
        jobs = [job for job in Job.fetch_many(job_ids, connection=queue.connection) if job is not None]
        return sum(1 for job in jobs if job.worker_name in worker_names and job.get_status() == JobStatus.STARTED)

    def forget_started(self) -> None:
        """Empty the started registry (jobs of dead workers), as RQ's cleanup does once their heartbeat expires."""
        from rq.registry import StartedJobRegistry

        registry = StartedJobRegistry(queue=self._queue())
        registry.connection.delete(registry.key)


# --- the checks every engine must pass (tests/test_workers.py, tests/test_workers_rq.py) ------------


def certificate(seably_id: str, **flags: Any) -> dict[str, Any]:
    """A certificate.created for ``seably_id``; ``flags`` steer the workers' receivers (tests/workerapp)."""
    return certificate_body(seably_id, learner_email=f"{seably_id.lower()}@example.com", **flags)


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


def runs_like(stack: WorkerStack, engine: Engine, prefix: str) -> list[TaskRun]:
    """The tasks of the events for these certificate ids (the task's one argument is the event's id)."""
    return engine.runs(stack, [event["id"] for event in events_like(stack, prefix)])


def wait_for_workers(stack: WorkerStack, engine: Engine, prefix: str, *, timeout: float) -> None:
    """Until no task is waiting or running and none of these events is pending (bounded); the logs if not."""
    try:
        wait_until(
            lambda: (
                engine.unfinished(stack) == 0
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


def a_thousand_deliveries(stack: WorkerStack, engine: Engine, *, workers: int) -> dict[str, float]:
    """1,000 deliveries: 10% duplicates, 5% for events that fail once; every event ends as it should.

    Return the timings: ``sent`` (s, the last answer), ``drained`` (s, every event done),
    ``events_per_second`` (events processed per second, first request to last task).
    """
    rng = random.Random(5)
    prefix = "SB-BULK-"
    fresh = [f"{prefix}{n:05d}" for n in range(880)]
    fail_once = set(rng.sample(fresh, 50))  # 5% of the 1,000 deliveries
    ok = [seably_id for seably_id in fresh if seably_id not in fail_once]
    bodies = [certificate(seably_id, fail_once=seably_id in fail_once) for seably_id in fresh]
    # A second certificate.created for 20 certificates (new data, a new event): no certificate_created.
    bodies += [certificate(seably_id, fail_once=False, course_title="Updated") for seably_id in ok[:20]]
    unique = [json.dumps(body).encode() for body in bodies]
    # 100 duplicate deliveries (10%), some with their keys in another order: the same JSON.
    resent = [
        json.dumps(bodies[index], sort_keys=bool(index % 2), indent=index % 3 or None).encode()
        for index in rng.choices(range(len(bodies)), k=100)
    ]
    deliveries = unique + resent
    rng.shuffle(deliveries)
    assert (len(deliveries), len(unique)) == (1000, 900)

    stack.start_workers(workers, "big-")
    started = time.monotonic()
    answers = post_all(stack, deliveries, threads=8, timeout=120)
    sent_in = time.monotonic() - started
    wait_for_workers(stack, engine, prefix, timeout=120)
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
    runs = runs_like(stack, engine, prefix)
    assert len({run.event_id for run in runs}) == len(runs) == 900, "one task per event"
    assert Counter((run.status, run.return_value) for run in runs) == {
        ("SUCCESSFUL", "processed"): 850,
        ("SUCCESSFUL", "failed"): 50,
    }
    worker_pids = {row["pid"] for row in received}
    gunicorn_pids = _group_pids(stack.server.process.pid)
    assert worker_pids and not worker_pids & gunicorn_pids  # receivers ran in the workers, not in gunicorn

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
    timings = {"sent": sent_in, "drained": drained_in, "events_per_second": 900 / drained_in}
    print(  # shown with -s: the numbers behind the report
        f"\n1,000 deliveries: sent in {sent_in:.1f} s, all 900 events done in {drained_in:.1f} s "
        f"({timings['events_per_second']:.0f} events/s through {workers} workers); "
        f"answers {dict(Counter(answer['status'] for _status, answer in answers))}; "
        f"receivers ran in {len(worker_pids)} worker processes."
    )
    return timings


def _group_pids(pgid: int) -> set[int]:
    """The processes of a process group (gunicorn's master and its workers)."""
    return {pid for pid, _parent, group in _processes() if group == pgid}


def two_tasks_for_one_event(stack: WorkerStack, engine: Engine, *, workers: int) -> int:
    """Each event's task enqueued twice back to back: two workers run them together, receivers run once.

    Return how many of the 60 pairs ran at the same time.
    """
    prefix = "SB-TWICE-"
    ids = [f"{prefix}{n:04d}" for n in range(60)]
    bodies = [json.dumps(certificate(seably_id, slow=True)) for seably_id in ids]
    # Seeded with no worker running, so that both tasks of an event are next to each other in the queue.
    stack.django(
        "shell", "-c", f"from tests.workers import seed_doubly_enqueued; seed_doubly_enqueued({json.dumps(bodies)!r})"
    )
    assert engine.unfinished(stack) == 120

    stack.start_workers(workers, "twice-")
    wait_for_workers(stack, engine, prefix, timeout=90)

    events = events_like(stack, prefix)
    assert [(event["status"], event["attempts"]) for event in events] == [("processed", 1)] * 60
    assert certificate_ids(stack, prefix) == ids
    assert sorted(row["seably_id"] for row in signals_like(stack, prefix, "certificate_created")) == ids
    assert sorted(row["seably_id"] for row in signals_like(stack, prefix, "webhook_received")) == ids
    per_event: dict[int, list[TaskRun]] = {}
    for run in runs_like(stack, engine, prefix):
        per_event.setdefault(run.event_id, []).append(run)
    assert len(per_event) == 60
    assert all(sorted(run.return_value for run in runs) == ["processed", "skipped"] for runs in per_event.values())
    overlapping = sum(
        1
        for first, second in (sorted(runs, key=lambda run: run.started_at) for runs in per_event.values())
        if second.started_at < first.finished_at
    )
    # The slow receiver keeps the first task running while the other worker starts the second one.
    assert overlapping > 0, "no two tasks of one event ran at the same time: the test proved nothing"
    print(f"\nTwo tasks per event: {overlapping} of 60 pairs ran at the same time.")
    return overlapping


def a_backlog(stack: WorkerStack, engine: Engine, *, workers: int, count: int = 300) -> float:
    """``count`` events queued with no worker running, then drained by ``workers`` workers: each processed once.

    Return the workers' rate in events per second (from their start to the last event
    done): what a backlog costs to catch up, without gunicorn sharing the CPU.
    """
    prefix = "SB-BACKLOG-"
    ids = [f"{prefix}{n:04d}" for n in range(count)]
    # The ids, not the bodies: 300 bodies would pass the length limit of one command-line argument.
    stack.django("shell", "-c", f"from tests.workers import seed_enqueued; seed_enqueued({json.dumps(ids)!r})")
    assert engine.unfinished(stack) == count

    started = time.monotonic()
    stack.start_workers(workers, "backlog-")
    wait_for_workers(stack, engine, prefix, timeout=120)
    rate = count / (time.monotonic() - started)

    events = events_like(stack, prefix)
    assert Counter((event["status"], event["attempts"]) for event in events) == {("processed", 1): count}
    assert sorted(row["seably_id"] for row in signals_like(stack, prefix, "certificate_created")) == ids
    runs = runs_like(stack, engine, prefix)
    assert Counter((run.status, run.return_value) for run in runs) == {("SUCCESSFUL", "processed"): count}
    print(f"\nA backlog of {count} events: {rate:.0f} events/s through {workers} workers (worker start included).")
    return rate


def start_a_task_that_blocks(stack: WorkerStack, seably_id: str) -> int:
    """Deliver an event whose receiver blocks; wait until a worker is inside it; return the event's id.

    Mid-task the claim is not committed, so the event is pending to everyone else,
    and the cron sweep leaves it alone while it is recent: the worker may still finish it.
    """
    answers = post_all(stack, [json.dumps(certificate(seably_id, block=True)).encode()], threads=1, timeout=30)
    assert [answer["status"] for _status, answer in answers] == ["accepted"]
    event_id = int(answers[0][1]["event_id"])
    wait_until(
        lambda: stack.query("SELECT 1 FROM workerapp_memo WHERE key = %s", (f"started:{seably_id}",)),
        timeout=30,
        what="the worker to be inside the receiver",
    )
    (event,) = events_like(stack, seably_id)
    assert (event["status"], event["attempts"]) == ("pending", 0)
    assert stack.django(*SWEEP).strip() == "Reprocessed 0 events: 0 processed, 0 failed, 0 invalid, 0 skipped."
    return event_id


def wait_for_rollback(stack: WorkerStack) -> None:
    """Until PostgreSQL has rolled back the transactions of killed processes (bounded)."""
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


def the_sweep_finishes(stack: WorkerStack, seably_ids: Sequence[str]) -> None:
    """These events are pending with nothing committed; ten minutes later the cron sweep processes each once."""
    events = [event for seably_id in seably_ids for event in events_like(stack, seably_id)]
    assert len(events) == len(seably_ids)
    assert all((event["status"], event["attempts"]) == ("pending", 0) for event in events)
    for seably_id in seably_ids:
        assert certificate_ids(stack, seably_id) == []
        assert signals_like(stack, seably_id, "webhook_received") == []

    # Ten minutes later, the cron line of docs/deploying.md.
    ids = [event["id"] for event in events]
    stack.database.execute(
        "UPDATE django_seably_webhookevent SET received_at = received_at - interval '11 minutes' WHERE id = ANY(%s)",
        (ids,),
    )
    count = len(ids)
    assert stack.django(*SWEEP).strip() == (
        f"Reprocessed {count} event{'s' if count != 1 else ''}: {count} processed, 0 failed, 0 invalid, 0 skipped."
    )
    for seably_id, event_id in zip(seably_ids, ids, strict=True):
        (event,) = events_like(stack, seably_id)
        assert (event["status"], event["attempts"]) == ("processed", 1)
        assert certificate_ids(stack, seably_id) == [seably_id]
        assert [row["event_id"] for row in signals_like(stack, seably_id, "certificate_created")] == [event_id]
        assert [row["event_id"] for row in signals_like(stack, seably_id, "webhook_received")] == [event_id]


# --- run inside a worker-settings process (``django shell -c``) ---------------------------


def seed_enqueued(ids_json: str) -> None:
    """Store a certificate.created per id as a delivery, as the view does (which enqueues its task after the commit)."""
    from django_seably.models import Endpoint
    from django_seably.processing import receive

    endpoint = Endpoint.objects.get(name="workers")
    for seably_id in json.loads(ids_json):
        assert receive(endpoint, json.dumps(certificate(seably_id)).encode(), {}).is_new, seably_id


def seed_doubly_enqueued(bodies_json: str) -> None:
    """Store each body as a delivery, as the view does, then enqueue its task a second time at once.

    Storing enqueues the first task, as a delivery does; the second lands right behind it
    in the queue, so two workers pick up the two tasks of one event together.
    """
    from django_seably.models import Endpoint
    from django_seably.processing import receive
    from django_seably.tasks import process_event_task

    endpoint = Endpoint.objects.get(name="workers")
    for body in json.loads(bodies_json):
        delivery = receive(endpoint, body.encode(), {})
        assert delivery.is_new, body
        process_event_task.enqueue(delivery.event.pk)
