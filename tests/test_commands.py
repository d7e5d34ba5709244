from __future__ import annotations

import datetime
import errno
import io
import itertools
import json
import os
import re
import socket
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.payloads import fingerprint
from tests.conftest import load_payload
from tests.factories import EndpointFactory, WebhookEventFactory, certificate_body

Status = WebhookEvent.Status


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def invalid_event(body: str = "{oops", **kwargs: Any) -> WebhookEvent:
    """An event stored as invalid, as the view stores one."""
    defaults: dict[str, Any] = {
        "status": Status.INVALID,
        "payload": None,
        "body": body,
        "fingerprint": fingerprint({"invalid": body}),
        "event_type": "",
        "object_type": None,
        "object_id": None,
        "last_error": "Body is not valid JSON (Expecting property name enclosed in double quotes: ...).",
    }
    return WebhookEventFactory.create(**{**defaults, **kwargs})


_deliveries = itertools.count()


def unprocessable_event(**kwargs: Any) -> WebhookEvent:
    """A failed certificate.created without payload.data: it fails again whenever processed."""
    payload = {"event": "certificate.created", "payload": {}, "delivery": next(_deliveries)}
    return WebhookEventFactory.create(failed=True, payload=payload, object_type=None, object_id=None, **kwargs)


@pytest.mark.django_db
class TestEndpointCreate:
    def test_create_prints_the_url_path(self):
        output = run("seably_endpoint", "create", "production")

        endpoint = Endpoint.objects.get()
        assert endpoint.name == "production"
        assert endpoint.is_active
        assert output == (
            "Created endpoint 'production'. Register this URL on Seably, after your site's https:// origin:\n"
            f"{reverse('django_seably:webhook', kwargs={'token': endpoint.token})}\n"
        )

    def test_printed_path_equals_the_reversed_url(self):
        path = run("seably_endpoint", "create", "staging").splitlines()[-1]

        endpoint = Endpoint.objects.get(name="staging")
        assert path == reverse("django_seably:webhook", kwargs={"token": endpoint.token})
        assert path == f"/seably/{endpoint.token}/"

    def test_token_is_long_and_url_safe(self):
        path = run("seably_endpoint", "create", "production").splitlines()[-1]

        token = path.removeprefix("/seably/").removesuffix("/")
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)
        assert Endpoint.objects.get().token == token

    def test_name_is_stripped(self):
        run("seably_endpoint", "create", "  production  ")

        assert Endpoint.objects.get().name == "production"

    def test_name_of_100_characters_is_accepted(self):
        run("seably_endpoint", "create", "n" * 100)

        assert Endpoint.objects.get().name == "n" * 100

    def test_duplicate_name_is_an_error(self):
        existing = EndpointFactory.create(name="production")

        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", "create", " production ")

        assert str(raised.value) == "An endpoint named 'production' already exists."
        assert list(Endpoint.objects.values_list("token", flat=True)) == [existing.token]

    @pytest.mark.parametrize("name", ["", "   ", "\t"])
    def test_empty_name_is_an_error(self, name):
        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", "create", name)

        assert str(raised.value) == "The endpoint name must not be empty."
        assert not Endpoint.objects.exists()

    def test_too_long_name_is_an_error(self):
        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", "create", "n" * 101)

        assert str(raised.value) == "The endpoint name is longer than 100 characters."
        assert not Endpoint.objects.exists()


@pytest.mark.django_db
class TestEndpointList:
    def test_list_shows_masked_tokens_only(self):
        production = EndpointFactory.create(name="production")
        old = EndpointFactory.create(name="old", is_active=False)

        output = run("seably_endpoint", "list")

        assert output == (
            f"old\tinactive\ttoken {old.token[:4]}…\tcreated {old.created_at:%Y-%m-%d %H:%M}\n"
            f"production\tactive\ttoken {production.token[:4]}…\tcreated {production.created_at:%Y-%m-%d %H:%M}\n"
        )
        assert production.token not in output
        assert old.token not in output

    def test_list_without_endpoints_says_how_to_create_one(self):
        assert run("seably_endpoint", "list") == (
            "No endpoints yet. Create one with: manage.py seably_endpoint create NAME\n"
        )


