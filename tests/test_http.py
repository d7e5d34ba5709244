"""Real HTTP round trips: the app served by gunicorn on 127.0.0.1, on a database of its own.

The suite runs once on SQLite and once under scripts/with-postgres; the server
gets a database of its own either way (tests/servers.py), so nothing here uses
pytest-django's test database: rows are read back with plain sqlite3/psycopg.
Every wait is bounded, in count and in time.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from django_seably.testing import certificate_body
from tests.servers import LiveApp, create_endpoint, live_app

pytestmark = pytest.mark.servers

SAMPLE = (Path(__file__).parent / "payloads" / "certificate_created_flat.json").read_bytes()
SAMPLE_ID = "SB-00000042"

#: Seconds; generous, since a slow machine must not make these tests flaky.
REQUEST_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """gunicorn serving tests.wsgi on a database of its own, with one endpoint ("http")."""
    # connection.vendor is what tests/settings.py chose (no query is made).
    with live_app(connection.vendor, tmp_path_factory.mktemp("http")) as live:
        yield live
        # Stopped first, so every worker has written its last record.
        live.server.stop()
        assert_no_token(live, live.server.stderr(), "gunicorn's stderr")


# --- HTTP helpers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def assert_no_token(app: LiveApp, text: str, where: str) -> None:
    # The message shows where, not the token itself.
    index = text.find(app.token)
    assert index < 0, f"the endpoint's token appears in {where}: …{text[max(index - 80, 0) : index]}<TOKEN>…"


def check(app: LiveApp, reply: Reply) -> Reply:
    """What every answer must satisfy: no token anywhere in it."""
    assert_no_token(app, reply.body.decode("latin-1"), f"a {reply.status} response body")
    assert_no_token(app, json.dumps(dict(reply.headers)), f"the headers of a {reply.status} response")
    return reply


def request(
    app: LiveApp,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request on a new connection with http.client (it adds Host and, for a body, Content-Length)."""
    conn = http.client.HTTPConnection(app.host, app.port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()
    return check(app, reply)


def post(app: LiveApp, body: bytes, path: str | None = None, content_type: str | None = "application/json") -> Reply:
    headers = {"Content-Type": content_type} if content_type else {}
    return request(app, "POST", path or app.webhook_path, body, headers)


def raw_head(app: LiveApp, method: str, path: str, headers: Mapping[str, str]) -> bytes:
    """The request line and headers of a hand-written request, Host and Connection: close included."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {app.host}:{app.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(app: LiveApp, data: bytes, *, shutdown_write: bool = False, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send ``data`` on a new connection, read until the server closes it; return what came and how long it took.

    Raises TimeoutError if the server neither answers nor closes within ``timeout`` seconds.
    """
    start = time.monotonic()
    deadline = start + timeout
    received = bytearray()
    with socket.create_connection((app.host, app.port), timeout=timeout) as sock:
        sock.sendall(data)
        if shutdown_write:
            sock.shutdown(socket.SHUT_WR)
        for _ in range(100_000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no end of response within {timeout} s; got {bytes(received[:300])!r}")
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return bytes(received), time.monotonic() - start


def parse_response(app: LiveApp, data: bytes, *, head: bool = False) -> Reply:
    """Parse the first response in ``data``; for HEAD, ``body`` is everything after the headers."""
    header_block, separator, rest = data.partition(b"\r\n\r\n")
    assert separator, f"no complete response head in {data[:300]!r}"
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", status_line)
    assert match, f"not a status line: {status_line!r}"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if head:
        body = rest
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(rest)
    elif "content-length" in headers:
        body = rest[: int(headers["content-length"])]
    else:
        body = rest
    return check(app, Reply(int(match.group(1)), headers, body))


def dechunk(data: bytes) -> bytes:
    body = bytearray()
    for _ in range(10_000):
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return bytes(body)
        body += data[:size]
        data = data[size + 2 :]
    raise AssertionError("more than 10000 chunks")


def chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def statuses_in(data: bytes) -> list[int]:
    return [int(status) for status in re.findall(rb"HTTP/1\.[01] (\d{3})", data)]


# --- payloads and stored rows ---------------------------------------------------------------------


def new_certificate_id() -> str:
    return f"SB-HTTP-{uuid.uuid4().hex[:12]}"


def encoded_certificate(seably_id: str) -> bytes:
    """A certificate.created body for ``seably_id``, as bytes on the wire."""
    return json.dumps(certificate_body(seably_id)).encode()


EVENT_COLUMNS = "id, status, delivery_count, body, event_type, object_id, payload IS NULL AS payload_is_null"


def event_by_id(app: LiveApp, pk: int) -> dict[str, Any]:
    rows = app.database.query(f"SELECT {EVENT_COLUMNS} FROM django_seably_webhookevent WHERE id = %s", (pk,))
    assert len(rows) == 1, rows
    return rows[0]


def events_with_body(app: LiveApp, body: bytes) -> list[dict[str, Any]]:
    return app.database.query(
        f"SELECT {EVENT_COLUMNS} FROM django_seably_webhookevent WHERE body = %s", (body.decode(),)
    )


def event_count(app: LiveApp) -> int:
    return int(app.database.query("SELECT COUNT(*) AS n FROM django_seably_webhookevent")[0]["n"])


def certificates(app: LiveApp, seably_id: str) -> list[dict[str, Any]]:
    return app.database.query(
        "SELECT id, seably_id, event_id FROM django_seably_certificate WHERE seably_id = %s", (seably_id,)
    )


def assert_stored_invalid(app: LiveApp, body: bytes) -> None:
    rows = events_with_body(app, body)
    assert len(rows) == 1, rows
    assert (rows[0]["status"], rows[0]["event_type"], bool(rows[0]["payload_is_null"])) == ("invalid", "", True)


# --- tests ---------------------------------------------------------------------


def test_the_server_uses_a_database_of_its_own(app):
    assert app.database.vendor == connection.vendor
    assert app.env["SEABLY_TEST_DB_NAME"] not in {"", ":memory:"}
    assert app.database.query("SELECT COUNT(*) AS n FROM django_seably_endpoint WHERE name = %s", ("http",)) == [
        {"n": 1}
    ]


def test_a_delivery_is_accepted_then_counted_as_a_duplicate(app):
    first = post(app, SAMPLE)
    assert first.status == 200
    assert first.headers["content-type"] == "application/json"
    answer = first.json()
    assert answer == {"status": "accepted", "event_id": answer["event_id"]}
    assert isinstance(answer["event_id"], int)

    again = post(app, SAMPLE)
    assert (again.status, again.json()) == (200, {"status": "duplicate", "event_id": answer["event_id"]})

    event = event_by_id(app, answer["event_id"])
    assert (event["status"], event["delivery_count"]) == ("processed", 2)
    assert event["body"] == SAMPLE.decode()
    assert (event["event_type"], event["object_id"]) == ("certificate.created", SAMPLE_ID)
    assert [row["event_id"] for row in certificates(app, SAMPLE_ID)] == [answer["event_id"]]


def test_get_and_head_answer_ready(app):
    before = event_count(app)

    got = request(app, "GET", app.webhook_path)
    assert (got.status, got.json()) == (200, {"status": "ready"})
    assert got.headers["content-type"] == "application/json"

    # By hand, since http.client would not read a body after HEAD even if one came.
    data, _ = exchange(app, raw_head(app, "HEAD", app.webhook_path, {}))
    head = parse_response(app, data, head=True)
    assert head.status == 200
    assert head.headers["content-type"] == "application/json"
    assert head.body == b""

    assert event_count(app) == before


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_an_unknown_token_is_404(app, method):
    before = event_count(app)
    unknown = app.webhook_path.replace(app.token, secrets.token_urlsafe(32))
    body = encoded_certificate(new_certificate_id()) if method != "GET" else None

    reply = request(app, method, unknown, body, {"Content-Type": "application/json"})

    assert reply.status == 404
    assert event_count(app) == before


def test_an_inactive_endpoint_is_404(app):
    path = create_endpoint(app.env, "inactive-http")
    updated = app.database.execute(
        "UPDATE django_seably_endpoint SET is_active = %s WHERE name = %s", (False, "inactive-http")
    )
    assert updated == 1
    before = event_count(app)

    assert request(app, "GET", path).status == 404
    assert post(app, encoded_certificate(new_certificate_id()), path).status == 404
    assert event_count(app) == before


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_are_405_with_allow(app, method):
    before = event_count(app)

    reply = request(
        app, method, app.webhook_path, encoded_certificate(new_certificate_id()), {"Content-Type": "application/json"}
    )

    assert reply.status == 405
    assert {name.strip() for name in reply.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
    assert isinstance(reply.json()["error"], str)
    assert event_count(app) == before


def test_invalid_json_is_400_and_stored_as_invalid(app):
    body = b'{"event": "certificate.created", "payload": ' + uuid.uuid4().hex.encode()

    reply = post(app, body)

    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    assert isinstance(reply.json()["error"], str)
    assert_stored_invalid(app, body)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz"],
)
def test_no_csrf_token_and_any_content_type(app, content_type):
    seably_id = new_certificate_id()
    body = encoded_certificate(seably_id)
    # A foreign Origin is what makes CsrfViewMiddleware refuse a POST over plain HTTP.
    headers = {"Origin": "https://www.seably.com", "Cookie": "csrftoken=" + "x" * 32}
    if content_type:
        headers["Content-Type"] = content_type

    reply = request(app, "POST", app.webhook_path, body, headers)

    assert (reply.status, reply.json()["status"]) == (200, "accepted")
    assert event_by_id(app, reply.json()["event_id"])["body"] == body.decode()
    assert len(certificates(app, seably_id)) == 1


def test_the_url_without_its_trailing_slash_works(app):
    path = app.webhook_path.rstrip("/")
    seably_id = new_certificate_id()

    reply = post(app, encoded_certificate(seably_id), path)

    assert (reply.status, reply.json()["status"]) == (200, "accepted")
    assert len(certificates(app, seably_id)) == 1
    assert request(app, "GET", path).json() == {"status": "ready"}


def test_a_body_over_the_limit_is_413_before_it_is_read(app):
    before = event_count(app)
    # Only the head is sent: a server that waited for the 50 MB would time out here.
    data, elapsed = exchange(
        app,
        raw_head(app, "POST", app.webhook_path, {"Content-Type": "application/json", "Content-Length": "50000000"}),
        timeout=10,
    )

    reply = parse_response(app, data)
    assert reply.status == 413
    assert isinstance(reply.json()["error"], str)
    assert elapsed < 5
    assert event_count(app) == before


def test_a_chunked_body_is_accepted_whole(app):
    """Transfer-Encoding: chunked, no Content-Length: gunicorn decodes it and sets wsgi.input_terminated.

    Django's own request stream reads CONTENT_LENGTH bytes, i.e. none here: the
    view reads wsgi.input itself in that case, so the body is accepted whole
    (before that fix it was stored as an empty invalid body: data lost).
    """
    seably_id = new_certificate_id()
    body = encoded_certificate(seably_id)
    head = raw_head(app, "POST", app.webhook_path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})

    data, _ = exchange(app, head + chunked(body, 100), timeout=REQUEST_TIMEOUT)

    reply = parse_response(app, data)
    assert (reply.status, reply.json()["status"]) == (200, "accepted")
    assert event_by_id(app, reply.json()["event_id"])["body"] == body.decode()
    assert len(certificates(app, seably_id)) == 1


@pytest.mark.parametrize("cut", ["after the JSON", "inside the JSON"])
def test_a_content_length_shorter_than_the_body(app, cut):
    """Only Content-Length bytes are the body; the rest is not part of it (gunicorn's sync worker closes)."""
    body = encoded_certificate(new_certificate_id())
    declared = len(body) if cut == "after the JSON" else len(body) // 2
    head = raw_head(
        app, "POST", app.webhook_path, {"Content-Type": "application/json", "Content-Length": str(declared)}
    )
    rest = body[declared:] + b"GARBAGE / HTTP/1.1\r\nHost: nowhere\r\n\r\n"

    data, _ = exchange(app, head + body[:declared] + rest, timeout=REQUEST_TIMEOUT)

    reply = parse_response(app, data)
    assert all(status < 500 for status in statuses_in(data)), data
    if cut == "after the JSON":
        assert (reply.status, reply.json()["status"]) == (200, "accepted")
        assert event_by_id(app, reply.json()["event_id"])["body"] == body.decode()
    else:
        assert reply.status == 400
        assert_stored_invalid(app, body[:declared])


@pytest.mark.parametrize("sent", ["a truncated JSON", "a complete JSON"])
def test_a_content_length_longer_than_the_body(app, sent):
    """The sender announces more than it sends, then closes its side: what came is the body, at once.

    gunicorn hands the application the bytes that came (no error at the early
    EOF): truncated JSON is answered 400 and kept as invalid, complete JSON is
    accepted. Never a 5xx, never a wait for the missing bytes.
    """
    body = encoded_certificate(new_certificate_id())
    sent_bytes = body[: len(body) // 2] if sent == "a truncated JSON" else body
    head = raw_head(
        app, "POST", app.webhook_path, {"Content-Type": "application/json", "Content-Length": str(len(body) + 100)}
    )

    data, elapsed = exchange(app, head + sent_bytes, shutdown_write=True, timeout=REQUEST_TIMEOUT)

    assert statuses_in(data) == [parse_response(app, data).status], data
    reply = parse_response(app, data)
    if sent == "a truncated JSON":
        assert reply.status == 400
        assert_stored_invalid(app, sent_bytes)
    else:
        assert (reply.status, reply.json()["status"]) == (200, "accepted")
        assert event_by_id(app, reply.json()["event_id"])["body"] == sent_bytes.decode()
    assert elapsed < REQUEST_TIMEOUT / 2


def test_concurrent_deliveries_of_one_body_make_one_event(app):
    threads_count = 20
    seably_id = new_certificate_id()
    body = encoded_certificate(seably_id)
    barrier = threading.Barrier(threads_count, timeout=30)
    results: list[Reply | None] = [None] * threads_count
    errors: list[BaseException] = []

    def deliver(i: int) -> None:
        try:
            barrier.wait()
            results[i] = post(app, body)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=deliver, args=(i,), daemon=True) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 90
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0.1))
    assert not any(thread.is_alive() for thread in threads), "a delivery did not finish in 90 s"
    assert not errors, errors

    replies = [reply for reply in results if reply is not None]
    assert Counter(reply.status for reply in replies) == {200: threads_count}
    answers = [reply.json() for reply in replies]
    assert Counter(answer["status"] for answer in answers) == {"accepted": 1, "duplicate": threads_count - 1}
    (event_id,) = {answer["event_id"] for answer in answers}
    event = event_by_id(app, event_id)
    assert (event["status"], event["delivery_count"]) == ("processed", threads_count)
    assert [row["event_id"] for row in certificates(app, seably_id)] == [event_id]


