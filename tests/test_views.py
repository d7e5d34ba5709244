from __future__ import annotations

import io
import json
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client, override_settings
from django.urls import reverse

from django_seably.models import Certificate, WebhookEvent, generate_token
from django_seably.views import WebhookView
from tests.conftest import load_payload
from tests.factories import EndpointFactory, certificate_body

pytestmark = pytest.mark.django_db


def test_new_event_is_accepted_stored_and_processed(seably_deliver, seably_endpoint):
    body = load_payload("certificate_created_flat.json")

    response = seably_deliver(body)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert response.json() == {"status": "accepted", "event_id": event.pk}
    assert event.endpoint == seably_endpoint
    assert event.event_type == "certificate.created"
    assert event.object_type == "certificate"
    assert event.object_id == "SB-00000042"
    assert event.body == body.decode()
    assert event.raw_body is None
    assert event.payload == json.loads(body)
    assert event.status == WebhookEvent.Status.PROCESSED
    assert (event.delivery_count, event.attempts, event.last_error) == (1, 1, "")
    assert event.processed_at is not None
    assert Certificate.objects.get().seably_id == "SB-00000042"


def test_no_csrf_token_and_any_content_type(csrf_client, seably_endpoint):
    response = csrf_client.post(
        seably_endpoint.webhook_path, data=json.dumps(certificate_body()), content_type="text/plain"
    )

    assert response.status_code == 200


def test_the_view_is_decorated_once_not_on_every_request():
    view = WebhookView.as_view()

    assert view.csrf_exempt is True
    assert view.login_required is False
    assert view._non_atomic_requests == {"default"}
    # Not method_decorator's per-request wrapping of dispatch.
    assert not hasattr(WebhookView.dispatch, "__wrapped__")
    assert "csrf_exempt" not in vars(WebhookView.dispatch)


def test_url_without_trailing_slash_is_accepted(csrf_client, seably_endpoint):
    path = seably_endpoint.webhook_path.rstrip("/")

    response = csrf_client.post(path, data=json.dumps(certificate_body()), content_type="application/json")

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"


def test_webhook_url_is_reversible(seably_endpoint):
    assert (
        reverse("django_seably:webhook", kwargs={"token": seably_endpoint.token}) == f"/seably/{seably_endpoint.token}/"
    )


def test_duplicate_body_increments_delivery_count(seably_deliver):
    first = seably_deliver(certificate_body("SB-1")).json()

    response = seably_deliver(certificate_body("SB-1"))

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate", "event_id": first["event_id"]}
    event = WebhookEvent.objects.get()
    assert event.delivery_count == 2
    assert event.attempts == 1


def test_duplicate_ignores_key_order_and_whitespace(seably_deliver):
    first = seably_deliver('{"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": "X"}}}')

    response = seably_deliver(
        '{ "payload" : {"data":{"id":"X","type":"certificate"}},\n "event":"certificate.created"}'
    )

    assert response.json() == {"status": "duplicate", "event_id": first.json()["event_id"]}


def test_duplicate_is_not_processed_twice(seably_deliver, received, created):
    seably_deliver(certificate_body("SB-1"))
    seably_deliver(certificate_body("SB-1"))
    seably_deliver(certificate_body("SB-1"))

    assert received.call_count == 1
    assert created.call_count == 1
    assert WebhookEvent.objects.get().delivery_count == 3


