from __future__ import annotations

import contextlib
import http
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any
from unittest import mock

import django
import pytest
from django.db import OperationalError
from django.test import override_settings
from django.urls import include, path

from django_seably.models import Endpoint, WebhookEvent, generate_token
from django_seably.redact import (
    LOGGERS,
    SERVER_LOGGERS,
    RedactTokensFilter,
    install_log_filters,
    is_webhook_path,
    looks_like_token,
    mask_segments,
    mask_token,
    redact_exception,
    redact_request,
    redact_request_paths,
    redact_text,
    webhook_prefix,
)
from django_seably.signals import webhook_received
from tests.factories import EndpointFactory, certificate_body

#: Django 6.1 warns when ADMINS mail is sent without settings.MAILERS; the warning class is new in 6.1.
MAILERS_WARNING = "ignore:Django 2028 will not have a default mailer"

#: A token of the real shape that belongs to no endpoint.
TOKEN = "Zq3vT9sLxW2mN8rK4bY7cD1fG6hJ0pQ5aE_uI-oRtYw"

#: A token from before tokens were drawn again without a digit: masked under the prefix only.
LEGACY = "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIjKlMnOpQ"


class WithoutSeablyUrls:
    urlpatterns: list[Any] = []


class UnderAnotherPrefix:
    urlpatterns = [path("hooks/seably/", include("django_seably.urls"))]


class AtTheRoot:
    urlpatterns = [path("", include("django_seably.urls"))]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_not_logged(caplog: pytest.LogCaptureFixture, token: str) -> None:
    """The token is in no message, no exception text, no formatted output and no request on a record."""
    formatter = logging.Formatter()
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in formatter.format(record)
        if record.exc_info:
            assert token not in formatter.formatException(record.exc_info)
        request = getattr(record, "request", None)
        if request is not None:
            assert token not in repr(request)
            assert token not in request.get_full_path()
            assert token not in json.dumps({key: str(value) for key, value in request.META.items()})
    assert token not in caplog.text


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def records_of(name: str) -> Iterator[list[logging.LogRecord]]:
    """Collect what a logger emits, whether it propagates or not."""
    logger = logging.getLogger(name)
    handler, level = ListHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def request_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "django.request"]


def phrase(status: int) -> str:
    return http.HTTPStatus(status).phrase


pytestmark = pytest.mark.django_db


