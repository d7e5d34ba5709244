"""Serve the app under gunicorn, on a database of its own, for black-box HTTP tests (tests/test_http.py).

Nothing here uses pytest-django's test database: the server process and the
tests share a database created (and dropped) here, read back with plain
sqlite3 / psycopg connections.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Bounds, in seconds.
COMMAND_TIMEOUT = 120
START_TIMEOUT = 20
STOP_TIMEOUT = 15

#: gunicorn's error log on stderr, plus the root logger at INFO, so that the
#: records Django writes for 4xx/5xx responses ("Not Found: /seably/…/") reach
#: stderr too: with DEBUG = False Django's own console handler drops them, and
#: the token check on stderr would prove nothing. The access log stays off
#: (gunicorn enables it whenever a log config is given, so it is silenced here).
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}


# --- databases ---------------------------------------------------------------------


class Database:
    """A database of its own for a server process; ``env`` selects it in tests/settings.py."""

    vendor = ""
    env: dict[str, str]

    def create(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run ``sql`` (``%s`` placeholders) on a fresh connection and return the rows as dicts."""
        raise NotImplementedError

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run a writing statement (``%s`` placeholders) and commit it; return the row count."""
        raise NotImplementedError


class SQLiteDatabase(Database):
    vendor = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {"SEABLY_TEST_DB_NAME": str(path)}

    def create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def drop(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.path, timeout=20)) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql.replace("%s", "?"), params)]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with contextlib.closing(sqlite3.connect(self.path, timeout=20)) as connection, connection:
            return connection.execute(sql.replace("%s", "?"), params).rowcount


class PostgresDatabase(Database):
    """``CREATE DATABASE seably_http_<random>`` on the server PG* points at; dropped afterwards."""

    vendor = "postgresql"

    def __init__(self) -> None:
        self.name = f"seably_http_{secrets.token_hex(6)}"
        self.env = {"SEABLY_TEST_DB_NAME": self.name}

    @staticmethod
    def _connect(dbname: str) -> Any:
        import psycopg

        return psycopg.connect(
            dbname=dbname,
            user=os.environ.get("PGUSER", "postgres"),
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=os.environ.get("PGPORT", "5432"),
            autocommit=True,
            connect_timeout=10,
        )

    def create(self) -> None:
        with self._connect(os.environ.get("PGDATABASE", "postgres")) as connection:
            connection.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with self._connect(os.environ.get("PGDATABASE", "postgres")) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.name,),
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{self.name}"')

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        with self._connect(self.name) as connection, connection.cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._connect(self.name) as connection:  # autocommit
            return int(connection.execute(sql, params).rowcount)


def database_for(vendor: str, tmp_dir: Path) -> Database:
    if vendor == "postgresql":
        return PostgresDatabase()
    return SQLiteDatabase(tmp_dir / "seably_http.sqlite3")


# --- Django commands ---------------------------------------------------------------------


def server_env(database: Database) -> dict[str, str]:
    """The test process's environment (PG* included) with the server's settings and database."""
    env = dict(os.environ)
    env.update(database.env)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_django(env: Mapping[str, str], *args: str) -> str:
    """Run ``python -m django ARGS`` in the repo root; return its stdout, fail with its output."""
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`django {' '.join(args)}` exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


_WEBHOOK_PATH = re.compile(r"^(/\S+/)$", re.MULTILINE)


def create_endpoint(env: Mapping[str, str], name: str) -> str:
    """Create an endpoint with ``seably_endpoint create`` and return the webhook path it printed."""
    output = run_django(env, "seably_endpoint", "create", name)
    paths = _WEBHOOK_PATH.findall(output)
    if len(paths) != 1:
        raise RuntimeError(f"expected one webhook path in the output of seably_endpoint create, got {output!r}")
    return str(paths[0])


# --- gunicorn ---------------------------------------------------------------------


@dataclass
class Server:
    """A running server (gunicorn or uvicorn) in its own process group."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    stderr_path: Path
    stopped: bool = field(default=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stderr(self) -> str:
        """What the server wrote to stderr (its error log) and stdout, so far."""
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM the process group, wait (bounded), SIGKILL it if it is still there."""
        if self.stopped:
            return
        self.stopped = True
        for sig, timeout in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
            break
        # Workers left behind by a killed master: make sure the group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _listening_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def start_gunicorn(
    env: Mapping[str, str],
    log_dir: Path,
    ready_path: str,
    *,
    host: str = "127.0.0.1",
    workers: int = 2,
    timeout: int = 20,
    graceful_timeout: int = 5,
    log_name: str = "gunicorn.stderr.log",
    ready_in_a_row: int = 1,
    ready_until: Callable[[Server], bool] | None = None,
    app: str = "tests.wsgi:application",
    log_config: Mapping[str, Any] = LOG_CONFIG,
    extra_args: Sequence[str] = (),
) -> Server:
    """Start gunicorn serving ``app`` on a free port of ``host``; wait until ``GET ready_path`` answers 200.

    The one place that starts gunicorn for the tests, the worker tests and the
    fault suite. The port is bound here and handed over as ``fd://N``, so no other
    process can take it between choosing and binding it. ``timeout`` is gunicorn's
    worker timeout; the server's stderr and stdout go to ``log_dir / log_name``.
    ``ready_in_a_row`` and ``ready_until`` make "ready" stricter (see _wait_until_ready).
    ``extra_args`` go to gunicorn as they are (e.g. ``-k``, ``--logger-class``).
    """
    sock = _listening_socket(host)
    log_config_path = log_dir / f"{log_name}.log-config.json"
    log_config_path.write_text(json.dumps(log_config))
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"fd://{sock.fileno()}",
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
        "--graceful-timeout",
        str(graceful_timeout),
        "--log-config-json",
        str(log_config_path),
        *extra_args,
    ]
    if _has_setting("control_socket_disable"):
        # gunicorn 24+ opens a control socket in ~/.gunicorn by default: one path for
        # every server, so two test runs at once would fight over it.
        command.append("--no-control-socket")
    return _start(command, sock, env, log_dir / log_name, ready_path, in_a_row=ready_in_a_row, until=ready_until)


def start_runserver(
    env: Mapping[str, str],
    log_dir: Path,
    ready_path: str,
    *,
    host: str = "127.0.0.1",
    settings: str = "tests.settings_runserver",
    log_name: str = "runserver.log",
    attempts: int = 3,
) -> Server:
    """Start ``django runserver`` (no reloader) on a free port; wait until it is ready.

    runserver binds its port itself, so a free one is chosen here and the start
    is tried again (``attempts`` in all) if another process took it meanwhile.
    """
    for attempt in range(attempts):
        with _listening_socket(host) as sock:
            port = sock.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "django",
            "runserver",
            f"{host}:{port}",
            "--noreload",
            f"--settings={settings}",
        ]
        try:
            return _start(command, None, env, log_dir / log_name, ready_path, address=(host, port))
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def start_uvicorn(
    env: Mapping[str, str],
    log_dir: Path,
    ready_path: str,
    *,
    host: str = "127.0.0.1",
    app: str = "tests.asgi:application",
    log_name: str = "uvicorn.log",
    extra_args: Sequence[str] = (),
) -> Server:
    """Start ``uvicorn app`` (one process, its default logging) on a free port; wait until it is ready."""
    sock = _listening_socket(host)
    command = [sys.executable, "-m", "uvicorn", app, "--fd", str(sock.fileno()), *extra_args]
    return _start(command, sock, env, log_dir / log_name, ready_path)


def _start(
    command: list[str],
    sock: socket.socket | None,
    env: Mapping[str, str],
    output_path: Path,
    ready_path: str,
    *,
    in_a_row: int = 1,
    until: Callable[[Server], bool] | None = None,
    address: tuple[str, int] | None = None,
) -> Server:
    """Run ``command`` in a session of its own with ``sock`` inherited; wait until ``GET ready_path`` answers 200.

    Without ``sock``, the server binds ``address`` itself.
    """
    if sock is not None:
        host, port = sock.getsockname()[:2]
    elif address is not None:
        host, port = address
    else:
        raise ValueError("a socket or an address is needed")
    # stdout goes to the same file: whatever the server writes anywhere is checked for the token.
    with contextlib.ExitStack() as stack, output_path.open("wb") as output:
        if sock is not None:
            stack.enter_context(sock)
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),) if sock is not None else (),
            start_new_session=True,
        )
    server = Server(process=process, host=host, port=port, stderr_path=output_path)
    try:
        _wait_until_ready(server, ready_path, in_a_row=in_a_row, until=until)
    except BaseException:
        server.stop()
        raise
    return server


def _has_setting(name: str) -> bool:
    config = importlib.import_module("gunicorn.config")  # untyped: no stubs needed
    return name in config.Config().settings


def _wait_until_ready(
    server: Server, path: str, *, in_a_row: int = 1, until: Callable[[Server], bool] | None = None
) -> None:
    """Wait, bounded, until GET ``path`` answers 200 ``in_a_row`` times running (and ``until`` holds)."""
    deadline = time.monotonic() + START_TIMEOUT
    answered, last_error = 0, "no attempt"
    for _attempt in range(int(START_TIMEOUT / 0.1) + 1):
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.stderr()[-3000:]}")
        if time.monotonic() > deadline:
            break
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            answered = answered + 1 if response.status == 200 else 0
            last_error = f"GET answered {response.status}"
        except OSError as error:
            answered, last_error = 0, repr(error)
        finally:
            connection.close()
        if answered >= in_a_row and (until is None or until(server)):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server was not ready within {START_TIMEOUT} s ({last_error}):\n{server.stderr()[-3000:]}")


@dataclass(frozen=True)
class LiveApp:
    """What the tests get: where the app is, its webhook path and its database."""

    server: Server
    webhook_path: str
    database: Database
    env: Mapping[str, str]

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def token(self) -> str:
        return self.webhook_path.rstrip("/").rsplit("/", 1)[1]


@contextlib.contextmanager
def live_app(vendor: str, tmp_dir: Path) -> Iterator[LiveApp]:
    """Create a database, migrate it, create an endpoint, serve the app; undo it all afterwards."""
    database = database_for(vendor, tmp_dir)
    database.create()
    try:
        env = server_env(database)
        run_django(env, "migrate", "--no-input", "-v", "0")
        webhook_path = create_endpoint(env, "http")
        server = start_gunicorn(env, tmp_dir, webhook_path)
        try:
            yield LiveApp(server=server, webhook_path=webhook_path, database=database, env=env)
        finally:
            server.stop()
    finally:
        database.drop()