def test_same_body_on_another_endpoint_is_a_duplicate_of_the_first(seably_deliver, seably_endpoint):
    other = EndpointFactory.create()
    first = seably_deliver(certificate_body("SB-1")).json()

    response = seably_deliver(certificate_body("SB-1"), endpoint=other)

    assert response.json() == {"status": "duplicate", "event_id": first["event_id"]}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "Body is not valid JSON (Expecting value: line 1 column 1 (char 0))."),
        (b"not json", "Body is not valid JSON (Expecting value: line 1 column 1 (char 0))."),
        (b"[1, 2]", "Body must be a JSON object, not an array."),
        (b'"text"', "Body must be a JSON object, not a string."),
        (b"42", "Body must be a JSON object, not a number."),
        (b"null", "Body must be a JSON object, not null."),
        (b"{}", 'Body must have a non-empty string "event".'),
        (b'{"event": 1}', 'Body must have a non-empty string "event".'),
        (b'{"event": ""}', 'Body must have a non-empty string "event".'),
        (b'{"event": null}', 'Body must have a non-empty string "event".'),
        (b'{"event": "x", "n": NaN}', "Body is not valid JSON (NaN is not a JSON number)."),
        (b'{"event": "x", "n": -Infinity}', "Body is not valid JSON (-Infinity is not a JSON number)."),
        (b"\xff\xfe{}", "Body is not valid UTF-8 (invalid start byte at byte 0)."),
        (b'{"event": "x"\x00}', "Body is not valid JSON (it contains a NUL byte)."),
        (
            b'{"event": "\\u0000"}',
            "Body is not valid JSON for storage (a string contains \\u0000 or an unpaired surrogate).",
        ),
        (
            b'{"event": "x", "k": "\\ud800"}',
            "Body is not valid JSON for storage (a string contains \\u0000 or an unpaired surrogate).",
        ),
        (
            b'{"\\u0000": "x", "event": "x"}',
            "Body is not valid JSON for storage (a key contains \\u0000 or an unpaired surrogate).",
        ),
        (b'{"event": "' + b"e" * 256 + b'"}', '"event" is longer than 255 characters.'),
    ],
)
def test_invalid_body_is_stored_and_answered_400(seably_deliver, received, body, error):
    response = seably_deliver(body)

    assert response.status_code == 400
    assert response.json() == {"error": error}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.INVALID
    assert event.event_type == ""
    assert event.payload is None
    assert event.last_error == error
    stored = event.raw_body if event.raw_body is not None else event.body.encode()
    assert bytes(stored) == body
    assert received.call_count == 0


def test_invalid_utf8_keeps_exact_bytes_and_readable_text(seably_deliver):
    body = b'{"event": "caf\xe9"}'

    seably_deliver(body)

    event = WebhookEvent.objects.get()
    assert event.raw_body is not None
    assert bytes(event.raw_body) == body
    assert event.body == '{"event": "caf\ufffd"}'


def test_repeated_invalid_body_is_stored_once(seably_deliver):
    for _ in range(3):
        response = seably_deliver(b"{oops")
        assert response.status_code == 400

    event = WebhookEvent.objects.get()
    assert event.delivery_count == 3


def test_different_invalid_bodies_are_stored_apart(seably_deliver):
    seably_deliver(b"{oops")
    seably_deliver(b"{oops ")

    assert WebhookEvent.objects.count() == 2


def test_utf8_bom_is_accepted_and_kept(seably_deliver):
    body = "\ufeff" + json.dumps(certificate_body())

    response = seably_deliver(body.encode())

    assert response.status_code == 200
    assert WebhookEvent.objects.get().body == body


@pytest.mark.parametrize("depth", [101, 5000, 100_000])
def test_deep_nesting_is_invalid_not_an_error(seably_deliver, depth):
    body = '{"event": "x", "deep": ' + "[" * depth + "]" * depth + "}"

    response = seably_deliver(body)

    assert response.status_code == 400
    assert "nested deeper than 100 levels" in response.json()["error"]


def test_nesting_at_the_limit_is_accepted(seably_deliver):
    body = '{"event": "x", "deep": ' + "[" * 99 + "]" * 99 + "}"

    assert seably_deliver(body).status_code == 200


def chunked(stream: Any) -> Any:
    """WSGI environ for a body without Content-Length (chunked, as gunicorn marks it)."""
    return {"wsgi.input": stream, "wsgi.input_terminated": True}


def test_huge_numbers(seably_deliver):
    big_int = "9" * 4000
    response = seably_deliver('{"event": "x.y", "n": ' + big_int + ', "f": 1e308, "tiny": 1e-400}')
    assert response.status_code == 200
    payload = WebhookEvent.objects.get().payload
    assert payload is not None
    assert payload["n"] == int(big_int)

    too_long = seably_deliver('{"event": "x.y", "n": ' + "9" * 5000 + "}")
    assert too_long.status_code == 400

    overflow = seably_deliver('{"event": "x.y", "n": 1e999}')
    assert overflow.status_code == 400
    assert overflow.json() == {"error": "Body is not valid JSON (1e999 is out of range for a JSON number)."}