class TestErrorPathsLogNoToken:
    @pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def test_unknown_token(self, client, logs, method):
        response = client.generic(method, f"/seably/{TOKEN}/", data="{}", content_type="application/json")

        assert response.status_code == 404
        assert request_messages(logs) == [f"Not Found: /seably/{TOKEN[:4]}…/"]
        assert_not_logged(logs, TOKEN)
        assert TOKEN not in response.content.decode()

    def test_unknown_token_without_trailing_slash(self, client, logs):
        response = client.post(f"/seably/{TOKEN}", data="{}", content_type="application/json")

        assert response.status_code == 404
        assert request_messages(logs) == [f"Not Found: /seably/{TOKEN[:4]}…"]
        assert_not_logged(logs, TOKEN)

    @pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
    def test_inactive_endpoint(self, client, logs, method):
        endpoint = EndpointFactory.create(is_active=False)

        response = client.generic(method, endpoint.webhook_path, data="{}", content_type="application/json")

        assert response.status_code == 404
        assert request_messages(logs) == [f"Not Found: /seably/{endpoint.masked_token}/"]
        assert_not_logged(logs, endpoint.token)
        assert endpoint.token not in response.content.decode()

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
    def test_method_not_allowed(self, client, seably_endpoint, logs, method):
        response = client.generic(method, seably_endpoint.webhook_path, data="{}")

        assert response.status_code == 405
        assert request_messages(logs) == [f"{phrase(405)}: /seably/{seably_endpoint.masked_token}/"]
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    def test_invalid_body(self, seably_deliver, seably_endpoint, logs):
        response = seably_deliver(b"{oops")

        assert response.status_code == 400
        assert request_messages(logs) == [f"Bad Request: /seably/{seably_endpoint.masked_token}/"]
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    def test_invalid_body_quoting_the_path(self, seably_deliver, seably_endpoint, logs):
        # The body itself is stored as sent; only what is logged and answered is checked here.
        response = seably_deliver(f'{{"event": 1, "path": "{seably_endpoint.webhook_path}"}}')

        assert response.status_code == 400
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    @override_settings(SEABLY={"MAX_BODY_SIZE": 10})
    def test_body_too_large(self, seably_deliver, seably_endpoint, logs):
        response = seably_deliver(certificate_body())

        assert response.status_code == 413
        assert request_messages(logs) == [f"{phrase(413)}: /seably/{seably_endpoint.masked_token}/"]
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    def test_database_unavailable(self, client, seably_endpoint, logs):
        with mock.patch("django_seably.views._active_endpoint", side_effect=OperationalError("down")):
            response = client.post(seably_endpoint.webhook_path, data="{}", content_type="application/json")

        assert response.status_code == 503
        assert request_messages(logs) == [f"Service Unavailable: /seably/{seably_endpoint.masked_token}/"]
        warnings = [record for record in logs.records if record.name == "django_seably.views"]
        assert [record.getMessage() for record in warnings] == ["Database unavailable; answered 503."]
        assert warnings[0].exc_info is not None
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    @pytest.mark.filterwarnings(MAILERS_WARNING)
    def test_database_unavailable_error_report_has_no_token(self, client, seably_endpoint, logs, settings, mailoutbox):
        settings.ADMINS = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]

        with mock.patch("django_seably.views._active_endpoint", side_effect=OperationalError("down")):
            client.post(seably_endpoint.webhook_path, data="{}", content_type="application/json")

        assert len(mailoutbox) == 1
        report = mailoutbox[0]
        assert report.subject.endswith(f"Service Unavailable: /seably/{seably_endpoint.masked_token}/")
        assert f"/seably/{seably_endpoint.masked_token}/" in report.body
        assert seably_endpoint.token not in report.subject
        assert seably_endpoint.token not in report.body

    def test_receiver_failure(self, seably_deliver, seably_endpoint, logs):
        def explode(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
            raise RuntimeError(f"receiver failed on event {event.pk}")

        webhook_received.connect(explode)
        try:
            response = seably_deliver(certificate_body())
        finally:
            webhook_received.disconnect(explode)

        assert response.status_code == 200
        event = WebhookEvent.objects.get()
        assert event.status == WebhookEvent.Status.FAILED
        failures = [record for record in logs.records if record.name == "django_seably.processing"]
        assert [record.getMessage() for record in failures] == [
            f"Processing Seably event {event.pk} (certificate.created) failed."
        ]
        assert "RuntimeError: receiver failed on event" in logs.text
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in event.last_error
        assert seably_endpoint.token not in json.dumps(event.headers)

    @pytest.mark.parametrize(
        ("suffix", "shown"), [("/extra/", "/extr…/"), ("/extra", "/extr…"), ("/a/b/c/", "/a/b/c/")]
    )
    def test_unresolved_url_under_the_webhook_prefix(self, client, seably_endpoint, logs, suffix, shown):
        # Under the prefix, whatever follows is masked, part by part.
        response = client.post(f"/seably/{seably_endpoint.token}{suffix}", data="{}", content_type="application/json")

        assert response.status_code == 404
        assert request_messages(logs) == [f"Not Found: /seably/{seably_endpoint.masked_token}{shown}"]
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    def test_unresolved_url_request_on_the_record_is_redacted(self, client, seably_endpoint, logs):
        client.post(f"/seably/{seably_endpoint.token}/extra/", data="{}", content_type="application/json")

        (record,) = [record for record in logs.records if record.name == "django.request"]
        assert record.request.path == f"/seably/{seably_endpoint.masked_token}/extr…/"
        assert record.request.META["PATH_INFO"] == f"/seably/{seably_endpoint.masked_token}/extr…/"

    def test_a_redacted_query_string_and_cookie_can_still_be_read(self, rf):
        # Django encodes these back to bytes (latin-1) when GET and COOKIES are first read.
        request = rf.post(f"/seably/{TOKEN}/extra/?t={TOKEN}", HTTP_COOKIE=f"seen={TOKEN}")

        redact_request_paths(request)

        assert request.GET["t"] == f"{TOKEN[:4]}…"
        assert TOKEN not in str(request.COOKIES)
        assert request.path == f"/seably/{TOKEN[:4]}…/extr…/"

    @pytest.mark.filterwarnings(MAILERS_WARNING)
    def test_disallowed_host(self, client, seably_endpoint, logs, settings, mailoutbox):
        settings.ADMINS = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]

        response = client.post(
            seably_endpoint.webhook_path, data="{}", content_type="application/json", HTTP_HOST="evil.example"
        )

        assert response.status_code == 400
        (record,) = [record for record in logs.records if record.name == "django.security.DisallowedHost"]
        assert record.request.path == f"/seably/{seably_endpoint.masked_token}/"
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()
        assert len(mailoutbox) == 1
        assert seably_endpoint.token not in mailoutbox[0].body
        assert f"/seably/{seably_endpoint.masked_token}/" in mailoutbox[0].body

    def test_token_of_impossible_shape(self, client, logs):
        token = TOKEN + ".json"

        response = client.post(f"/seably/{token}/", data="{}", content_type="application/json")

        assert response.status_code == 404
        assert request_messages(logs) == [f"Not Found: /seably/{token[:4]}…/"]
        assert_not_logged(logs, TOKEN)

    def test_ready_check_logs_nothing_with_the_token(self, client, seably_endpoint, logs):
        response = client.get(seably_endpoint.webhook_path)

        assert response.status_code == 200
        assert request_messages(logs) == []
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()