def test_the_token_is_not_in_the_error_log(app):
    """Django's records for 4xx responses reach gunicorn's stderr here (see servers.LOG_CONFIG), redacted."""
    assert request(app, "PUT", app.webhook_path).status == 405
    assert request(app, "DELETE", app.webhook_path.rstrip("/")).status == 405
    assert post(app, b"not json " + uuid.uuid4().hex.encode()).status == 400
    # Not resolved to the view at all: only the logging filter can redact this one.
    assert request(app, "GET", app.webhook_path + "nothing-here/").status == 404
    # Refused (DisallowedHost) by the middleware, before the view: logged at ERROR with a traceback.
    assert request(app, "POST", app.webhook_path, b"{}", {"Host": "evil.example"}).status == 400

    masked = f"{app.webhook_path[: -len(app.token) - 1]}{app.token[:4]}…"
    expected = [
        "Method Not Allowed: " + masked,
        "Bad Request: " + masked,
        "Not Found: " + masked,
        "Invalid HTTP_HOST header: 'evil.example'",
    ]
    stderr = ""
    for _ in range(50):  # the records are written before the responses; allow for slow flushing anyway
        stderr = app.server.stderr()
        if all(record in stderr for record in expected):
            break
        time.sleep(0.1)
    assert all(record in stderr for record in expected), stderr
    assert_no_token(app, stderr, "gunicorn's stderr")
