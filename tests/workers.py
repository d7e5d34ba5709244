"""The web app under gunicorn and django-tasks-db workers, on a PostgreSQL database of their own (test_workers.py).

Every process here runs tests.settings_workers (PROCESSING = "tasks", a database
task backend, receivers that record signals in the database). The test process
never shares their database through Django: it reads rows back with plain
psycopg (tests.servers.PostgresDatabase). Every wait is bounded in count and time,
and every process is stopped (SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import servers
from tests.servers import REPO_ROOT, PostgresDatabase, Server, create_endpoint, run_django

SETTINGS = "tests.settings_workers"

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

    def kill(self) -> None:
        """SIGKILL the process itself (not its group): what the OOM killer or a lost host does."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self.stopped = True

    def stop(self) -> None:
        """SIGTERM the group, wait (bounded), SIGKILL it if it is still there."""
        if self.stopped:
            return
        self.stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)


def start_worker(env: dict[str, str], log_dir: Path, worker_id: str) -> Process:
    """Start ``db_worker``: polls every 50 ms when idle, no startup delay, no autoreload."""
    log_path = log_dir / f"worker-{worker_id}.log"
    command = [
        sys.executable,
        "-m",
        "django",
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
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            command,
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
        started = [start_worker(self.env, self.log_dir, f"{prefix}{n}") for n in range(count)]
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
def worker_stack(tmp_dir: Path, *, web_processes: int) -> Iterator[WorkerStack]:
    """Create and migrate a PostgreSQL database, create an endpoint, serve it; undo it all afterwards."""
    database = PostgresDatabase()
    database.name = f"seably_workers_{secrets.token_hex(6)}"
    database.env = {"SEABLY_TEST_DB_NAME": database.name}
    database.create()
    try:
        env = dict(os.environ)
        env.update(database.env)
        env["DJANGO_SETTINGS_MODULE"] = SETTINGS
        env["PYTHONUNBUFFERED"] = "1"
        run_django(env, "migrate", "--no-input", "-v", "0")
        webhook_path = create_endpoint(env, "workers")
        server = start_gunicorn(env, tmp_dir, webhook_path, workers=web_processes)
        stack = WorkerStack(database=database, env=env, webhook_path=webhook_path, server=server, log_dir=tmp_dir)
        try:
            yield stack
        finally:
            stack.stop_workers()
            server.stop()
    finally:
        database.drop()


# --- run inside a worker-settings process (``django shell -c``) ---------------------------


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