class TestErrorBodies:
    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("POST", f"/seably/{TOKEN}/", 404),
            ("GET", f"/seably/{TOKEN}/", 404),
            ("POST", f"/seably/{TOKEN}/more/", 404),
            ("GET", f"/seably/{TOKEN}/more/", 404),
        ],
    )
    def test_not_found_pages_do_not_contain_the_token(self, client, method, path, status):
        response = client.generic(method, path)

        assert response.status_code == status
        assert TOKEN not in response.content.decode()
        assert all(TOKEN not in value for _, value in response.items())


class TestDjangoServerRecords:
    def make_record(self, request_line: str) -> logging.LogRecord:
        return logging.LogRecord(
            "django.server", logging.WARNING, __file__, 1, '"%s" %s %s', (request_line, "404", "12"), None
        )

    def test_filter_masks_the_request_line(self):
        record = self.make_record(f"POST /seably/{TOKEN}/ HTTP/1.1")

        assert RedactTokensFilter().filter(record) is True

        assert record.getMessage() == f'"POST /seably/{TOKEN[:4]}…/ HTTP/1.1" 404 12'
        # Redacted argument by argument: formatters that read the arguments keep working.
        assert record.args == (f"POST /seably/{TOKEN[:4]}…/ HTTP/1.1", "404", "12")

    def test_filter_masks_a_query_string_and_a_missing_slash(self):
        record = self.make_record(f"GET /seably/{TOKEN}?check=1 HTTP/1.1")

        RedactTokensFilter().filter(record)

        assert record.getMessage() == f'"GET /seably/{TOKEN[:4]}…?chec…=1 HTTP/1.1" 404 12'

    def test_filter_leaves_other_records_untouched(self):
        record = self.make_record("GET /admin/django_seably/webhookevent/?q=seably HTTP/1.1")
        msg, args = record.msg, record.args

        assert RedactTokensFilter().filter(record) is True

        assert (record.msg, record.args) == (msg, args)

    def test_filter_keeps_a_malformed_record(self):
        record = logging.LogRecord("django.server", logging.INFO, __file__, 1, "%s %s", ("only one",), None)

        assert RedactTokensFilter().filter(record) is True

        assert (record.msg, record.args) == ("%s %s", ("only one",))

    def test_django_server_logger_redacts(self):
        with records_of("django.server") as records:
            logging.getLogger("django.server").warning('"%s" %s %s', f"POST /seably/{TOKEN}/ HTTP/1.1", "404", "12")

        assert [record.getMessage() for record in records] == [f'"POST /seably/{TOKEN[:4]}…/ HTTP/1.1" 404 12']

    @pytest.mark.parametrize("name", LOGGERS)
    def test_each_installed_logger_redacts(self, name):
        with records_of(name) as records:
            logging.getLogger(name).error("Forbidden: %s", f"/seably/{TOKEN}/")

        assert [record.getMessage() for record in records] == [f"Forbidden: /seably/{TOKEN[:4]}…/"]


