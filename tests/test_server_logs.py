"""No token in any line a real server writes, and the body limit before the body, under each server.

gunicorn (sync worker, ``--logger-class django_seably.gunicorn.Logger``, debug
level, access log on), uvicorn (its default logging, and ``--log-level trace``,
which also logs every ASGI message with its scope), gunicorn with the uvicorn
worker and gunicorn's own ASGI worker serve the app on 127.0.0.1; the ASGI ones serve ``tests.asgi``
(``guard_webhooks(get_asgi_application())``). Every spelling of the webhook path
that carries a token is sent, with valid, unknown and inactive tokens, plus
requests the servers refuse themselves; then everything the server wrote
(stdout and stderr, Django's records included) is searched for each token and
its percent-encoded forms, and the project's own paths (a slug of words, a
UUID, a long file name, long search terms) must be in it exactly as requested.
runserver has its module (tests/test_runserver_logs.py), which uses these helpers.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import secrets
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests import servers

pytestmark = pytest.mark.servers

#: Seconds, generous: a slow machine must not make these flaky.
TIMEOUT = 10.0

#: Debug level everywhere, Django's records included (the root logger), access log on stdout.
GUNICORN_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "DEBUG", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "DEBUG", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "DEBUG", "handlers": ["console"], "propagate": False},
    },
}
LOGGER_CLASS = ("--logger-class", "django_seably.gunicorn.Logger", "--log-level", "debug")

SERVERS = ["gunicorn", "uvicorn", "uvicorn-trace", "gunicorn-uvicorn-worker", "gunicorn-asgi"]

#: The default SEABLY["MAX_BODY_SIZE"] (tests/settings.py sets none).
LIMIT = 1024 * 1024


def _uvicorn_worker_class() -> str | None:
    if importlib.util.find_spec("uvicorn_worker") is not None:
        return "uvicorn_worker.UvicornWorker"
    if importlib.util.find_spec("uvicorn") is not None and importlib.util.find_spec("uvicorn.workers") is not None:
        return "uvicorn.workers.UvicornWorker"
    return None


@dataclass
class Deployment:
    kind: str
    server: servers.Server
    token: str  # an active endpoint's
    inactive_token: str
    unknown_token: str

    @property
    def webhook_path(self) -> str:
        return f"/seably/{self.token}/"

    def secrets(self) -> dict[str, str]:
        """What must appear nowhere: each token and its percent-encoded spellings."""
        found = {}
        for name, token in (("token", self.token), ("inactive", self.inactive_token), ("unknown", self.unknown_token)):
            found[name] = token
            found[f"{name} after its first character"] = token[1:]
            found[f"{name} percent-encoded"] = "".join(f"%{ord(c):02X}" for c in token)
            found[f"{name} percent-encoded, lower case"] = "".join(f"%{ord(c):02x}" for c in token)
        return found


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], str, str, Path]]:
    """One database for every server of this module: migrated, with an active and an inactive endpoint."""
    tmp = tmp_path_factory.mktemp("server-logs")
    database = servers.database_for(connection.vendor, tmp)
    database.create()
    try:
        env = servers.server_env(database)
        servers.run_django(env, "migrate", "--no-input", "-v", "0")
        active = servers.create_endpoint(env, "live").rstrip("/").rsplit("/", 1)[1]
        inactive = servers.create_endpoint(env, "retired").rstrip("/").rsplit("/", 1)[1]
        database.execute("UPDATE django_seably_endpoint SET is_active = %s WHERE name = %s", (False, "retired"))
        yield env, active, inactive, tmp
    finally:
        database.drop()


@pytest.fixture(scope="module", params=SERVERS)
def deployment(request: pytest.FixtureRequest, prepared: tuple[dict[str, str], str, str, Path]) -> Iterator[Deployment]:
    env, active, inactive, tmp = prepared
    kind: str = request.param
    ready = f"/seably/{active}/"
    needs_uvicorn = kind.startswith("uvicorn") or kind.endswith("uvicorn-worker")
    if needs_uvicorn and importlib.util.find_spec("uvicorn") is None:
        pytest.skip("uvicorn is not installed (it is in requirements/test.txt)")
    if kind == "gunicorn":
        server = servers.start_gunicorn(
            env, tmp, ready, log_name=f"{kind}.log", log_config=GUNICORN_LOG_CONFIG, extra_args=LOGGER_CLASS
        )
    elif kind == "gunicorn-uvicorn-worker":
        worker_class = _uvicorn_worker_class()
        if worker_class is None:
            pytest.skip("no uvicorn worker class for gunicorn (uvicorn-worker is in requirements/test.txt)")
        server = servers.start_gunicorn(
            env,
            tmp,
            ready,
            log_name=f"{kind}.log",
            app="tests.asgi:application",
            log_config=GUNICORN_LOG_CONFIG,
            extra_args=("-k", worker_class, *LOGGER_CLASS),
        )
    elif kind == "gunicorn-asgi":
        if "asgi" not in importlib.import_module("gunicorn.workers").SUPPORTED_WORKERS:
            pytest.skip("this gunicorn has no ASGI worker of its own (gunicorn 24+ has)")
        server = servers.start_gunicorn(
            env,
            tmp,
            ready,
            log_name=f"{kind}.log",
            app="tests.asgi:application",
            log_config=GUNICORN_LOG_CONFIG,
            extra_args=("-k", "asgi", *LOGGER_CLASS),
        )
    else:
        extra = ("--log-level", "trace") if kind == "uvicorn-trace" else ()
        server = servers.start_uvicorn(env, tmp, ready, log_name=f"{kind}.log", extra_args=extra)
    deployed = Deployment(kind, server, active, inactive, secrets.token_urlsafe(32))
    try:
        yield deployed
    finally:
        server.stop()
    # Stopped first, so every process has written its last line.
    assert_no_secret(deployed, server.stderr())


def assert_no_secret(deployment: Deployment, output: str) -> None:
    """No token, in any letter case (Django suggests a bad Host lower-cased), plain or percent-encoded."""
    for name, secret in deployment.secrets().items():
        for line in output.splitlines():
            if secret.lower() in line.lower():
                shown = re.sub(re.escape(secret), f"<{name.upper()}>", line, flags=re.IGNORECASE)[:400]
                raise AssertionError(f"{deployment.kind} wrote the {name}: {shown}")


# --- raw HTTP ---------------------------------------------------------------------


def exchange(deployment: Deployment, data: bytes, *, timeout: float = TIMEOUT) -> bytes:
    """Send ``data`` on a new connection; read until the server closes it (bounded); return what came."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    with socket.create_connection((deployment.server.host, deployment.server.port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # a server may close before reading everything
            sock.sendall(data)
        for _ in range(10_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no end of response within {timeout} s; got {bytes(received[:200])!r}")
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


def status_of(data: bytes) -> int:
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def head(deployment: Deployment, method: str, target: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {deployment.server.host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(deployment: Deployment, target: str, body: bytes = b"{}", **headers: str) -> bytes:
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}
    return head(deployment, "POST", target, fields) + body


def spellings(token: str) -> list[str]:
    """Request targets that carry ``token``: the URL as registered and every odd spelling of it."""
    first = f"%{ord(token[0]):02X}"
    return [
        f"/seably/{token}/",
        f"/seably/{token}",
        f"/seably/{first}{token[1:]}/",
        "/seably/" + "".join(f"%{ord(c):02x}" for c in token) + "/",
        f"/%73eably/{token}/",
        f"//seably/{token}/",
        f"/seably//{token}/",
        f"/Seably/{token}/",
        f"/SEABLY/{token}",
        f"/seably/{token};x",
        f"/seably/{token}.json",
        f"/seably/{token}/extra",
        f"/seably/{token}/?t={token}",
        f"/seably/%2F{token}/",
        f"/./seably/{token}/",
        f"/x/../seably/{token}/",
        f"/other/{token}/",
        # A URL pasted with a stray character before the token, literal and percent-encoded.
        f"/seably/'{token}'/",
        f'/seably/"{token}"/',
        f"/seably/?{token}",
        f"/seably/#{token}",
        f"/seably/<{token}>/",
        f"/seably/%27{token}%27/",
        f"/seably/%22{token}%22/",
        f"/seably/%3F{token}",
        f"/seably/%23{token}",
        f"/seably/%3C{token}%3E/",
        f"/seably/%20{token}/",
        f"/seably?{token}",
    ]


def requests_for(deployment: Deployment) -> list[bytes]:
    token = deployment.token
    host = f"{deployment.server.host}:{deployment.server.port}"
    valid = b'{"event": "ping", "data": {"id": "%s"}}' % uuid.uuid4().hex.encode()
    sent = []
    for candidate in (token, deployment.inactive_token, deployment.unknown_token):
        for target in spellings(candidate):
            sent.append(post(deployment, target, valid, Referer=f"https://{host}{target}"))
            sent.append(head(deployment, "GET", target))
        sent.append(head(deployment, "PUT", f"/seably/{candidate}/", {"Content-Length": "0"}))
        sent.append(post(deployment, f"/seably/{candidate}/", b"{not json"))
        sent.append(post(deployment, f"http://{host}/seably/{candidate}/", valid))  # absolute form
        # Refused by the server itself, before any application code:
        sent.append(f"POST /seably/{candidate}/ HTTP/1.1 x\r\nHost: x\r\n\r\n".encode())
        sent.append(f"POST /seably/{candidate}/ HTTP/9.9\r\nHost: x\r\n\r\n".encode())
        sent.append(head(deployment, "POST", f"/seably/{candidate}/", {"X-Big": "b" * 70_000}))
        sent.append(head(deployment, "POST", f"/seably/{candidate}/", {"Bad Header": "x"}))
        sent.append(head(deployment, "POST", f"/seably/{candidate}/" + "a" * 9000))
        sent.append(head(deployment, "POST", f"/seably/{candidate}/", {"Content-Length": "abc"}))
        sent.append(head(deployment, "POST", f"/seably/{candidate}/", {"Transfer-Encoding": "chunked"}) + b"ZZ\r\n")
        sent.append(f"POST /seably/{candidate}/\x01 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        sent.append(f"POST /seably/ {candidate}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        sent.append(f"GET /seably/\t{candidate}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        # The token in headers: the Host (Django refuses it, and says why), a Referer, a proxy's copy.
        encoded = "".join(f"%{ord(c):02X}" for c in candidate)
        for host_header in (f"{candidate}.example", f"127.0.0.1/seably/{candidate}/", f"x/seably/'{candidate}'"):
            lines = ["GET / HTTP/1.1", f"Host: {host_header}", "Connection: close"]
            sent.append(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent.append(
            head(
                deployment,
                "GET",
                "/elsewhere/",
                {"Referer": f"https://{host}/seably/{encoded}/", "X-Original-URI": f"/old-prefix/{encoded}"},
            )
        )
    return sent


#: The project's own paths: each must be logged exactly as it was requested.
OWN_PATHS = [
    "/blog/how-to-configure-django-logging-in-production/",
    "/orders/550e8400-e29b-41d4-a716-446655440000/",
    "/media/reports/annual-report-2026-final-version-with-appendices-and-index.pdf",
    "/search/?q=supercalifragilisticexpialidocious-and-even-longer-than-that-2026",
    "/search/?q=how+to+configure+django+logging+in+production+with+gunicorn",
]


def assert_logged_as_requested(deployment: Deployment, output: str, paths: list[str]) -> None:
    """Each path is in the output, and every line that mentions its start has it whole."""
    for path in paths:
        start = path[: path.index("-") if "-" in path else 12]
        lines = [line for line in output.splitlines() if start in line]
        assert lines, f"{deployment.kind} logged nothing for {path}:\n{output[-2000:]}"
        changed = [line for line in lines if path.split("?")[0] not in line or ("?" in path and path not in line)]
        assert not changed, f"{deployment.kind} logged {path} otherwise: {changed[:3]}"


def wait_for_line(deployment: Deployment, marker: str) -> None:
    """Wait (bounded) until a request carrying ``marker`` shows in the output: what came before is written."""
    exchange(deployment, head(deployment, "GET", f"/marker.{marker}/"))
    for _ in range(50):
        if marker in deployment.server.stderr():
            time.sleep(0.3)  # lines of other workers for earlier requests
            return
        time.sleep(0.1)
    raise AssertionError(
        f"{deployment.kind} logged no line for /marker.{marker}/:\n{deployment.server.stderr()[-2000:]}"
    )


# --- tests ---------------------------------------------------------------------


def test_no_token_in_any_line(deployment):
    statuses = [status_of(exchange(deployment, request)) for request in requests_for(deployment)]
    marker = ".".join(uuid.uuid4().hex[:8] for _ in range(3))  # short runs: not masked
    wait_for_line(deployment, marker)

    assert 200 in statuses  # the valid deliveries were accepted: the requests did reach the app
    assert {400, 404} <= set(statuses)
    output = deployment.server.stderr()
    assert "…" in output  # the masks themselves were logged
    assert_no_secret(deployment, output)


def test_a_declared_length_over_the_limit_is_413_before_the_body(deployment):
    # Only the head is sent: a server that waited for the 200 MB would time out here.
    start = time.monotonic()
    data = exchange(
        deployment,
        head(
            deployment,
            "POST",
            deployment.webhook_path,
            {"Content-Type": "application/json", "Content-Length": "200000000"},
        ),
    )

    assert status_of(data) == 413, data[:300]
    assert b'"error"' in data
    assert time.monotonic() - start < TIMEOUT / 2


def test_a_chunked_body_over_the_limit_is_cut(deployment):
    """The body never ends (no last chunk): the answer must come once more than the limit arrived."""
    chunk = b"x" * 65536
    body = b"".join(b"%X\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // len(chunk) + 1))
    request = head(deployment, "POST", deployment.webhook_path, {"Transfer-Encoding": "chunked"}) + body

    data = exchange(deployment, request)

    assert status_of(data) == 413, data[:300]


def test_a_chunked_body_under_the_limit_is_delivered(deployment):
    payload = b'{"event": "ping", "data": {"id": "%s"}}' % uuid.uuid4().hex.encode()
    body = b"%X\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
    request = head(deployment, "POST", deployment.webhook_path, {"Transfer-Encoding": "chunked"}) + body

    data = exchange(deployment, request)

    assert status_of(data) == 200, data[:300]
    assert b'"accepted"' in data


def test_the_projects_own_paths_are_logged_as_requested(deployment):
    for path in OWN_PATHS:
        exchange(deployment, head(deployment, "GET", path))
    wait_for_line(deployment, ".".join(uuid.uuid4().hex[:8] for _ in range(3)))

    assert_logged_as_requested(deployment, deployment.server.stderr(), OWN_PATHS)


@pytest.mark.parametrize("target", ["/admin/login/", "/api/seably/certificates/"])
def test_other_paths_are_served_as_before(deployment, target):
    data = exchange(deployment, head(deployment, "GET", target))

    assert status_of(data) in {200, 302, 401, 403}, data[:300]


def test_a_large_body_elsewhere_is_not_limited_by_the_guard(deployment: Any):
    # Django itself reads it (and answers 404): the guard only limits the webhook prefix.
    body = b"x" * (LIMIT + 10)

    data = exchange(deployment, post(deployment, "/elsewhere/", body))

    assert status_of(data) == 404, data[:300]
