"""Hostile input beyond the receiver's own tests: what a stranger, a broken proxy or a poisoned payload can send.

Raw HTTP (headers, Content-Length, chunked framing, a slow body) goes to a real
gunicorn on a database of its own (tests.servers), since Django's test client
cannot send a malformed request; the rest uses the test client. Runs on SQLite
and, under scripts/with-postgres, on PostgreSQL. What tests/test_http.py,
tests/test_views.py and tests/test_admin.py already cover is not repeated here.
Every wait is bounded, in count and in time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import secrets
import select
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.signals import webhook_received
from tests.factories import WebhookEventFactory
from tests.servers import LiveApp, live_app
from tests.test_http import (
    REQUEST_TIMEOUT,
    assert_no_token,
    chunked,
    encoded_certificate,
    event_count,
    events_with_body,
    exchange,
    new_certificate_id,
    parse_response,
    raw_head,
    statuses_in,
)

Status = WebhookEvent.Status


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """gunicorn serving tests.wsgi on a database of its own, with one endpoint."""
    with live_app(connection.vendor, tmp_path_factory.mktemp("hostile")) as live:
        yield live
        live.server.stop()
        assert_no_token(live, live.server.stderr(), "gunicorn's stderr")


def worker_timeout(app: LiveApp) -> float:
    """gunicorn's --timeout for this server (the last one given wins): a worker silent that long is killed."""
    args = [str(arg) for arg in app.server.process.args]  # type: ignore[union-attr]  # a list, as started
    last = len(args) - 1 - args[::-1].index("--timeout")
    return float(args[last + 1])


def headers_in(app: LiveApp, body: bytes) -> str:
    rows = app.database.query("SELECT headers FROM django_seably_webhookevent WHERE body = %s", (body.decode(),))
    assert len(rows) == 1, rows
    return str(rows[0]["headers"])


def assert_no_5xx(data: bytes) -> None:
    assert all(status < 500 for status in statuses_in(data)), data[:500]


# --- headers: huge, numerous ---------------------------------------------------------------------


