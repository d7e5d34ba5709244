"""Databases, gunicorn and the PostgreSQL cluster for the fault suite: start, break, stop, all bounded.

The databases are tests.servers' (created here, migrated by a subprocess, read back
with plain sqlite3/psycopg); gunicorn runs with three workers, as a small
production site would, and the cluster is the one scripts/with-postgres started,
stopped and started again through the pg_ctl it exports.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.servers import (
    REPO_ROOT,
    Database,
    PostgresDatabase,
    Server,
    SQLiteDatabase,
    create_endpoint,
    run_django,
    start_gunicorn,
)

SETTINGS = "faults.settings"

#: gunicorn: sync workers, a worker silent this long is killed, and this long to finish on SIGTERM.
WORKERS = 3
WORKER_TIMEOUT = 10
GRACEFUL_TIMEOUT = 3

#: The server: gunicorn's sync workers serving tests.wsgi, or ("uvicorn") gunicorn with
#: uvicorn's worker serving tests.asgi (guard_webhooks around Django's ASGI handler).
#: faults.run --server sets it.
SERVER = "gunicorn"
UVICORN_WORKER = "uvicorn_worker.UvicornWorker"

#: Seconds.
START_TIMEOUT = 30
PG_CTL_TIMEOUT = 45


class FaultsPostgresDatabase(PostgresDatabase):
    """A database of its own on the cluster PG* points at, named for this suite (seen in pg_stat_activity)."""

    def __init__(self) -> None:
        super().__init__()
        self.name = f"seably_faults_{secrets.token_hex(6)}"
        self.env = {"SEABLY_TEST_DB_NAME": self.name}


def database_for(vendor: str, workdir: Path, scenario: str) -> Database:
    if vendor == "postgres":
        return FaultsPostgresDatabase()
    return SQLiteDatabase(workdir / f"{scenario}.sqlite3")


def django_env(vendor: str, database: Database, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of every process of a scenario: faults.settings on ``database``, plus ``extra``."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        SEABLY_FAULTS_DB=vendor,
        SEABLY_FAULTS_DB_NAME=database.env["SEABLY_TEST_DB_NAME"],
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


def prepare(env: Mapping[str, str]) -> str:
    """Migrate the scenario's database and create its endpoint (subprocesses); return the webhook path."""
    run_django(env, "migrate", "--no-input", "-v", "0")
    return create_endpoint(env, "faults")


def run_command(env: Mapping[str, str], *args: str) -> str:
    """Run a management command in a process of its own (as cron would), bounded; return its stdout."""
    return run_django(env, *args)


# --- gunicorn ---------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(env: Mapping[str, str], workdir: Path, ready_path: str, name: str) -> Iterator[Server]:
    """Serve tests.wsgi with faults.settings on a free port of 127.0.0.1; stop the whole process group afterwards.

    Ready when every worker could answer, not just one.
    """
    server = start_gunicorn(
        env,
        workdir,
        ready_path,
        workers=WORKERS,
        timeout=WORKER_TIMEOUT,
        graceful_timeout=GRACEFUL_TIMEOUT,
        log_name=f"{name}.gunicorn.log",
        # Every worker must be able to answer, not just the first one up.
        ready_in_a_row=WORKERS,
        ready_until=lambda server: len(worker_pids(server)) >= WORKERS,
        app="tests.asgi:application" if SERVER == "uvicorn" else "tests.wsgi:application",
        extra_args=("-k", UVICORN_WORKER) if SERVER == "uvicorn" else (),
    )
    try:
        yield server
    finally:
        server.stop()


def worker_pids(server: Server) -> list[int]:
    """The pids of the master's children (its workers), from /proc; bounded by the number of processes."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children")
    with contextlib.suppress(OSError):
        return [int(pid) for pid in children.read_text().split()]
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # The command may contain spaces and parentheses: the fields after the last ")" are fixed.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


def kill_worker(server: Server, pid: int) -> bool:
    """SIGKILL one worker (never the master); False if it had already gone."""
    if pid == server.process.pid:
        raise ValueError("refusing to kill the gunicorn master")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


# --- the PostgreSQL cluster ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """The cluster scripts/with-postgres started, through the pg_ctl command it exports."""

    pg_ctl: list[str]
    start_options: str
    log: Path

    ENV = ("SEABLY_PG_CTL", "SEABLY_PG_START_OPTIONS", "SEABLY_PG_LOG")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Cluster | None:
        if not all(env.get(name) for name in cls.ENV):
            return None
        return cls(shlex.split(env["SEABLY_PG_CTL"]), env["SEABLY_PG_START_OPTIONS"], Path(env["SEABLY_PG_LOG"]))

    def _pg_ctl(self, *args: str) -> None:
        # From the log's directory, which the server user can enter; in a session of its own, so the
        # postmaster it starts gets no Ctrl-C meant for us (scripts/with-postgres stops it at the end).
        # Output to a file, not a pipe: a postmaster holding the pipe open would make us wait for it.
        with tempfile.TemporaryFile() as output:
            result = subprocess.run(
                [*self.pg_ctl, *args],
                cwd=self.log.parent,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=PG_CTL_TIMEOUT,
                start_new_session=True,
                check=False,
            )
            output.seek(0)
            text = output.read().decode(errors="replace").strip()
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {args[0]} exited with {result.returncode}: {text}")

    def stop_immediately(self) -> None:
        """Stop as a crash would: every backend killed at once, no checkpoint (recovery runs at start)."""
        self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")

    def start(self) -> None:
        """Start again with the same port and options, and wait until it accepts connections."""
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log), "-o", self.start_options)
