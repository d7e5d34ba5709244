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

from django_seably.models import Endpoint, WebhookEvent
from django_seably.redact import (
    LOGGERS,
    SERVER_LOGGERS,
    RedactTokensFilter,
    install_log_filters,
    is_webhook_path,
    mask_token,
    redact_request,
    redact_request_paths,
    redact_text,
    redact_url,
    webhook_prefix,
)
from django_seably.signals import webhook_received
from tests.factories import EndpointFactory, certificate_body

#: Django 6.1 warns when ADMINS mail is sent without settings.MAILERS; the warning class is new in 6.1.
MAILERS_WARNING = "ignore:Django 2028 will not have a default mailer"

#: A token of the real shape that belongs to no endpoint.
TOKEN = "Zq3vT9sLxW2mN8rK4bY7cD1fG6hJ0pQ5aE_uI-oRtYw"


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

    @pytest.mark.parametrize("suffix", ["/extra/", "/extra", "/a/b/c/"])
    def test_unresolved_url_under_the_webhook_prefix(self, client, seably_endpoint, logs, suffix):
        response = client.post(f"/seably/{seably_endpoint.token}{suffix}", data="{}", content_type="application/json")

        assert response.status_code == 404
        assert request_messages(logs) == [f"Not Found: /seably/{seably_endpoint.masked_token}{suffix}"]
        assert_not_logged(logs, seably_endpoint.token)
        assert seably_endpoint.token not in response.content.decode()

    def test_unresolved_url_request_on_the_record_is_redacted(self, client, seably_endpoint, logs):
        client.post(f"/seably/{seably_endpoint.token}/extra/", data="{}", content_type="application/json")

        (record,) = [record for record in logs.records if record.name == "django.request"]
        assert record.request.path == f"/seably/{seably_endpoint.masked_token}/extra/"
        assert record.request.META["PATH_INFO"] == f"/seably/{seably_endpoint.masked_token}/extra/"

    def test_a_redacted_query_string_and_cookie_can_still_be_read(self, rf):
        # Django encodes these back to bytes (latin-1) when GET and COOKIES are first read.
        request = rf.post(f"/seably/{TOKEN}/extra/?t={TOKEN}", HTTP_COOKIE=f"seen={TOKEN}")

        redact_request_paths(request)

        assert request.GET["t"] == f"{TOKEN[:4]}…"
        assert TOKEN not in str(request.COOKIES)
        assert request.path == f"/seably/{TOKEN[:4]}…/extra/"

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

        assert record.getMessage() == f'"GET /seably/{TOKEN[:4]}…?check=1 HTTP/1.1" 404 12'

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
            (f"/seably/{TOKEN}/extra/", f"/seably/{TOKEN[:4]}…/extra/"),
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


class TestRedactUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (f"https://example.com/seably/{TOKEN}/", f"https://example.com/seably/{TOKEN[:4]}…/"),
            (f"https://example.com/seably/{TOKEN}", f"https://example.com/seably/{TOKEN[:4]}…"),
            (f"https://example.com/seably/{TOKEN}?x=1", f"https://example.com/seably/{TOKEN[:4]}…?x=1"),
            (f"http://127.0.0.1:8000/hooks/{TOKEN}/", f"http://127.0.0.1:8000/hooks/{TOKEN[:4]}…/"),
            ("https://example.com/seably/short/", "https://example.com/seably/short/"),
            ("https://example.com/" + "a" * 19 + "/", "https://example.com/" + "a" * 19 + "/"),
            ("https://example.com/" + "a" * 20 + "/", "https://example.com/aaaa…/"),
            ("https://" + "a" * 19 + ".example.com/", "https://" + "a" * 19 + ".example.com/"),
            ("https://example.com/" + "a" * 30 + ".json", "https://example.com/aaaa….json"),
            ("https://example.com/x;" + "a" * 30, "https://example.com/x;aaaa…"),
            ("https://example.com/" + "%61" * 30, "https://example.com/%61%…"),
        ],
    )
    def test_masks_token_like_segments(self, url, expected):
        assert redact_url(url) == expected


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
            logging.getLogger("uvicorn.error").warning("%s%s", "/seably/", TOKEN, extra={"color_message": "%s%s"})

        (record,) = records
        assert record.getMessage() == f"/seably/{TOKEN[:4]}…"
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