@pytest.mark.servers
class TestHeaders:
    """gunicorn limits a header to 8190 bytes and a request to 100 headers; the app must cope with what passes."""

    @pytest.mark.parametrize("size", [8_000, 100_000])
    def test_one_huge_header(self, app, size):
        body = encoded_certificate(new_certificate_id())
        head = raw_head(
            app,
            "POST",
            app.webhook_path,
            {"Content-Type": "application/json", "X-Padding": "p" * size, "Content-Length": str(len(body))},
        )

        data, elapsed = exchange(app, head + body, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        reply = parse_response(app, data)
        if size < 8190:
            assert (reply.status, reply.json()["status"]) == (200, "accepted")
            # Stored, cut to the bound on a stored header's length.
            assert "p" * 1000 in headers_in(app, body)
            assert "p" * 1024 not in headers_in(app, body)
        else:
            assert 400 <= reply.status < 500
            assert events_with_body(app, body) == []
        assert elapsed < 10

    @pytest.mark.parametrize("count", [90, 1_000])
    def test_numerous_headers(self, app, count):
        body = encoded_certificate(new_certificate_id())
        many = {f"X-Header-{i}": f"value {i}" for i in range(count)}
        head = raw_head(
            app,
            "POST",
            app.webhook_path,
            {"Content-Type": "application/json", **many, "Content-Length": str(len(body))},
        )

        data, elapsed = exchange(app, head + body, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        reply = parse_response(app, data)
        if count < 100:
            assert (reply.status, reply.json()["status"]) == (200, "accepted")
            # The first headers are stored, up to the bound on their number.
            stored = headers_in(app, body)
            assert "X-Header-0" in stored
            assert f"X-Header-{count - 1}" not in stored
        else:
            assert 400 <= reply.status < 500
            assert events_with_body(app, body) == []
        assert elapsed < 10

    def test_numerous_huge_headers_are_stored_without_error(self, app):
        """95 headers of 8,000 bytes each pass gunicorn's limits; what is stored of them is bounded (50 x 1 KB)."""
        body = encoded_certificate(new_certificate_id())
        many = {f"X-Header-{i}": chr(ord("a") + i % 26) * 8_000 for i in range(95)}
        head = raw_head(
            app,
            "POST",
            app.webhook_path,
            {"Content-Type": "application/json", **many, "Content-Length": str(len(body))},
        )

        data, _ = exchange(app, head + body, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        assert (parse_response(app, data).status, len(events_with_body(app, body))) == (200, 1)

    def test_a_huge_request_line(self, app):
        body = encoded_certificate(new_certificate_id())
        path = f"{app.webhook_path}?{'q=1&' * 5_000}"
        head = raw_head(app, "POST", path, {"Content-Type": "application/json", "Content-Length": str(len(body))})

        data, _ = exchange(app, head + body, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        assert 400 <= parse_response(app, data).status < 500
        assert events_with_body(app, body) == []


# --- framing: Content-Length that lies or is absent, chunked ---------------------------------------------------------


@pytest.mark.servers
class TestFraming:
    """test_http.py covers a Content-Length shorter and longer than the body, and a well-formed chunked body."""

    def test_no_content_length_means_no_body(self, app):
        """Without Content-Length or chunked framing an HTTP/1.1 request has no body: the JSON after it is not one."""
        body = encoded_certificate(new_certificate_id())
        head = raw_head(app, "POST", app.webhook_path, {"Content-Type": "application/json"})

        data, _ = exchange(app, head + body, shutdown_write=True, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        assert parse_response(app, data).status == 400  # an empty body, kept as invalid like any other
        assert events_with_body(app, body) == []

    @pytest.mark.parametrize(
        "headers",
        [
            {"Content-Length": "abc"},
            {"Content-Length": "-5"},
            {"Content-Length": "1e3"},
            {"Content-Length": "+10"},
            {"Content-Length": "10, 20"},
            {"Content-Length": "99999999999999999999999999"},
            {"Content-Length": "5", "Transfer-Encoding": "chunked"},
        ],
        ids=["not a number", "negative", "exponent", "plus sign", "a list", "overflow", "with chunked"],
    )
    def test_a_malformed_content_length(self, app, headers):
        body = encoded_certificate(new_certificate_id())
        before = event_count(app)
        head = raw_head(app, "POST", app.webhook_path, {"Content-Type": "application/json", **headers})

        data, elapsed = exchange(app, head + body, shutdown_write=True, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        assert 400 <= parse_response(app, data).status < 500
        assert event_count(app) == before
        assert elapsed < 10

    def test_two_content_lengths_that_disagree(self, app):
        body = encoded_certificate(new_certificate_id())
        before = event_count(app)
        head = raw_head(app, "POST", app.webhook_path, {"Content-Type": "application/json"})
        head = head.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\nContent-Length: 5\r\n\r\n".encode())

        data, _ = exchange(app, head + body, shutdown_write=True, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        assert 400 <= parse_response(app, data).status < 500
        assert event_count(app) == before

    @pytest.mark.parametrize(
        "framing",
        [
            "an invalid chunk size",
            "a chunk without its terminator",
            "a chunk longer than what is sent",
            "no last chunk",
        ],
    )
    def test_a_malformed_chunked_body(self, app, framing):
        """Never a 5xx, never a hang, and nothing stored: the body did not arrive whole."""
        body = encoded_certificate(new_certificate_id())
        before = event_count(app)
        encoded = {
            "an invalid chunk size": b"zz\r\n" + body + b"\r\n0\r\n\r\n",
            "a chunk without its terminator": b"%x\r\n%sXX0\r\n\r\n" % (len(body), body),
            "a chunk longer than what is sent": b"%x\r\n%s" % (len(body) + 100, body),
            "no last chunk": chunked(body, 100).removesuffix(b"0\r\n\r\n"),
        }[framing]
        head = raw_head(
            app, "POST", app.webhook_path, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        )

        data, elapsed = exchange(app, head + encoded, shutdown_write=True, timeout=REQUEST_TIMEOUT)

        assert_no_5xx(data)
        if data:  # an answer; closing without one is fine too
            assert 400 <= parse_response(app, data).status < 500
        assert event_count(app) == before
        assert elapsed < 10


@dataclass(frozen=True)
class SlowSend:
    """What sending a body slowly to a server of its own came to."""

    app: LiveApp
    closed: bool
    elapsed: float
    timeout: float
    received: bytes
    events_before: int
    events_after: int
    stderr: str


@pytest.fixture(scope="class")
def slow_send(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlowSend]:
    """Send a body one byte every half second to a gunicorn of its own, until the server ends it (bounded).

    A server of its own, run with the logger class the README recommends (through
    GUNICORN_CMD_ARGS, which the command line leaves alone), because the worker
    it kills is gone and its error log is read afterwards.
    """
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GUNICORN_CMD_ARGS", "--logger-class django_seably.gunicorn.Logger")
            app = stack.enter_context(live_app(connection.vendor, tmp_path_factory.mktemp("slow")))
        timeout = worker_timeout(app)
        bound = timeout + 15  # the master checks about once a second; a loaded machine is slower
        body = encoded_certificate(new_certificate_id())
        before = event_count(app)
        head = raw_head(
            app, "POST", app.webhook_path, {"Content-Type": "application/json", "Content-Length": str(len(body))}
        )
        received = bytearray()
        closed = False
        start = time.monotonic()
        with socket.create_connection((app.host, app.port), timeout=5) as sock:
            sock.sendall(head)
            for byte in range(len(body)):  # at 2 bytes a second, far longer than the bound
                if time.monotonic() - start > bound:
                    break
                try:
                    sock.sendall(body[byte : byte + 1])
                    readable, _, _ = select.select([sock], [], [], 0.5)
                    if readable:
                        chunk = sock.recv(65536)
                        received += chunk
                        if not chunk:
                            closed = True
                            break
                except OSError:  # reset by the killed worker
                    closed = True
                    break
        elapsed = time.monotonic() - start
        after = event_count(app)
        for _ in range(50):  # the master logs the kill before the connection closes; allow for slow flushing anyway
            if "WORKER TIMEOUT" in app.server.stderr():
                break
            time.sleep(0.1)
        app.server.stop()  # every worker has written its last record
        yield SlowSend(app, closed, elapsed, timeout, bytes(received), before, after, app.server.stderr())


@pytest.mark.servers
class TestSlowBody:
    """One byte every half second: gunicorn's --timeout ends the request; nobody reads forever.

    The sync worker is busy reading the body, so it cannot tell its master it is
    alive; the master kills it after --timeout, and the dying worker answers its own
    500 page (gunicorn's, not the app's: Django logs no error). Behind a buffering
    proxy (nginx) the proxy times the sender out instead, with a 408, and gunicorn
    never sees a slow body.
    """

    def test_the_servers_timeout_ends_it(self, slow_send):
        assert slow_send.closed, f"the server still read the body after {slow_send.elapsed:.0f} s"
        assert slow_send.elapsed < slow_send.timeout + 15
        assert slow_send.elapsed > slow_send.timeout / 2, "closed long before the timeout: something else ended it"
        assert "WORKER TIMEOUT" in slow_send.stderr
        assert slow_send.events_after == slow_send.events_before

    def test_the_app_did_not_fail(self, slow_send):
        """What came back (gunicorn's abort page, or nothing) is not the app's response: Django logged no error."""
        assert "Internal Server Error: /" not in slow_send.stderr
        assert "Traceback" not in slow_send.stderr.split("WORKER TIMEOUT")[0]

    def test_the_error_log_has_no_token(self, slow_send):
        assert "Error handling request" in slow_send.stderr
        assert_no_token(slow_send.app, slow_send.stderr, "gunicorn's error log")


# --- a burst of unknown tokens ---------------------------------------------------------------------


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def request_records() -> Iterator[list[logging.LogRecord]]:
    """Every record of django.request and of the app's loggers, whether they propagate or not."""
    handler = ListHandler()
    loggers = [logging.getLogger(name) for name in ("django.request", "django_seably")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler.records
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.django_db
def test_ten_thousand_unknown_tokens_write_nothing_and_log_no_token(client, seably_endpoint, request_records):
    """A scan for tokens: one SELECT each, no row, at most one 404 record each, and no token in any record."""
    tokens = [secrets.token_urlsafe(32) for _ in range(10_000)]
    body = encoded_certificate(new_certificate_id())
    statements: Counter[str] = Counter()

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[sql.lstrip().split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    statuses: Counter[int] = Counter()
    with connection.execute_wrapper(count):
        for token in tokens:
            statuses[client.post(f"/seably/{token}/", data=body, content_type="application/json").status_code] += 1

    assert statuses == {404: len(tokens)}
    assert set(statements) == {"SELECT"}
    assert statements["SELECT"] <= len(tokens)
    assert (WebhookEvent.objects.count(), Certificate.objects.count(), Endpoint.objects.count()) == (0, 0, 1)
    assert len(request_records) <= len(tokens)
    masked = re.compile(r"Not Found: /seably/[A-Za-z0-9_-]{4}…/")
    formatter = logging.Formatter()
    known = set(tokens)
    for record in request_records:
        message = record.getMessage()
        assert record.name == "django.request"
        assert masked.fullmatch(message), message
        request = getattr(record, "request", None)
        assert request is None or not known & set(request.path.split("/"))
        assert not known & set(re.split(r"[/\s]", formatter.format(record)))


# --- HTML in names and payloads, shown in the admin -----------------------------------------------------------------

SCRIPT = "<script>alert('seably')</script>"
IMAGE = "<img src=x onerror=alert('seably')>"


def shown_escaped(content: str, *values: str) -> None:
    for value in values:
        assert value not in content
        assert escape(value) in content, f"{escape(value)} is not on the page"


@pytest.fixture
def admin_user(db: None) -> User:
    """pytest-django's superuser, without hashing a password (admin_client logs in with force_login)."""
    return User.objects.create_superuser("admin", "admin@example.com", password=None)


@pytest.fixture
def hostile(seably_deliver: Any, seably_endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint named with HTML, and events whose payload values are HTML, stored through the view."""
    seably_endpoint.name = f"ops {SCRIPT}"
    seably_endpoint.save()
    seably_id = f"SB-{IMAGE}"
    body = {
        "event": "certificate.created",
        "payload": {
            "data": {
                "type": "certificate",
                "id": seably_id,
                "learner_name": f"Ada {SCRIPT}",
                "course_name": f"Course {IMAGE}",
                "learner_email": f"{IMAGE}@example.com",
                "url": "javascript:alert('seably')",
                "note": SCRIPT,
            }
        },
    }
    assert seably_deliver(body).status_code == 200

    def explode(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        raise RuntimeError(f"receiver failed: {SCRIPT}")

    webhook_received.connect(explode)
    try:
        response = seably_deliver({"event": f"user.{SCRIPT}", "payload": {"data": {"type": IMAGE, "id": "U-1"}}})
    finally:
        webhook_received.disconnect(explode)
    assert response.status_code == 200
    return {
        "endpoint": seably_endpoint,
        "certificate": Certificate.objects.get(seably_id=seably_id),
        "event": WebhookEvent.objects.get(object_id=seably_id),
        "failed": WebhookEvent.objects.get(status=Status.FAILED),
    }


@pytest.mark.django_db
class TestHtmlIsEscapedInTheAdmin:
    def get(self, client: Client, url: str) -> str:
        response = client.get(url)
        assert response.status_code == 200
        return str(response.content.decode())

    def test_endpoint_pages(self, admin_client, hostile):
        endpoint = hostile["endpoint"]

        for url in (
            reverse("admin:django_seably_endpoint_changelist"),
            reverse("admin:django_seably_endpoint_change", args=[endpoint.pk]),
            reverse("admin:django_seably_eventoverview_changelist"),
        ):
            shown_escaped(self.get(admin_client, url), endpoint.name)

    def test_rotation_confirmation(self, admin_client, hostile):
        endpoint = hostile["endpoint"]

        response = admin_client.post(
            reverse("admin:django_seably_endpoint_changelist"),
            {"action": "rotate_token", "_selected_action": [endpoint.pk]},
        )

        assert response.status_code == 200
        shown_escaped(response.content.decode(), endpoint.name)

    def test_event_list_and_filters(self, admin_client, hostile):
        content = self.get(admin_client, reverse("admin:django_seably_webhookevent_changelist"))

        # Object id, event type (column and filter choice) and the endpoint's name (column and filter choice).
        shown_escaped(content, hostile["event"].object_id, hostile["failed"].event_type, hostile["endpoint"].name)

    def test_event_pages(self, admin_client, hostile):
        content = self.get(admin_client, reverse("admin:django_seably_webhookevent_change", args=[hostile["event"].pk]))
        shown_escaped(content, f"Ada {SCRIPT}", f"Course {IMAGE}", hostile["endpoint"].name)
        assert 'href="javascript:' not in content

        failed = self.get(admin_client, reverse("admin:django_seably_webhookevent_change", args=[hostile["failed"].pk]))
        shown_escaped(failed, f"receiver failed: {SCRIPT}", hostile["failed"].event_type)

    def test_certificate_list_and_filters(self, admin_client, hostile):
        content = self.get(admin_client, reverse("admin:django_seably_certificate_changelist"))

        shown_escaped(content, hostile["certificate"].seably_id, f"Ada {SCRIPT}", f"Course {IMAGE}")

    def test_certificate_page(self, admin_client, hostile):
        certificate = hostile["certificate"]

        content = self.get(admin_client, reverse("admin:django_seably_certificate_change", args=[certificate.pk]))

        shown_escaped(content, certificate.seably_id, f"Ada {SCRIPT}", f"Course {IMAGE}", SCRIPT)
        assert 'href="javascript:' not in content

    def test_overview(self, admin_client, hostile):
        content = self.get(admin_client, reverse("admin:django_seably_eventoverview_changelist"))

        shown_escaped(content, hostile["endpoint"].name, hostile["failed"].event_type)


# --- CSV export: formulas ---------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.django_db
@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_export_neutralises_formulas_from_a_delivery(admin_client, seably_deliver, start):
    """Every cell a spreadsheet would run as a formula gets a leading ', whichever column it is in."""
    values = {
        "id": f"{start}SB-1",
        "learner_name": f'{start}HYPERLINK("https://evil.example","open")',
        "learner_email": f"{start}cmd@example.com",
        "course_name": f"{start}1+1",
        "url": f"{start}cmd|' /C calc'!A0",
    }
    assert (
        seably_deliver(
            {"event": "certificate.created", "payload": {"data": {"type": "certificate", **values}}}
        ).status_code
        == 200
    )
    certificate = Certificate.objects.get()

    response = admin_client.post(
        reverse("admin:django_seably_certificate_changelist"),
        {"action": "export_csv", "_selected_action": [certificate.pk]},
    )

    assert response.status_code == 200
    header, row = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    cells = dict(zip(header, row, strict=True))
    assert cells["seably_id"] == f"'{values['id']}"
    for column in ("learner_name", "learner_email", "course_name", "url"):
        assert cells[column] == f"'{values[column]}", column
    assert not any(cell.startswith(FORMULA_STARTS) for cell in row), row


# --- permissions ---------------------------------------------------------------------


def staff_client(*permissions: str, username: str = "staff") -> Client:
    user = User.objects.create_user(username, is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="django_seably", codename=codename))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def rows(seably_endpoint: Endpoint) -> dict[str, Any]:
    event = WebhookEventFactory.create(failed=True, endpoint=seably_endpoint)
    certificate = Certificate.objects.create(
        seably_id="SB-PERM", data={"type": "certificate", "id": "SB-PERM"}, event=event
    )
    return {"endpoint": seably_endpoint, "event": event, "certificate": certificate}


@pytest.mark.django_db
class TestPermissions:
    """test_admin.py covers view-only staff and reprocess, rotation and export; these are the other boundaries."""

    @pytest.mark.parametrize(
        "page",
        [
            "webhookevent_changelist",
            "webhookevent_change",
            "certificate_changelist",
            "certificate_change",
            "endpoint_changelist",
            "endpoint_change",
        ],
    )
    def test_staff_without_permissions_sees_nothing(self, rows, page):
        model, view = page.split("_")
        args = [rows[{"webhookevent": "event"}.get(model, model)].pk] if view == "change" else []

        response = staff_client().get(reverse(f"admin:django_seably_{page}", args=args))

        assert response.status_code == 403
        assert rows["endpoint"].token not in response.content.decode()

    def test_the_admin_index_lists_no_seably_model_without_permissions(self, rows):
        content = staff_client().get(reverse("admin:index")).content.decode()

        assert "django_seably" not in content

    def test_viewing_certificates_does_not_show_events(self, rows):
        client = staff_client("view_certificate")

        assert client.get(reverse("admin:django_seably_certificate_changelist")).status_code == 200
        assert client.get(reverse("admin:django_seably_webhookevent_changelist")).status_code == 403
        assert client.get(reverse("admin:django_seably_eventoverview_changelist")).status_code == 403

    def test_staff_without_permissions_cannot_post_reprocess(self, rows):
        response = staff_client().post(
            reverse("admin:django_seably_webhookevent_changelist"),
            {"action": "reprocess", "_selected_action": [rows["event"].pk]},
        )

        assert response.status_code == 403
        rows["event"].refresh_from_db()
        assert (rows["event"].status, rows["event"].attempts) == (Status.FAILED, 1)

    def test_staff_without_permissions_cannot_rotate(self, rows):
        token = rows["endpoint"].token

        response = staff_client().post(
            reverse("admin:django_seably_endpoint_changelist"),
            {"action": "rotate_token", "_selected_action": [rows["endpoint"].pk], "confirm": "yes"},
        )

        assert response.status_code == 403
        rows["endpoint"].refresh_from_db()
        assert rows["endpoint"].token == token

    def test_change_endpoint_permission_is_what_allows_rotation(self, rows):
        token = rows["endpoint"].token

        response = staff_client("change_endpoint").post(
            reverse("admin:django_seably_endpoint_changelist"),
            {"action": "rotate_token", "_selected_action": [rows["endpoint"].pk], "confirm": "yes"},
        )

        assert response.status_code == 302
        rows["endpoint"].refresh_from_db()
        assert rows["endpoint"].token != token

    def test_export_needs_the_certificate_view_permission(self, rows):
        response = staff_client("view_webhookevent", "change_webhookevent").post(
            reverse("admin:django_seably_certificate_changelist"),
            {"action": "export_csv", "_selected_action": [rows["certificate"].pk]},
        )

        assert response.status_code == 403
        assert not response.get("Content-Disposition")
        assert "SB-PERM" not in b"".join(getattr(response, "streaming_content", [response.content])).decode()