class TestRedactText:
    def test_masks_a_webhook_path(self):
        assert redact_text(f"Not Found: /seably/{TOKEN}/") == f"Not Found: /seably/{TOKEN[:4]}…/"

    def test_masks_every_webhook_path(self):
        other = secrets.token_urlsafe(32)

        assert redact_text(f"/seably/{TOKEN}/ then /seably/{other}") == (
            f"/seably/{TOKEN[:4]}…/ then /seably/{other[:4]}…"
        )

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (f'"/seably/{TOKEN}"', f'"/seably/{TOKEN[:4]}…"'),
            (f"'/seably/{TOKEN}'", f"'/seably/{TOKEN[:4]}…'"),
            (f"/seably/{TOKEN}?a=1", f"/seably/{TOKEN[:4]}…?a=1"),
            (f"/seably/{TOKEN}#top", f"/seably/{TOKEN[:4]}…#top"),
            (f"/seably/{TOKEN} HTTP/1.1", f"/seably/{TOKEN[:4]}… HTTP/1.1"),
            (f"https://example.com/seably/{TOKEN}/", f"https://example.com/seably/{TOKEN[:4]}…/"),
        ],
    )
    def test_token_ends_at_a_delimiter(self, text, expected):
        assert redact_text(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "no path here",
            "/admin/django_seably/webhookevent/",
            "/api/seably/certificates/",
            "/seably/abcd/",
            "/seably/",
            "",
            "UNIQUE constraint failed: django_seably_webhookevent_fingerprint_index.fingerprint",
            'File "/srv/app/django_seably/processing.py", line 12, in process_event_in_its_own_transaction',
        ],
    )
    def test_text_without_a_webhook_token_is_unchanged(self, text):
        assert redact_text(text) == text

    def test_masking_twice_changes_nothing_more(self):
        once = redact_text(f"/seably/{TOKEN}/")

        assert redact_text(once) == once

    @override_settings(ROOT_URLCONF=WithoutSeablyUrls)
    def test_without_the_apps_urls_only_token_like_runs_are_masked(self):
        assert redact_text("/seably/abcdefgh/") == "/seably/abcdefgh/"
        assert redact_text(f"/seably/{TOKEN}/") == f"/seably/{TOKEN[:4]}…/"

    @override_settings(ROOT_URLCONF=UnderAnotherPrefix)
    def test_follows_the_prefix_the_project_chose(self):
        assert redact_text("/hooks/seably/abcdefgh/") == "/hooks/seably/abcd…/"
        assert redact_text("/seably/abcdefgh/") == "/seably/abcdefgh/"
        # Token-like runs are masked under any prefix.
        assert redact_text(f"/hooks/{TOKEN}/") == f"/hooks/{TOKEN[:4]}…/"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (f"/seably/%{ord(TOKEN[0]):02x}{TOKEN[1:]}/", f"/seably/%{ord(TOKEN[0]):02x}{TOKEN[1]}…/"),
            (f"//seably/{TOKEN}/", f"//seably/{TOKEN[:4]}…/"),
            (f"/Seably/{TOKEN}/", f"/Seably/{TOKEN[:4]}…/"),
            (f"/SEABLY//{TOKEN}", f"/SEABLY//{TOKEN[:4]}…"),
            (f"/%73eably/{TOKEN}/", f"/%73eably/{TOKEN[:4]}…/"),
            (f"/seably/%2F{TOKEN}/", f"/seably/%2F{TOKEN[:4]}…/"),
            (f"/seably\\{TOKEN}/", f"/seably\\{TOKEN[:4]}…/"),
            (f"/./seably/./{TOKEN}/", f"/./seably/./{TOKEN[:4]}…/"),
            (f"/seably/{TOKEN};x", f"/seably/{TOKEN[:4]}…"),
            (f"/seably/{TOKEN}.json", f"/seably/{TOKEN[:4]}…"),
            (f"/seably/{TOKEN}/extra/", f"/seably/{TOKEN[:4]}…/extr…/"),
            ("/seably/short1/", "/seably/shor…/"),
            (
                f"POST http://127.0.0.1:8000/seably/{TOKEN}/ HTTP/1.1",
                f"POST http://127.0.0.1:8000/seably/{TOKEN[:4]}…/ HTTP/1.1",
            ),
            (f"/seably/{TOKEN}/?t={TOKEN}", f"/seably/{TOKEN[:4]}…/?t={TOKEN[:4]}…"),
            (f"/x/../seably/{TOKEN}/", f"/x/../seably/{TOKEN[:4]}…/"),
            (f"/anywhere/{TOKEN}", f"/anywhere/{TOKEN[:4]}…"),
            # Encoded twice: Django's path then holds "%5aq3v…", which is not the token either.
            (f"/seably/%255a{TOKEN[1:]}/", "/seably/%255…/"),
        ],
    )
    def test_every_spelling_of_a_webhook_path_is_masked(self, text, expected):
        assert redact_text(text) == expected