def run_full(*args: Any, **options: Any) -> tuple[str, str]:
    """Run a command; return what it wrote on stdout and on stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def webhook_status(client: Any, token: str) -> int:
    return int(client.get(reverse("django_seably:webhook", kwargs={"token": token})).status_code)


@pytest.mark.django_db
class TestEndpointShowRotateActivate:
    def test_show_prints_the_full_url_path(self):
        endpoint = EndpointFactory.create(name="production")

        output = run("seably_endpoint", "show", "production")

        assert output == f"/seably/{endpoint.token}/\n"
        assert output.strip() == reverse("django_seably:webhook", kwargs={"token": endpoint.token})

    def test_show_says_when_the_endpoint_is_inactive(self):
        endpoint = EndpointFactory.create(name="old", is_active=False)

        assert run_full("seably_endpoint", "show", "old") == (
            f"/seably/{endpoint.token}/\n",
            "Endpoint 'old' is inactive: its URL answers 404 until it is activated.\n",
        )
        assert run_full("seably_endpoint", "show", "old", verbosity=0) == (f"/seably/{endpoint.token}/\n", "")

    def test_rotate_gives_a_new_token_at_once(self, client):
        endpoint = EndpointFactory.create(name="production")
        old_token = endpoint.token

        output = run("seably_endpoint", "rotate", "production")

        endpoint.refresh_from_db()
        assert endpoint.token != old_token
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", endpoint.token)
        assert output == (
            f"Rotated the token of endpoint 'production' ({old_token[:4]}… → {endpoint.token[:4]}…): its old URL "
            "now answers 404. Register the new URL on Seably, after your site's https:// origin:\n"
            f"/seably/{endpoint.token}/\n"
        )
        assert old_token not in output
        assert webhook_status(client, old_token) == 404
        assert webhook_status(client, endpoint.token) == 200

    def test_rotate_uses_the_models_rule(self, monkeypatch):
        """One place for the rule: the command rotates through Endpoint.rotate_token, as the admin should."""
        endpoint = EndpointFactory.create(name="production")
        monkeypatch.setattr("django_seably.models.generate_token", lambda: "N" * 43)

        run("seably_endpoint", "rotate", "production")

        endpoint.refresh_from_db()
        assert endpoint.token == "N" * 43

    def test_deactivate_then_activate(self, client):
        endpoint = EndpointFactory.create(name="production")

        assert run("seably_endpoint", "deactivate", "production") == (
            "Endpoint 'production' is now inactive: its URL answers 404 until it is activated.\n"
        )
        assert not Endpoint.objects.get(pk=endpoint.pk).is_active
        assert webhook_status(client, endpoint.token) == 404

        assert run("seably_endpoint", "activate", "production") == (
            "Endpoint 'production' is now active: its URL accepts deliveries again.\n"
        )
        assert Endpoint.objects.get(pk=endpoint.pk).is_active
        assert webhook_status(client, endpoint.token) == 200

    @pytest.mark.parametrize(("action", "state"), [("activate", "active"), ("deactivate", "inactive")])
    def test_switching_to_the_current_state_says_so(self, action, state):
        EndpointFactory.create(name="production", is_active=state == "active")

        assert run("seably_endpoint", action, "production") == f"Endpoint 'production' is already {state}.\n"

    @pytest.mark.parametrize("action", ["show", "rotate", "activate", "deactivate"])
    def test_an_unknown_name_is_an_error_naming_the_endpoints(self, action):
        endpoint = EndpointFactory.create(name="production", is_active=False)
        EndpointFactory.create(name="staging")
        before = list(Endpoint.objects.order_by("pk").values_list("name", "token", "is_active"))

        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", action, "prod")

        assert str(raised.value) == "No endpoint named 'prod' (endpoints: production, staging)."
        assert list(Endpoint.objects.order_by("pk").values_list("name", "token", "is_active")) == before
        assert endpoint.token not in str(raised.value)

    def test_an_unknown_name_exits_non_zero_from_the_command_line(self, capsys, monkeypatch):
        from django.core.management import ManagementUtility

        # The command line closes every connection at the end, the test's own included (PostgreSQL).
        monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)

        with pytest.raises(SystemExit) as exited:
            ManagementUtility(["manage.py", "seably_endpoint", "show", "nope"]).execute()

        assert exited.value.code != 0
        assert "No endpoint named 'nope' (endpoints: none yet)." in capsys.readouterr().err

    @pytest.mark.parametrize("action", ["show", "rotate"])
    def test_the_name_is_stripped_as_on_create(self, action):
        EndpointFactory.create(name="production")

        assert run("seably_endpoint", action, "  production ").splitlines()[-1].startswith("/seably/")

    def test_verbosity_0_prints_the_path_alone_or_nothing(self):
        created, _ = run_full("seably_endpoint", "create", "production", verbosity=0)
        endpoint = Endpoint.objects.get()
        assert created == f"/seably/{endpoint.token}/\n"

        assert run_full("seably_endpoint", "show", "production", verbosity=0) == (created, "")
        rotated, _ = run_full("seably_endpoint", "rotate", "production", verbosity=0)
        endpoint.refresh_from_db()
        assert rotated == f"/seably/{endpoint.token}/\n"
        assert run_full("seably_endpoint", "deactivate", "production", verbosity=0) == ("", "")
        assert run_full("seably_endpoint", "activate", "production", verbosity=0) == ("", "")
        Endpoint.objects.all().delete()
        assert run_full("seably_endpoint", "list", verbosity=0) == ("", "")

    def test_verbosity_2_prints_what_verbosity_1_does(self):
        assert run_full("seably_endpoint", "create", "production", verbosity=2)[0].startswith(
            "Created endpoint 'production'."
        )
        endpoint = Endpoint.objects.get()
        assert run_full("seably_endpoint", "show", "production", verbosity=2) == (f"/seably/{endpoint.token}/\n", "")


@pytest.mark.django_db
class TestEndpointWithoutTheUrls:
    """A project that forgot include("django_seably.urls"): nothing is made whose URL cannot be shown."""

    @pytest.fixture(autouse=True)
    def _no_seably_urls(self, settings):
        settings.ROOT_URLCONF = "tests.urls_without_seably"

    def test_create_fails_before_creating_anything(self):
        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", "create", "production")

        assert str(raised.value) == (
            'The URLconf (ROOT_URLCONF) has no include("django_seably.urls"), so no URL can be shown: nothing was '
            'created. Add path("seably/", include("django_seably.urls")) to your urlpatterns.'
        )
        assert not Endpoint.objects.exists()

    def test_rotate_fails_before_rotating(self):
        endpoint = EndpointFactory.create(name="production")

        with pytest.raises(CommandError, match="the token was not rotated"):
            run("seably_endpoint", "rotate", "production")

        assert Endpoint.objects.get().token == endpoint.token

    def test_show_fails_cleanly(self):
        EndpointFactory.create(name="production")

        with pytest.raises(CommandError, match=re.escape('has no include("django_seably.urls")')):
            run("seably_endpoint", "show", "production")

    def test_from_the_command_line_the_system_check_stops_it_first(self, capsys, monkeypatch):
        from django.core.management import ManagementUtility

        # The command line closes every connection at the end, the test's own included (PostgreSQL).
        monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)

        with pytest.raises(SystemExit) as exited:
            ManagementUtility(["manage.py", "seably_endpoint", "create", "production"]).execute()

        assert exited.value.code != 0
        err = capsys.readouterr().err
        assert "django_seably.E033" in err
        assert 'include("django_seably.urls")' in err
        assert "Traceback" not in err
        assert not Endpoint.objects.exists()


class TestEndpointArguments:
    def test_missing_subcommand_is_an_error(self):
        with pytest.raises(CommandError) as raised:
            run("seably_endpoint")

        assert (
            str(raised.value)
            == "Error: the following arguments are required: {create,list,show,rotate,activate,deactivate}"
        )

    def test_unknown_subcommand_is_an_error(self):
        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", "delete")

        assert str(raised.value).startswith(
            "Error: argument {create,list,show,rotate,activate,deactivate}: invalid choice: 'delete'"
        )

    def test_create_without_a_name_is_an_error(self):
        with pytest.raises(CommandError) as raised:
            run("seably_endpoint", "create")

        assert str(raised.value) == "Error: the following arguments are required: name"


@pytest.mark.django_db
class TestReprocess:
    def test_no_selection_is_an_error(self):
        WebhookEventFactory.create(failed=True)

        with pytest.raises(CommandError) as raised:
            run("seably_reprocess")

        assert str(raised.value) == "Say which events to reprocess: --failed, --pending, --invalid and/or --id N ..."
        assert WebhookEvent.objects.get().status == Status.FAILED

    def test_older_than_alone_is_no_selection(self):
        with pytest.raises(CommandError) as raised:
            run("seably_reprocess", "--older-than", "5m")

        assert str(raised.value) == "Say which events to reprocess: --failed, --pending, --invalid and/or --id N ..."

    def test_failed_events_are_processed(self, created):
        event = WebhookEventFactory.create(
            failed=True, payload=certificate_body("SB-00000042", learner_email="ingrid.solberg@example.com")
        )

        output = run("seably_reprocess", "--failed")

        assert output == "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped.\n"
        event.refresh_from_db()
        assert event.status == Status.PROCESSED
        assert (event.attempts, event.last_error) == (2, "")
        assert event.processed_at is not None
        certificate = Certificate.objects.get()
        assert (certificate.seably_id, certificate.learner_email) == ("SB-00000042", "ingrid.solberg@example.com")
        assert certificate.event == event
        assert created.call_count == 1

    def test_failed_selects_only_failed_events(self):
        failed = WebhookEventFactory.create(failed=True)
        pending = WebhookEventFactory.create()
        processed = WebhookEventFactory.create(processed=True)

        output = run("seably_reprocess", "--failed")

        assert output == "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped.\n"
        assert dict(WebhookEvent.objects.values_list("pk", "status")) == {
            failed.pk: Status.PROCESSED,
            pending.pk: Status.PENDING,
            processed.pk: Status.PROCESSED,
        }
        assert Certificate.objects.get().event_id == failed.pk

    def test_pending_events_are_processed(self, received):
        events = [WebhookEventFactory.create(), WebhookEventFactory.create()]
        failed = WebhookEventFactory.create(failed=True)

        output = run("seably_reprocess", "--pending")

        assert output == "Reprocessed 2 events: 2 processed, 0 failed, 0 invalid, 0 skipped.\n"
        assert set(WebhookEvent.objects.filter(status=Status.PROCESSED).values_list("pk", flat=True)) == {
            event.pk for event in events
        }
        assert WebhookEvent.objects.get(pk=failed.pk).status == Status.FAILED
        assert Certificate.objects.count() == 2
        assert received.call_count == 2

    def test_event_that_fails_again_is_counted_failed(self):
        event = unprocessable_event()

        output = run("seably_reprocess", "--failed")

        assert output == "Reprocessed 1 event: 0 processed, 1 failed, 0 invalid, 0 skipped.\n"
        event.refresh_from_db()
        assert event.status == Status.FAILED
        assert event.attempts == 2
        assert "ProcessingError: certificate.created has no payload.data object." in event.last_error

    def test_invalid_body_stays_invalid(self):
        event = invalid_event()

        output = run("seably_reprocess", "--invalid")

        assert output == "Reprocessed 1 event: 0 processed, 0 failed, 1 invalid, 0 skipped.\n"
        event.refresh_from_db()
        assert event.status == Status.INVALID
        assert (event.payload, event.attempts, event.body) == (None, 0, "{oops")

    def test_invalid_body_that_parses_now_is_processed(self):
        body = load_payload("certificate_created_flat.json").decode()
        event = invalid_event(body=body)

        output = run("seably_reprocess", "--invalid")

        assert output == "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped.\n"
        event.refresh_from_db()
        assert event.status == Status.PROCESSED
        assert event.payload == json.loads(body)
        assert (event.event_type, event.object_type, event.object_id) == (
            "certificate.created",
            "certificate",
            "SB-00000042",
        )
        assert Certificate.objects.get().seably_id == "SB-00000042"

    def test_flags_combine(self):
        WebhookEventFactory.create(failed=True)
        WebhookEventFactory.create()
        invalid_event()

        output = run("seably_reprocess", "--failed", "--pending", "--invalid")

        assert output == "Reprocessed 3 events: 2 processed, 0 failed, 1 invalid, 0 skipped.\n"

    def test_ids_select_events_of_any_status(self):
        failed = WebhookEventFactory.create(failed=True)
        processed = WebhookEventFactory.create(processed=True)
        other = WebhookEventFactory.create(failed=True)

        output = run("seably_reprocess", "--id", str(failed.pk), str(processed.pk))

        assert output == "Reprocessed 2 events: 1 processed, 0 failed, 0 invalid, 1 skipped.\n"
        assert WebhookEvent.objects.get(pk=failed.pk).status == Status.PROCESSED
        assert WebhookEvent.objects.get(pk=other.pk).status == Status.FAILED

    def test_ids_combine_with_flags(self):
        failed = WebhookEventFactory.create(failed=True)
        pending = WebhookEventFactory.create()

        output = run("seably_reprocess", "--failed", "--id", str(pending.pk), str(failed.pk))

        assert output == "Reprocessed 2 events: 2 processed, 0 failed, 0 invalid, 0 skipped.\n"

    def test_processed_events_are_skipped(self, received):
        event = WebhookEventFactory.create(processed=True)

        output = run("seably_reprocess", "--id", str(event.pk))

        assert output == "Reprocessed 1 event: 0 processed, 0 failed, 0 invalid, 1 skipped.\n"
        event.refresh_from_db()
        assert event.attempts == 1
        assert not Certificate.objects.exists()
        assert received.call_count == 0

    def test_unknown_ids_are_an_error_naming_them(self):
        known = WebhookEventFactory.create(failed=True)

        with pytest.raises(CommandError) as raised:
            run("seably_reprocess", "--id", "999999", str(known.pk), "999998")

        assert str(raised.value) == "No event with id 999998, 999999."
        assert WebhookEvent.objects.get().status == Status.FAILED

    def test_id_must_be_an_integer(self):
        with pytest.raises(CommandError) as raised:
            run("seably_reprocess", "--id", "abc")

        assert str(raised.value) == "Error: argument --id: invalid int value: 'abc'"

    def test_nothing_to_do_says_so(self):
        assert run("seably_reprocess", "--failed") == (
            "Reprocessed 0 events: 0 processed, 0 failed, 0 invalid, 0 skipped.\n"
        )

    def test_older_than_selects_by_received_at(self):
        now = timezone.now()
        old = WebhookEventFactory.create(failed=True, received_at=now - datetime.timedelta(minutes=61))
        recent = WebhookEventFactory.create(failed=True, received_at=now - datetime.timedelta(minutes=59))

        output = run("seably_reprocess", "--failed", "--older-than", "60m")

        assert output == "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped.\n"
        assert WebhookEvent.objects.get(pk=old.pk).status == Status.PROCESSED
        assert WebhookEvent.objects.get(pk=recent.pk).status == Status.FAILED

    def test_older_than_applies_to_ids_too(self):
        recent = WebhookEventFactory.create(failed=True)

        output = run("seably_reprocess", "--id", str(recent.pk), "--older-than", "10m")

        assert output == "Reprocessed 0 events: 0 processed, 0 failed, 0 invalid, 0 skipped.\n"
        assert WebhookEvent.objects.get().status == Status.FAILED

    def test_older_than_zero_selects_everything_received_so_far(self):
        WebhookEventFactory.create(failed=True)

        output = run("seably_reprocess", "--failed", "--older-than", "0s")

        assert output == "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped.\n"

    @pytest.mark.parametrize("value", ["10", "-1m", "10M", "1.5h", "10 m", "m", "2w", ""])
    def test_an_older_than_without_its_unit_is_an_error_changing_nothing(self, value):
        event = WebhookEventFactory.create(failed=True, received_at=timezone.now() - datetime.timedelta(days=30))
        attempts = event.attempts

        with pytest.raises(CommandError) as raised:
            run("seably_reprocess", "--failed", f"--older-than={value}")

        assert str(raised.value) == (
            f"Error: argument --older-than: {value!r} is not a duration: write a whole number followed by "
            "s (seconds), m (minutes), h (hours) or d (days), e.g. 30s, 10m, 2h, 90d."
        )
        event.refresh_from_db()
        assert (event.status, event.attempts) == (Status.FAILED, attempts)

    @pytest.mark.parametrize(("value", "minutes"), [("600s", 10), ("10m", 10), ("1h", 60), ("1d", 1440)])
    def test_older_than_takes_every_unit(self, value, minutes):
        now = timezone.now()
        old = WebhookEventFactory.create(failed=True, received_at=now - datetime.timedelta(minutes=minutes + 1))
        recent = WebhookEventFactory.create(failed=True, received_at=now - datetime.timedelta(minutes=minutes - 1))

        run("seably_reprocess", "--failed", "--older-than", value)

        assert WebhookEvent.objects.get(pk=old.pk).status == Status.PROCESSED
        assert WebhookEvent.objects.get(pk=recent.pk).status == Status.FAILED

    @pytest.mark.parametrize("count", [9, 10])
    def test_more_events_than_a_batch_are_all_processed(self, monkeypatch, count):
        monkeypatch.setattr("django_seably.management.commands.seably_reprocess.BATCH_SIZE", 3)
        WebhookEventFactory.create_batch(count, failed=True)

        output = run("seably_reprocess", "--failed")

        assert output == f"Reprocessed {count} events: {count} processed, 0 failed, 0 invalid, 0 skipped.\n"
        assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
        assert Certificate.objects.count() == count

    def test_events_failing_again_do_not_stop_the_batches(self, monkeypatch):
        monkeypatch.setattr("django_seably.management.commands.seably_reprocess.BATCH_SIZE", 3)
        for _ in range(4):
            unprocessable_event()
            WebhookEventFactory.create(failed=True)

        output = run("seably_reprocess", "--failed")

        assert output == "Reprocessed 8 events: 4 processed, 4 failed, 0 invalid, 0 skipped.\n"
        assert WebhookEvent.objects.filter(status=Status.FAILED).count() == 4


# --- seably_send_test_event ---------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def live_endpoint(transactional_db: None) -> Endpoint:
    return EndpointFactory.create(name="live")


@pytest.fixture
def webhook_url(live_server: Any, live_endpoint: Endpoint) -> str:
    return f"{live_server.url}{live_endpoint.webhook_path}"


class TestSendTestEvent:
    def test_sends_an_accepted_certificate_created(self, webhook_url, live_endpoint, live_server):
        output = run("seably_send_test_event", webhook_url)

        event = WebhookEvent.objects.get()
        assert event.event_type == "certificate.created"
        assert event.status == Status.PROCESSED
        assert event.endpoint == live_endpoint
        assert event.headers["User-Agent"] == "django-seably"
        certificate = Certificate.objects.get()
        assert re.fullmatch(r"SB-TEST-[0-9A-F]{8}", certificate.seably_id)
        assert certificate.learner_email == "test.learner@example.com"
        assert certificate.learner_name == "Test Learner"
        assert certificate.course_name == "django-seably test course"
        assert certificate.issued_at is not None
        assert certificate.expires_on is not None
        assert certificate.url == f"https://www.seably.com/certificates/{certificate.seably_id}.pdf"
        lines = output.splitlines()
        assert lines == [
            f"POST {live_server.url}/seably/{live_endpoint.token[:4]}…/ ({len(event.body.encode())} bytes)",
            f'200 {{"status": "accepted", "event_id": {event.pk}}}',
        ]

    def test_printed_url_masks_the_token(self, webhook_url, live_endpoint):
        output = run("seably_send_test_event", webhook_url)

        assert live_endpoint.token not in output
        assert f"/seably/{live_endpoint.masked_token}/" in output

    def test_each_run_sends_a_new_certificate(self, webhook_url):
        run("seably_send_test_event", webhook_url)
        run("seably_send_test_event", webhook_url)

        assert WebhookEvent.objects.count() == 2
        assert Certificate.objects.count() == 2

    def test_file_sends_its_bytes(self, webhook_url, tmp_path):
        body = load_payload("certificate_created_jsonapi.json")
        path = tmp_path / "body.json"
        path.write_bytes(body)

        output = run("seably_send_test_event", webhook_url, "--file", str(path))

        event = WebhookEvent.objects.get()
        assert event.body == body.decode()
        assert Certificate.objects.get().seably_id == "SB-00000107"
        assert output.splitlines()[0].endswith(f"({len(body)} bytes)")
        assert output.splitlines()[1] == f'200 {{"status": "accepted", "event_id": {event.pk}}}'

    def test_file_sent_twice_is_a_duplicate(self, webhook_url, tmp_path):
        path = tmp_path / "body.json"
        path.write_bytes(load_payload("certificate_created_flat.json"))
        run("seably_send_test_event", webhook_url, "--file", str(path))

        output = run("seably_send_test_event", webhook_url, "--file", str(path))

        event = WebhookEvent.objects.get()
        assert event.delivery_count == 2
        assert output.splitlines()[1] == f'200 {{"status": "duplicate", "event_id": {event.pk}}}'

    def test_rejected_body_is_an_error_after_printing_the_answer(self, webhook_url, tmp_path):
        path = tmp_path / "body.json"
        path.write_bytes(b"[1, 2]")
        out = io.StringIO()

        with pytest.raises(CommandError) as raised:
            call_command("seably_send_test_event", webhook_url, "--file", str(path), stdout=out)

        assert str(raised.value) == "The endpoint answered 400."
        assert out.getvalue().splitlines()[1] == '400 {"error": "Body must be a JSON object, not an array."}'
        assert WebhookEvent.objects.get().status == Status.INVALID

    def test_unknown_token_is_an_error(self, live_server, transactional_db):
        url = f"{live_server.url}/seably/{'x' * 43}/"
        out = io.StringIO()

        with pytest.raises(CommandError) as raised:
            call_command("seably_send_test_event", url, stdout=out)

        assert str(raised.value) == "The endpoint answered 404."
        first, answer = out.getvalue().splitlines()
        assert re.fullmatch(rf"POST {re.escape(live_server.url)}/seably/xxxx…/ \(\d+ bytes\)", first)
        assert answer == '404 {"error": "Not found."}'
        assert not WebhookEvent.objects.exists()

    def test_inactive_endpoint_is_an_error(self, webhook_url, live_endpoint):
        live_endpoint.is_active = False
        live_endpoint.save()

        with pytest.raises(CommandError) as raised:
            run("seably_send_test_event", webhook_url)

        assert str(raised.value) == "The endpoint answered 404."

    def test_missing_file_is_an_error(self, tmp_path):
        path = tmp_path / "missing.json"

        with pytest.raises(CommandError) as raised:
            run("seably_send_test_event", "http://127.0.0.1:9/seably/x/", "--file", str(path))

        assert str(raised.value) == f"Cannot read {path}: No such file or directory."

    def test_directory_as_file_is_an_error(self, tmp_path):
        with pytest.raises(CommandError) as raised:
            run("seably_send_test_event", "http://127.0.0.1:9/seably/x/", "--file", str(tmp_path))

        assert str(raised.value) == f"Cannot read {tmp_path}: Is a directory."

    @pytest.mark.parametrize(
        "url", ["ftp://example.com/seably/x/", "example.com/seably/x/", "http:///seably/x/", "/seably/x/", ""]
    )
    def test_url_that_is_not_http_is_an_error(self, url):
        with pytest.raises(CommandError) as raised:
            run("seably_send_test_event", url)

        assert str(raised.value) == f"{url!r} is not an http(s) URL."

    def test_url_error_masks_the_token(self):
        token = "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"

        with pytest.raises(CommandError) as raised:
            run("seably_send_test_event", f"example.com/seably/{token}/")

        assert token not in str(raised.value)

    def test_connection_refused_is_an_error(self):
        port = closed_port()
        token = "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"
        out = io.StringIO()

        with pytest.raises(CommandError) as raised:
            call_command("seably_send_test_event", f"http://127.0.0.1:{port}/seably/{token}/", stdout=out)

        refused = ConnectionRefusedError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
        assert str(raised.value) == f"Could not reach http://127.0.0.1:{port}/seably/Abcd…/: {refused}"
        assert token not in str(raised.value)
        assert token not in out.getvalue()

    def test_timeout_is_an_error(self):
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = server.getsockname()[1]

            with pytest.raises(CommandError) as raised:
                run("seably_send_test_event", f"http://127.0.0.1:{port}/seably/x/", "--timeout", "0.2")

        assert str(raised.value) == f"Could not reach http://127.0.0.1:{port}/seably/x/: timed out"


TOKEN = "Abcdefghijklmnopqrstuvwxyz0123456789_-ABCDE"


@pytest.fixture
def redirecting_server() -> Any:
    """A server on 127.0.0.1 answering every request with the status and Location set on it; it records requests."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            server.requests.append((self.command, self.path))  # type: ignore[attr-defined]
            self.send_response(server.status)  # type: ignore[attr-defined]
            if server.location is not None:  # type: ignore[attr-defined]
                self.send_header("Location", server.location)  # type: ignore[attr-defined]
            body = f"<a href='{server.location}'>moved</a>".encode()  # type: ignore[attr-defined]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.requests = []  # type: ignore[attr-defined]
    server.status, server.location = 302, None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class TestSendTestEventNeverLeaksOrRedirects:
    @pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
    def test_a_redirect_is_reported_and_not_followed(self, redirecting_server, status):
        port = redirecting_server.server_address[1]
        redirecting_server.status = status
        redirecting_server.location = f"http://127.0.0.1:{port}/elsewhere/{TOKEN}/"
        out, err = io.StringIO(), io.StringIO()

        with pytest.raises(CommandError) as raised:
            call_command("seably_send_test_event", f"http://127.0.0.1:{port}/seably/{TOKEN}/", stdout=out, stderr=err)

        assert str(raised.value) == (
            f"The endpoint answered {status}, a redirect to http://127.0.0.1:{port}/elsewhere/Abcd…/: not followed "
            "(it would resend the POST as a GET without its body). Send to the URL it points to, and register "
            "that one on Seably."
        )
        assert out.getvalue().splitlines()[-1] == f"{status} redirected to http://127.0.0.1:{port}/elsewhere/Abcd…/"
        assert redirecting_server.requests == [("POST", f"/seably/{TOKEN}/")]  # followed nowhere
        assert TOKEN not in out.getvalue() + err.getvalue() + str(raised.value)

    def test_a_redirect_without_location(self, redirecting_server):
        port = redirecting_server.server_address[1]

        with pytest.raises(CommandError, match=r"^The endpoint answered 302, a redirect to nowhere \(no Location"):
            run("seably_send_test_event", f"http://127.0.0.1:{port}/seably/{TOKEN}/")

    def test_a_redirect_exits_non_zero_from_the_command_line(self, redirecting_server):
        """The real command line, its exit status and everything it prints: the token appears nowhere."""
        import subprocess
        import sys

        port = redirecting_server.server_address[1]
        redirecting_server.location = f"https://example.com/seably/{TOKEN}/"
        result = subprocess.run(
            [sys.executable, "-m", "django", "seably_send_test_event", f"http://127.0.0.1:{port}/seably/{TOKEN}/"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            check=False,
        )

        assert result.returncode == 1
        assert "redirected to https://example.com/seably/Abcd…/" in result.stdout
        assert "CommandError: The endpoint answered 302" in result.stderr
        assert TOKEN not in result.stdout + result.stderr

    @pytest.mark.parametrize(
        "url",
        [
            f"http://127.0.0.1:9/seably/{TOKEN[:20]} {TOKEN[20:]}/",  # a space: http.client's InvalidURL
            f"http://127.0.0.1:9/seably/{TOKEN}\n/",
            f"http://127.0.0.1:9x/seably/{TOKEN}/",  # a port that is no number
            f"http://[::1/seably/{TOKEN}/",  # an unclosed IPv6 host
        ],
    )
    def test_a_malformed_url_is_an_error_with_the_token_masked(self, url):
        import subprocess
        import sys

        result = subprocess.run(
            [sys.executable, "-m", "django", "seably_send_test_event", url, "--traceback"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            check=False,
        )

        assert result.returncode == 1
        assert "CommandError: " in result.stderr
        secret = url.split("/seably/")[1].rstrip("/\n")
        for part in {secret, TOKEN, TOKEN[:20], TOKEN[20:]}:
            assert part not in result.stdout + result.stderr

    def test_an_invalid_url_says_what_is_wrong(self):
        with pytest.raises(CommandError) as raised:
            run("seably_send_test_event", f"http://127.0.0.1:9/seably/{TOKEN[:20]} {TOKEN[20:]}/")

        assert str(raised.value).startswith("Could not reach http://127.0.0.1:9/seably/Abcd…/: URL can't contain ")
        assert TOKEN[20:] not in str(raised.value)

    @pytest.mark.django_db(transaction=True)
    def test_verbosity(self, webhook_url, live_endpoint, redirecting_server):
        assert run_full("seably_send_test_event", webhook_url, verbosity=0) == ("", "")
        one, _ = run_full("seably_send_test_event", webhook_url, verbosity=1)
        two, _ = run_full("seably_send_test_event", webhook_url, verbosity=2)
        assert [line.split(" ", 1)[0] for line in one.splitlines()] == ["POST", "200"]
        assert [line.split(" ", 1)[0] for line in two.splitlines()] == ["POST", "200"]

        port = redirecting_server.server_address[1]
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError, match="answered 302"):
            call_command(
                "seably_send_test_event", f"http://127.0.0.1:{port}/seably/x/", verbosity=0, stdout=out, stderr=err
            )
        assert out.getvalue() == ""


@pytest.mark.django_db
class TestReprocessVerbosity:
    def test_verbosity_0_prints_nothing(self):
        WebhookEventFactory.create_batch(3, failed=True)

        assert run_full("seably_reprocess", "--failed", verbosity=0) == ("", "")
        assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}

    def test_verbosity_0_still_says_what_failed_again(self):
        events = [unprocessable_event(), unprocessable_event()]
        WebhookEventFactory.create(failed=True)

        out, err = run_full("seably_reprocess", "--failed", verbosity=0)

        assert out == ""
        assert err == f"2 events failed again (#{events[0].pk}, #{events[1].pk}): see their last_error.\n"

    def test_many_failures_are_counted_not_all_named(self, monkeypatch):
        monkeypatch.setattr("django_seably.management.commands.seably_reprocess.FAILED_SHOWN", 2)
        events = [unprocessable_event() for _ in range(3)]

        _, err = run_full("seably_reprocess", "--failed")

        assert err == f"3 events failed again (#{events[0].pk}, #{events[1].pk}, ...): see their last_error.\n"

    def test_verbosity_1_prints_the_summary(self):
        WebhookEventFactory.create_batch(3, failed=True)

        assert run_full("seably_reprocess", "--failed", verbosity=1) == (
            "Reprocessed 3 events: 3 processed, 0 failed, 0 invalid, 0 skipped.\n",
            "",
        )

    def test_verbosity_2_prints_a_line_per_batch(self, monkeypatch):
        monkeypatch.setattr("django_seably.management.commands.seably_reprocess.BATCH_SIZE", 2)
        events = WebhookEventFactory.create_batch(3, failed=True)

        out, _ = run_full("seably_reprocess", "--failed", verbosity=2)

        assert out.splitlines() == [
            f"Reprocessed 2 events so far (up to id {events[1].pk}).",
            f"Reprocessed 3 events so far (up to id {events[2].pk}).",
            "Reprocessed 3 events: 3 processed, 0 failed, 0 invalid, 0 skipped.",
        ]