def test_unicode_is_kept_exactly(seably_deliver):
    body = load_payload("certificate_created_jsonapi.json")

    seably_deliver(body)

    event = WebhookEvent.objects.get()
    assert event.body == body.decode()
    assert event.payload is not None
    assert event.payload["payload"]["data"]["attributes"]["learner_name"] == "Åsa Lindqvist-Nyström"


def test_numeric_object_id_is_stored_as_text(seably_deliver):
    seably_deliver({"event": "user.invited", "payload": {"data": {"type": "user", "id": 9001}}})

    event = WebhookEvent.objects.get()
    assert (event.object_type, event.object_id) == ("user", "9001")


@pytest.mark.parametrize(
    "payload",
    [
        {"event": "user.invited"},
        {"event": "user.invited", "payload": "x"},
        {"event": "user.invited", "payload": {"data": []}},
        {"event": "user.invited", "payload": {"data": {"type": ["x"], "id": {"a": 1}}}},
        {"event": "user.invited", "payload": {"data": {"type": True, "id": "x" * 256}}},
    ],
)
def test_missing_or_odd_object_fields_are_null(seably_deliver, payload):
    assert seably_deliver(payload).status_code == 200

    event = WebhookEvent.objects.get()
    assert (event.object_type, event.object_id) == (None, None)