class TestTokensAnywhere:
    """Rule 2: a run shaped like a token is masked under any prefix, in any text."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (f"https://example.com/seably/{TOKEN}/", f"https://example.com/seably/{TOKEN[:4]}…/"),
            (f"http://127.0.0.1:8000/hooks/{TOKEN}/", f"http://127.0.0.1:8000/hooks/{TOKEN[:4]}…/"),
            (f"/old-prefix/{TOKEN}/", f"/old-prefix/{TOKEN[:4]}…/"),
            (f"Host: {TOKEN}.example", f"Host: {TOKEN[:4]}….example"),
            (f"Invalid HTTP_HOST header: '{TOKEN}.example'.", f"Invalid HTTP_HOST header: '{TOKEN[:4]}….example'."),
            (f"Invalid HTTP Version: '{TOKEN}/ HTTP/1.1'", f"Invalid HTTP Version: '{TOKEN[:4]}…/ HTTP/1.1'"),
            (f"x{TOKEN}y", f"x{TOKEN[:3]}…"),
            (f"/hooks/{TOKEN}?t={TOKEN}", f"/hooks/{TOKEN[:4]}…?t={TOKEN[:4]}…"),
            # Percent-encoded, in either case, whole or in part (a Referer, X-Original-URI).
            ("/r/" + "".join(f"%{ord(c):02X}" for c in TOKEN), "/r/%5A%…"),
            ("/r/" + "".join(f"%{ord(c):02x}" for c in TOKEN), "/r/%5a%…"),
            (f"/r/%{ord(TOKEN[0]):02X}{TOKEN[1:]}", f"/r/%{ord(TOKEN[0]):02X}{TOKEN[1]}…"),
            (f"/old%2F{TOKEN}", f"/old%2F{TOKEN[:2]}…"),
        ],
    )
    def test_a_token_is_masked_wherever_it_appears(self, text, expected):
        assert redact_text(text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "/blog/how-to-configure-django-logging-in-production/",
            '"GET /blog/how-to-configure-django-logging-in-production/ HTTP/1.1" 200 5120',
            "/orders/550e8400-e29b-41d4-a716-446655440000/",
            "/orders/550E8400-E29B-41D4-A716-446655440000/",
            "/media/uploads/annual-report-2026-final-version-with-appendices-and-index.pdf",
            "/media/UPLOADS/ANNUAL_REPORT_2026_FINAL_VERSION_WITH_APPENDICES.PDF",
            "/search/?q=supercalifragilisticexpialidociousandevenlongerthanthat",
            "/search/?q=how+to+configure+django+logging+in+production+with+gunicorn",
            "/search/?q=how%20to%20configure%20django%20logging%20in%20production",
            "/files/" + "ab12" * 16,  # a hex digest: no upper case
            "/files/" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIjKlMnOpQr",  # no digit
            "/files/" + "ABC123" * 8,  # no lower case
            "/seably-docs/" + TOKEN[:42],  # one character short
            'File "/srv/app/django_seably/processing.py", line 12, in process_event_in_its_own_transaction',
        ],
    )
    def test_the_host_projects_lines_are_left_exactly_as_they_were(self, text):
        assert redact_text(text) == text

    @pytest.mark.parametrize(
        ("text", "expected"),
        [(TOKEN, True), (TOKEN[:42], False), (TOKEN.lower(), False), (TOKEN.upper(), False), (TOKEN + "/", False)],
    )
    def test_looks_like_token(self, text, expected):
        assert looks_like_token(text) is expected

    def test_every_generated_token_has_the_shape(self):
        tokens = [generate_token() for _ in range(3000)]

        assert all(looks_like_token(token) and len(token) == 43 for token in tokens)
        assert len(set(tokens)) == len(tokens)

    def test_a_draw_without_a_digit_is_made_again(self):
        without_digit = "A" * 21 + "b" * 22
        with mock.patch("secrets.token_urlsafe", side_effect=[without_digit, TOKEN]) as draw:
            assert generate_token() == TOKEN

        assert draw.call_count == 2


class TestMaskToken:
    @pytest.mark.parametrize(
        ("token", "expected"), [(TOKEN, "Zq3v…"), ("abcdefgh", "abcd…"), ("abc", "abc…"), ("", "")]
    )
    def test_mask_keeps_four_characters(self, token, expected):
        assert mask_token(token) == expected

    def test_endpoint_masked_token_uses_it(self):
        assert Endpoint(name="x", token=TOKEN).masked_token == "Zq3v…"


class TestInstallLogFilters:
    def test_installed_on_the_request_loggers(self):
        assert {"django.request", "django.server", "django.security.csrf", "django.security.DisallowedHost"} <= set(
            LOGGERS
        )
        for name in LOGGERS:
            filters = logging.getLogger(name).filters
            assert sum(isinstance(f, RedactTokensFilter) for f in filters) == 1

    def test_installing_again_adds_no_filter(self):
        install_log_filters()
        install_log_filters()

        for name in LOGGERS:
            filters = logging.getLogger(name).filters
            assert sum(isinstance(f, RedactTokensFilter) for f in filters) == 1


def spellings(token: str) -> list[str]:
    """Paths that carry ``token`` without being the webhook URL as registered."""
    encoded = "".join(f"%{ord(character):02X}" for character in token)
    return [
        f"//seably/{token}/",
        f"/Seably/{token}/",
        f"/SEABLY/{token}",
        f"/seably//{token}/",
        f"/./seably/{token}/",
        f"/x/../seably/{token}/",
        f"/seably/{token};x",
        f"/seably/{token}.json",
        f"/seably/{token}/extra/",
        f"/seably/{token}/?t={token}",
        f"/seably/x/{token}/",
        f"/other/{token}/",
        # The test client, like a server, decodes these: the view gets the real token.
        f"/seably/%{ord(token[0]):02X}{token[1:]}/",
        f"/seably/{encoded}/",
        f"/%73eably/{token}/",
    ]


class TestOddSpellingsLogNoToken:
    """Whatever the spelling, Django's records, its error reports and the answer carry no token."""

    @pytest.mark.parametrize("index", range(len(spellings(TOKEN))))
    @pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
    def test_records_and_answers(self, client, seably_endpoint, logs, index, method):
        spelling = spellings(seably_endpoint.token)[index]

        response = client.generic(method, spelling, data="{}", content_type="application/json")

        assert response.status_code in {200, 400, 404, 405}
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()
        assert all(seably_endpoint.token not in value for _, value in response.items())

    @pytest.mark.filterwarnings(MAILERS_WARNING)
    @pytest.mark.parametrize("index", range(len(spellings(TOKEN))))
    def test_error_reports(self, client, seably_endpoint, logs, settings, mailoutbox, index):
        settings.ADMINS = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]
        spelling = spellings(seably_endpoint.token)[index]

        client.post(
            spelling,
            data="{}",
            content_type="application/json",
            HTTP_HOST="evil.example",
            HTTP_X_ORIGINAL_URI=spelling,
            HTTP_REFERER=f"https://evil.example{spelling}",
        )

        assert len(mailoutbox) == 1
        assert seably_endpoint.token not in mailoutbox[0].subject
        assert seably_endpoint.token not in mailoutbox[0].body
        assert_not_logged(logs, seably_endpoint.token)