@pytest.mark.django_db
class TestLinkUsersVerbosity:
    @pytest.fixture
    def unlinked(self, django_user_model: Any) -> list[Certificate]:
        from tests.factories import CertificateFactory

        certificates = []
        for n in range(3):
            django_user_model.objects.create_user(f"user{n}", f"user{n}@example.com")
            certificates.append(CertificateFactory.create(learner_email=f"user{n}@example.com"))
        return certificates

    def test_verbosity_0_prints_nothing(self, unlinked, settings):
        settings.SEABLY = {"LINK_USERS": True}

        assert run_full("seably_link_users", verbosity=0) == ("", "")
        assert not Certificate.objects.filter(user__isnull=True).exists()

    def test_verbosity_0_leaves_out_the_note_too(self, unlinked):
        assert run_full("seably_link_users", verbosity=0) == ("", "")

    def test_verbosity_1_prints_the_summary(self, unlinked, settings):
        settings.SEABLY = {"LINK_USERS": True}

        assert run_full("seably_link_users", "--batch-size", "2", verbosity=1)[0] == (
            "Linked 3 of 3 certificates without a user; 0 left unlinked (no user, or several users, with the "
            "learner's email).\n"
        )

    def test_verbosity_2_prints_a_line_per_batch(self, unlinked, settings):
        settings.SEABLY = {"LINK_USERS": True}

        out, _ = run_full("seably_link_users", "--batch-size", "2", verbosity=2)

        assert out.splitlines()[:2] == [
            f"Checked 2 certificates so far (up to id {unlinked[1].pk}), changed 2.",
            f"Checked 3 certificates so far (up to id {unlinked[2].pk}), changed 3.",
        ]
        assert out.splitlines()[2].startswith("Linked 3 of 3 certificates")