class TestBodySize:
    @override_settings(SEABLY={"MAX_BODY_SIZE": 100}, DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
    def test_body_over_limit_below_djangos_is_413(self, seably_deliver):
        response = seably_deliver({"event": "x", "pad": "p" * 100})

        assert response.status_code == 413
        assert response.json() == {"error": "Body is larger than 100 bytes."}
        assert not WebhookEvent.objects.exists()

    @override_settings(SEABLY={"MAX_BODY_SIZE": 10_000}, DATA_UPLOAD_MAX_MEMORY_SIZE=100)
    def test_body_under_limit_above_djangos_is_accepted(self, seably_deliver):
        response = seably_deliver({"event": "x.y", "pad": "p" * 1000})

        assert response.status_code == 200

    @override_settings(SEABLY={"MAX_BODY_SIZE": 10_000}, DATA_UPLOAD_MAX_MEMORY_SIZE=100)
    def test_body_over_limit_above_djangos_is_413(self, seably_deliver):
        response = seably_deliver({"event": "x", "pad": "p" * 10_000})

        assert response.status_code == 413
        assert not WebhookEvent.objects.exists()

    @override_settings(SEABLY={"MAX_BODY_SIZE": 100})
    def test_body_exactly_at_limit_is_read(self, seably_deliver):
        body = json.dumps({"event": "x.y", "pad": ""})
        body = body[:-2] + "p" * (100 - len(body)) + '"}'
        assert len(body) == 100

        assert seably_deliver(body).status_code == 200

    @override_settings(SEABLY={"MAX_BODY_SIZE": 100})
    def test_declared_length_over_limit_is_refused_unread(self, seably_endpoint):
        stream = mock.Mock()
        stream.read.side_effect = AssertionError("the body must not be read")
        client = Client()

        response = client.generic(
            "POST", seably_endpoint.webhook_path, data=b"", CONTENT_LENGTH="1000000", **{"wsgi.input": stream}
        )

        assert response.status_code == 413
        stream.read.assert_not_called()

    @override_settings(SEABLY={"MAX_BODY_SIZE": 100})
    def test_lying_short_content_length_reads_only_the_limit(self, seably_endpoint, django_capture_on_commit_callbacks):
        # A body longer than its declared length: Django reads only what was declared.
        client = Client()
        response = client.generic(
            "POST", seably_endpoint.webhook_path, data=b'{"event": "x.y"}' + b" " * 500, CONTENT_LENGTH="16"
        )
        assert response.status_code == 200

    def test_chunked_body_without_content_length_is_read(self, seably_endpoint, django_capture_on_commit_callbacks):
        body = json.dumps(certificate_body("SB-CHUNKED")).encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = Client().generic("POST", seably_endpoint.webhook_path, **chunked(io.BytesIO(body)))

        assert response.status_code == 200
        assert WebhookEvent.objects.get().body == body.decode()

    @override_settings(SEABLY={"MAX_BODY_SIZE": 100})
    def test_chunked_body_over_limit_is_413(self, seably_endpoint):
        stream = io.BytesIO(b"x" * 1000)
        response = Client().generic("POST", seably_endpoint.webhook_path, **chunked(stream))

        assert response.status_code == 413
        assert stream.tell() == 101
        assert not WebhookEvent.objects.exists()

    def test_body_that_cannot_be_read_is_400_and_stores_nothing(self, seably_endpoint):
        stream = mock.Mock()
        stream.read.side_effect = OSError("connection reset")
        response = Client().generic("POST", seably_endpoint.webhook_path, **chunked(stream))

        assert response.status_code == 400
        assert response.json() == {"error": "Body could not be read."}
        assert not WebhookEvent.objects.exists()


class TestMethodsAndTokens:
    @pytest.mark.parametrize("method", ["get", "head"])
    def test_get_and_head_say_ready(self, client, seably_endpoint, method):
        response = getattr(client, method)(seably_endpoint.webhook_path)

        assert response.status_code == 200
        if method == "get":
            assert response.json() == {"status": "ready"}
        assert not WebhookEvent.objects.exists()

    @pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
    def test_other_methods_are_405(self, client, seably_endpoint, method):
        response = getattr(client, method)(seably_endpoint.webhook_path, data="{}")

        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD, POST"
        assert not WebhookEvent.objects.exists()

    @pytest.mark.parametrize("method", ["get", "head", "post", "put", "patch", "delete", "options"])
    def test_unknown_token_is_404_for_any_method(self, client, seably_endpoint, method):
        path = reverse("django_seably:webhook", kwargs={"token": "x" * 43})

        response = getattr(client, method)(path)

        assert response.status_code == 404
        assert not WebhookEvent.objects.exists()

    @pytest.mark.parametrize("method", ["get", "post", "put"])
    def test_inactive_endpoint_is_404(self, client, method):
        endpoint = EndpointFactory.create(is_active=False)

        response = client.generic(method.upper(), endpoint.webhook_path, data="{}", content_type="application/json")

        assert response.status_code == 404
        assert not WebhookEvent.objects.exists()

    @pytest.mark.parametrize("token", ["a" * 65, "has.dot", "x%00y", "é" * 10])
    def test_token_of_impossible_shape_is_404_without_a_query(self, client, django_assert_num_queries, token):
        with django_assert_num_queries(0):
            response = client.post(f"/seably/{token}/", data="{}", content_type="application/json")

        assert response.status_code == 404


class TestTokenChanges:
    """An endpoint whose token changed, or that was deactivated or deleted, gets nothing more."""

    @pytest.mark.parametrize("change", ["rotate", "deactivate", "delete"])
    def test_a_known_token_changed_since_is_404_and_stores_nothing(
        self, seably_deliver, seably_endpoint, change, received
    ):
        old_path = seably_endpoint.webhook_path
        seably_deliver(certificate_body("SB-1"))
        if change == "rotate":
            seably_endpoint.token = generate_token()
            seably_endpoint.save()
        elif change == "deactivate":
            seably_endpoint.is_active = False
            seably_endpoint.save()
        else:
            WebhookEvent.objects.all().delete()
            seably_endpoint.delete()

        response = Client().post(old_path, data=json.dumps(certificate_body("SB-2")), content_type="application/json")

        assert response.status_code == 404
        assert response.json() == {"error": "Not found."}
        assert not WebhookEvent.objects.filter(object_id="SB-2").exists()
        assert not Certificate.objects.filter(seably_id="SB-2").exists()
        assert received.call_count == 1

    def test_an_endpoint_recreated_with_the_same_token_gets_its_events(self, seably_deliver, seably_endpoint):
        seably_deliver(certificate_body("SB-1"))
        token = seably_endpoint.token
        WebhookEvent.objects.all().delete()
        seably_endpoint.delete()
        again = EndpointFactory.create(name="restored", token=token)

        response = seably_deliver(certificate_body("SB-2"), endpoint=again)

        assert response.status_code == 200
        assert WebhookEvent.objects.get(object_id="SB-2").endpoint == again

    def test_get_always_looks_the_token_up(self, client, seably_deliver, seably_endpoint, django_assert_num_queries):
        seably_deliver(certificate_body("SB-1"))
        seably_endpoint.is_active = False
        seably_endpoint.save()

        with django_assert_num_queries(1):
            response = client.get(seably_endpoint.webhook_path)

        assert response.status_code == 404


class TestDatabaseUnavailable:
    def test_endpoint_lookup_failure_is_503(self, client, seably_endpoint):
        with mock.patch("django_seably.views._active_endpoint", side_effect=OperationalError("down")):
            response = client.post(seably_endpoint.webhook_path, data="{}", content_type="application/json")

        assert response.status_code == 503
        assert response.json() == {"error": "Database unavailable, try again later."}

    def test_insert_failure_is_503_and_stores_nothing(self, client, seably_endpoint):
        with mock.patch("django_seably.models.upsert", side_effect=OperationalError("down")):
            response = client.post(
                seably_endpoint.webhook_path, data=json.dumps(certificate_body()), content_type="application/json"
            )

        assert response.status_code == 503
        assert not WebhookEvent.objects.exists()

    def test_a_database_error_logs_its_traceback_and_no_advice_to_migrate(self, client, seably_endpoint, caplog):
        with mock.patch("django_seably.views._active_endpoint", side_effect=OperationalError("down")):
            client.post(seably_endpoint.webhook_path, data="{}", content_type="application/json")

        [record] = [r for r in caplog.records if r.name == "django_seably.views"]
        assert record.getMessage() == "Database unavailable; answered 503."
        assert record.exc_info is not None


@pytest.mark.django_db(transaction=True)
class TestMissingTable:
    """Installed without ``migrate``: a 503 and one line that says what to do (on SQLite and PostgreSQL alike)."""

    @pytest.fixture
    def renamed(self, seably_endpoint):
        # The table an event is stored in, gone as if never migrated; put back afterwards.
        table = WebhookEvent._meta.db_table
        with connection.schema_editor() as editor:
            editor.alter_db_table(WebhookEvent, table, "seably_not_migrated")
        yield table
        with connection.schema_editor() as editor:
            editor.alter_db_table(WebhookEvent, "seably_not_migrated", table)

    def test_is_503_with_one_line_saying_to_migrate(self, client, seably_endpoint, renamed, caplog):
        response = client.post(
            seably_endpoint.webhook_path, data=json.dumps(certificate_body()), content_type="application/json"
        )

        assert response.status_code == 503
        assert response.json() == {"error": "Database unavailable, try again later."}
        [record] = [r for r in caplog.records if r.name == "django_seably.views"]
        assert record.getMessage() == (
            f"The table {renamed} does not exist: run `python manage.py migrate`. Answered 503."
        )
        assert record.exc_info is None

    def test_the_tables_are_looked_up_only_after_an_error(self, client, seably_endpoint, monkeypatch):
        looked_up = []

        def missing_tables():
            looked_up.append(True)
            return []

        monkeypatch.setattr("django_seably.views._missing_tables", missing_tables)

        response = client.post(
            seably_endpoint.webhook_path, data=json.dumps(certificate_body()), content_type="application/json"
        )

        assert response.status_code == 200
        assert looked_up == []


def test_stored_headers_leave_out_credentials(seably_deliver, seably_endpoint):
    seably_deliver(
        certificate_body(),
        headers={
            "Authorization": "Bearer secret",
            "Cookie": "sessionid=secret",
            "Proxy-Authorization": "Basic secret",
            "User-Agent": "Seably/1.0",
            "X-Original-Uri": seably_endpoint.webhook_path,
        },
    )

    headers = WebhookEvent.objects.get().headers
    assert headers["User-Agent"] == "Seably/1.0"
    assert not {"Authorization", "Cookie", "Proxy-Authorization"} & set(headers)
    assert seably_endpoint.token not in json.dumps(headers)
    assert headers["X-Original-Uri"] == f"/seably/{seably_endpoint.token[:4]}…/"


def test_stored_headers_are_bounded(seably_deliver):
    from django_seably.headers import MAX_STORED_HEADER_LENGTH, MAX_STORED_HEADERS

    many = {f"X-Pad-{i}": "v" * 5000 for i in range(80)}
    seably_deliver(certificate_body(), headers=many)

    headers = WebhookEvent.objects.get().headers
    assert len(headers) == MAX_STORED_HEADERS
    assert max(len(value) for value in headers.values()) == MAX_STORED_HEADER_LENGTH
    assert next(value for name, value in headers.items() if name.startswith("X-Pad")).endswith("…")