class TestRecords:
    def test_a_traceback_is_masked(self):
        try:
            raise ValueError(f"no route for /seably/{TOKEN}/")
        except ValueError:
            with records_of("django.request") as records:
                logging.getLogger("django.request").exception("Internal Server Error: %s", "/x/")

        (record,) = records
        assert TOKEN not in logging.Formatter().format(record)
        assert f"/seably/{TOKEN[:4]}…/" in logging.Formatter().format(record)

    def test_uvicorn_access_arguments_keep_their_shape(self):
        # uvicorn's AccessFormatter unpacks exactly five arguments.
        with records_of("uvicorn.access") as records:
            logging.getLogger("uvicorn.access").info(
                '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", f"//Seably/{TOKEN}.json", "1.1", 404
            )

        (record,) = records
        assert record.args == ("127.0.0.1:5000", "POST", f"//Seably/{TOKEN[:4]}…", "1.1", 404)

    def test_a_token_split_over_arguments_is_masked_in_the_message(self):
        with records_of("uvicorn.error") as records:
            logging.getLogger("uvicorn.error").warning("%s%s", "/seably/", LEGACY, extra={"color_message": "%s%s"})

        (record,) = records
        assert record.getMessage() == f"/seably/{LEGACY[:4]}…"
        assert "color_message" not in record.__dict__

    def test_a_mapping_of_arguments_is_masked_in_the_message(self):
        # gunicorn's access log: a format and a dict of atoms.
        with records_of("gunicorn.access") as records:
            logging.getLogger("gunicorn.access").info(
                '"%(r)s" %(s)s', {"r": f"POST /seably/{TOKEN} HTTP/1.1", "s": 404}
            )

        (record,) = records
        assert record.getMessage() == f'"POST /seably/{TOKEN[:4]}… HTTP/1.1" 404'

    @pytest.mark.parametrize("name", LOGGERS + SERVER_LOGGERS)
    def test_every_logger_has_the_filter_once(self, name):
        install_log_filters()

        assert sum(isinstance(f, RedactTokensFilter) for f in logging.getLogger(name).filters) == 1

    def test_a_redacted_request_keeps_its_headers_for_the_view(self, rf):
        request = rf.post(f"/seably/{TOKEN}/", HTTP_X_SEABLY_SIGNATURE=f"sha256={TOKEN}")

        redact_request(request, TOKEN)

        assert request.path == f"/seably/{TOKEN[:4]}…/"
        assert request.headers["x-seably-signature"] == f"sha256={TOKEN}"


class TestWebhookPrefix:
    def test_read_from_the_urlconf(self):
        assert webhook_prefix() == "/seably/"

    @override_settings(ROOT_URLCONF=UnderAnotherPrefix)
    def test_follows_a_new_urlconf(self):
        assert webhook_prefix() == "/hooks/seably/"

    @override_settings(ROOT_URLCONF=WithoutSeablyUrls)
    def test_none_without_the_apps_urls(self):
        assert webhook_prefix() is None

    @override_settings(ROOT_URLCONF=AtTheRoot)
    def test_at_the_root_only_token_like_runs_are_masked(self):
        assert redact_text("/admin/login/") == "/admin/login/"
        assert redact_text(f"/{TOKEN}/") == f"/{TOKEN[:4]}…/"

    @pytest.mark.parametrize(
        ("path", "expected"),
        [
            ("/seably/x/", True),
            ("//SEABLY", True),
            ("/%73eably/", True),
            ("/api/seably/certificates/", False),
            ("/seablyx/", False),
            ("/", False),
        ],
    )
    def test_is_webhook_path(self, path, expected):
        assert is_webhook_path(path) is expected


def hostile(token: str) -> list[str]:
    """What follows the prefix in a URL pasted with a stray character, and their percent-encodings."""
    return [
        f"/seably/'{token}'/",
        f'/seably/"{token}"/',
        f"/seably/?{token}",
        f"/seably/#{token}",
        f"/seably/<{token}>",
        f"/seably/ {token}/",
        f"/seably/\t{token}/",
        f"/seably/%27{token}%27/",
        f"/seably/%22{token}/",
        f"/seably/%3F{token}",
        f"/seably/%3f{token}",
        f"/seably/%23{token}",
        f"/seably/%3C{token}",
        f"/seably/%20{token}/",
        f"/seably?{token}",
        f"/seably'{token}",
        f"/seably/x/{token}/",
        f"/seably/?t={token}&u={token}",
        f"//seably/{token};x",
        f"/seably/{token}.json",
        f"/x/../seably/{token}/",
        f"/x/y/../../seably/{token}/",
        f"/x/%2E%2E/seably/{token}/",
    ]


class TestUnderThePrefixWhateverFollowsIsMasked:
    @pytest.mark.parametrize("token", [TOKEN, LEGACY], ids=["token", "legacy-token-without-digit"])
    @pytest.mark.parametrize("index", range(len(hostile(TOKEN))))
    @pytest.mark.parametrize("around", ["{}", '"POST {} HTTP/1.1" 404 12', "Not Found: {}", "https://a.example{}"])
    def test_every_hostile_spelling(self, token, index, around):
        text = around.format(hostile(token)[index])

        redacted = redact_text(text)

        assert token not in redacted
        assert token[4:] not in redacted
        assert "…" in redacted
        # Idempotent: a masked line is left as it is.
        assert redact_text(redacted) == redacted

    def test_the_same_token_in_another_case_is_masked_too(self):
        # Django's DisallowedHost message for a valid domain suggests it lower-cased.
        token = "Zq3vT9sLxW2mN8rK4bY7cD1fG6hJ0pQ5aEuIoRtYwAb"
        message = f"Invalid HTTP_HOST header: '{token}.example'. You may need to add '{token.lower()}.example' to ALLOWED_HOSTS."

        redacted = redact_text(message)

        assert token.lower() not in redacted.lower()
        assert redacted == (
            "Invalid HTTP_HOST header: 'Zq3v….example'. You may need to add 'zq3v….example' to ALLOWED_HOSTS."
        )

    def test_a_legacy_token_is_masked_under_the_prefix_only(self):
        # Tokens made before every token had the shape: rotate them (docs/security.md).
        assert redact_text(f"/seably/{LEGACY}/") == f"/seably/{LEGACY[:4]}…/"
        assert redact_text(f"/old/{LEGACY}/") == f"/old/{LEGACY}/"

    def test_the_request_line_of_the_bare_prefix_is_kept(self):
        line = '"GET /seably/ HTTP/1.1" 404 179'

        assert redact_text(line) == line

    def test_mask_segments(self):
        assert mask_segments(f"t={TOKEN}&%27ab%27&long=value") == f"t={TOKEN[:4]}…&%27ab%27&long=valu…"


class TestAGoodGuest:
    """A record, a request or an exception that carries no token is left exactly as it was."""

    PATHS = [
        "/blog/how-to-configure-django-logging-in-production/",
        "/orders/550e8400-e29b-41d4-a716-446655440000/",
        "/media/reports/annual-report-2026-final-version-with-appendices-and-index.pdf",
        "/search/?q=supercalifragilisticexpialidociousandevenlongerthanthatone",
        "/api/seably/certificates/?learner_email=ada%40example.com",
    ]

    @pytest.mark.parametrize("path", PATHS)
    def test_a_django_server_record(self, path):
        args = (f"GET {path} HTTP/1.1", "200", "5120")
        record = logging.LogRecord("django.server", logging.INFO, __file__, 1, '"%s" %s %s', args, None)
        record.__dict__["color_message"] = "colour"

        RedactTokensFilter().filter(record)

        assert record.msg == '"%s" %s %s'
        assert record.args is args
        assert record.__dict__["color_message"] == "colour"

    @pytest.mark.parametrize("path", PATHS)
    def test_a_request_is_not_rewritten(self, client, logs, path):
        client.get(path, HTTP_REFERER=f"https://testserver{path}", HTTP_X_ORIGINAL_URI=path)

        (record,) = [record for record in logs.records if record.name == "django.request"]
        request = record.request
        assert request.path == path.split("?")[0]
        assert request.headers["referer"] == f"https://testserver{path}"
        assert request.headers["x-original-uri"] == path
        assert record.getMessage().endswith(f": {path.split('?')[0]}")

    def test_redact_request_paths_changes_nothing_without_a_token(self, rf):
        request = rf.get("/orders/550e8400-e29b-41d4-a716-446655440000/?q=how-to-configure-django-logging")
        meta = dict(request.META)
        path = request.path

        redact_request_paths(request)

        assert request.path is path
        assert meta == request.META

    def test_an_exception_without_a_token_is_the_same_object(self):
        error = ValueError("/blog/how-to-configure-django-logging-in-production/")

        assert redact_exception(error) is error


class TestExceptions:
    def make(self, error: BaseException) -> BaseException:
        try:
            try:
                raise KeyError("cause")
            except KeyError as cause:
                raise error from cause
        except BaseException as raised:
            return raised

    def test_a_token_in_the_message_is_masked_in_a_copy(self):
        from django.core.exceptions import DisallowedHost

        error = self.make(DisallowedHost(f"Invalid HTTP_HOST header: '127.0.0.1/seably/{TOKEN}/'."))

        redacted = redact_exception(error)

        assert type(redacted) is DisallowedHost
        assert str(redacted) == f"Invalid HTTP_HOST header: '127.0.0.1/seably/{TOKEN[:4]}…/'."
        assert redacted.__traceback__ is error.__traceback__
        assert redacted.__cause__ is error.__cause__
        assert TOKEN in str(error)  # the original, which other code may hold, is unchanged

    def test_an_exception_with_its_own_str_is_replaced(self):
        error = self.make(OSError(2, f"No such file: /seably/{TOKEN}/"))

        redacted = redact_exception(error)

        assert TOKEN not in str(redacted)
        assert redacted.__traceback__ is error.__traceback__

    def test_a_record_carries_the_masked_exception(self):
        error = self.make(ValueError(f"bad host {TOKEN}.example"))
        record = logging.LogRecord(
            "django.security.DisallowedHost", logging.ERROR, __file__, 1, "x", (), (ValueError, error, None)
        )

        RedactTokensFilter().filter(record)

        assert record.exc_info is not None
        assert TOKEN not in str(record.exc_info[1])
        assert TOKEN not in logging.Formatter().format(record)

    @pytest.mark.filterwarnings(MAILERS_WARNING)
    @pytest.mark.parametrize("host", [f"127.0.0.1/seably/{TOKEN}/", f"{TOKEN}.example", f"127.0.0.1/seably/'{LEGACY}'"])
    def test_the_error_mails_exception_value(self, client, logs, settings, mailoutbox, host):
        settings.ADMINS = ["ops@example.com"] if django.VERSION >= (6,) else [("Ops", "ops@example.com")]
        token = LEGACY if LEGACY in host else TOKEN

        response = client.get("/", HTTP_HOST=host)

        assert response.status_code == 400
        (mail,) = mailoutbox
        assert "Exception Value" in mail.body or "DisallowedHost" in mail.body
        assert token[4:] not in mail.subject
        assert token[4:] not in mail.body
        assert_not_logged(logs, token)
