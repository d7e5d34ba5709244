"""seably_status and the health check: the same numbers, thresholds and exit codes."""

from __future__ import annotations

import datetime
import io
import json
from typing import Any
from unittest import mock

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.utils import timezone

from django_seably.checks import check_settings
from django_seably.models import WebhookEvent
from django_seably.status import current_status, format_age
from tests.factories import EndpointFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command("seably_status", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def ago(**delta: float) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(**delta)


@pytest.fixture
def events() -> dict[str, Any]:
    """Two endpoints, one silent; events of every status, the waiting ones old."""
    production = EndpointFactory.create(name="production")
    EndpointFactory.create(name="staging", is_active=False)
    pending = WebhookEventFactory.create(endpoint=production, received_at=ago(minutes=95))
    WebhookEventFactory.create(endpoint=production, received_at=ago(minutes=5))
    failed = WebhookEventFactory.create(endpoint=production, failed=True, received_at=ago(days=2, hours=3))
    WebhookEventFactory.create(endpoint=production, failed=True, received_at=ago(hours=1))
    WebhookEventFactory.create(endpoint=production, processed=True, received_at=ago(seconds=10))
    return {"production": production, "pending": pending, "failed": failed}


def test_prints_counts_oldest_events_and_last_deliveries(events):
    production = events["production"]

    lines = run().splitlines()

    assert lines[0] == "Events by status: pending 2, processed 1, failed 2, invalid 0."
    assert lines[1].startswith(f"Oldest pending: #{events['pending'].pk}, received ")
    assert lines[1].endswith(" (1 h 35 min ago).")
    assert lines[2].startswith(f"Oldest failed: #{events['failed'].pk}, received ")
    assert lines[2].endswith(" (2 d 3 h ago).")
    assert lines[3] == "Last delivery per endpoint:"
    assert lines[4].startswith(f"  production  {production.masked_token}  active    2")
    assert lines[4].endswith(" (under a minute ago)")
    assert (
        lines[5] == f"  staging     {EndpointFactory._meta.model.objects.get(name='staging').masked_token}  inactive  "
        "no delivery yet (created under a minute ago)"
    )
    assert len(lines) == 6


def test_never_prints_a_full_token(events):
    output = run()

    for endpoint in EndpointFactory._meta.model.objects.all():
        assert endpoint.token not in output
        assert endpoint.masked_token in output


def test_an_empty_database():
    assert run() == (
        "Events by status: pending 0, processed 0, failed 0, invalid 0.\n"
        "Oldest pending: none.\n"
        "Oldest failed: none.\n"
        "Endpoints: none (create one with seably_endpoint create NAME).\n"
    )


def test_thresholds_not_crossed_say_ok(events):
    output = run("--max-pending-age", "120m", "--max-failed", "2")

    assert output.splitlines()[-1] == "OK: no threshold crossed."


def test_old_pending_event_exits_1(events):
    with pytest.raises(CommandError) as error:
        run("--max-pending-age", "90m")

    assert error.value.returncode == 1
    assert str(error.value) == (
        f"The oldest pending event (#{events['pending'].pk}) was received 1 h 35 min ago, "
        "more than 90m: are events being processed?"
    )


def test_too_many_failed_events_exits_1(events):
    with pytest.raises(CommandError) as error:
        run("--max-failed", "1")

    assert error.value.returncode == 1
    assert str(error.value) == (
        "2 failed events, more than 1: see their last_error, fix the cause, then seably_reprocess --failed."
    )


def test_both_thresholds_crossed_are_both_said(events):
    with pytest.raises(CommandError) as error:
        run("--max-pending-age", "1m", "--max-failed", "0")

    assert str(error.value).count("more than") == 2


def test_status_is_printed_before_the_thresholds_fail(events):
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("seably_status", "--max-failed", "0", stdout=out)

    assert out.getvalue().startswith("Events by status: pending 2, processed 1, failed 2, invalid 0.\n")


def test_no_pending_event_never_crosses_the_age(db):
    assert run("--max-pending-age", "0s").splitlines()[-1] == "OK: no threshold crossed."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-failed", "-1"], "--max-failed must be 0 or more."),
    ],
)
def test_negative_thresholds_are_usage_errors(db, args, message):
    with pytest.raises(CommandError) as error:
        run(*args)

    assert (str(error.value), error.value.returncode) == (message, 2)


def test_an_unreachable_database_cannot_be_checked(db):
    with (
        mock.patch("django_seably.status.WebhookEvent.objects.order_by", side_effect=OperationalError("server closed")),
        pytest.raises(CommandError) as error,
    ):
        run("--max-failed", "0")

    assert (str(error.value), error.value.returncode) == ("The events cannot be read: server closed", 2)


def test_a_threshold_that_is_no_number(db):
    with pytest.raises(CommandError) as error:
        run("--max-failed", "ten")

    assert str(error.value) == "Error: argument --max-failed: invalid int value: 'ten'"


def test_the_numbers_take_four_queries_whatever_the_endpoints(events, django_assert_num_queries):
    for _ in range(5):
        WebhookEventFactory.create(endpoint=EndpointFactory.create())

    with django_assert_num_queries(4):
        status = current_status()

    assert len(status.endpoints) == 7


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (datetime.timedelta(seconds=59), "under a minute"),
        (datetime.timedelta(minutes=1), "1 min"),
        (datetime.timedelta(minutes=59, seconds=59), "59 min"),
        (datetime.timedelta(hours=2), "2 h"),
        (datetime.timedelta(hours=23, minutes=59), "23 h 59 min"),
        (datetime.timedelta(days=1), "1 d"),
        (datetime.timedelta(days=400, hours=5, minutes=3), "400 d 5 h"),
    ],
)
def test_format_age(delta, text):
    assert format_age(delta) == text


class TestHealthCheck:
    @pytest.fixture(autouse=True)
    def _needs_health_check(self) -> None:
        pytest.importorskip("health_check", reason='needs django-health-check ("health" extra)')

    def run_check(self, **options: Any) -> None:
        from django_seably.health import SeablyHealthCheck

        SeablyHealthCheck(**options).run()

    def test_silence_from_the_setting(self, settings):
        from health_check.exceptions import ServiceUnavailable

        quiet = EndpointFactory.create(name="quiet")
        WebhookEventFactory.create(endpoint=quiet, received_at=ago(hours=30), processed=True)
        settings.SEABLY = {"HEALTH_MAX_SILENCE": datetime.timedelta(days=2)}
        self.run_check()

        settings.SEABLY = {"HEALTH_MAX_SILENCE": datetime.timedelta(days=1)}
        with pytest.raises(ServiceUnavailable) as error:
            self.run_check()
        assert str(error.value) == (
            "Unavailable: Endpoint 'quiet' has received nothing for 1 d 6 h, more than 1d: "
            "is its URL still registered on Seably's Integrations page?"
        )

    def test_silence_as_an_option(self, db):
        from health_check.exceptions import ServiceUnavailable

        endpoint_created("new", ago(hours=2))
        self.run_check(max_silence=datetime.timedelta(hours=3))
        with pytest.raises(ServiceUnavailable, match="Endpoint 'new' has received nothing since it was created"):
            self.run_check(max_silence=datetime.timedelta(hours=1))

    @pytest.mark.parametrize("option", ["max_pending_age", "max_silence"])
    def test_a_duration_option_without_its_unit_is_refused(self, option):
        with pytest.raises(TypeError) as error:
            self.run_check(**{option: 60})

        assert str(error.value) == (
            f"SeablyHealthCheck's {option} must be a datetime.timedelta or None, not 60: e.g. timedelta(minutes=30)."
        )

    def test_healthy(self, db):
        """Fresh events under every threshold pass; the same events fail once a threshold is below them."""
        from health_check.exceptions import ServiceUnavailable

        WebhookEventFactory.create(received_at=ago(minutes=5))
        WebhookEventFactory.create(failed=True)

        self.run_check(max_failed=1, max_silence=datetime.timedelta(hours=1))  # raises nothing
        with pytest.raises(ServiceUnavailable):
            self.run_check(max_pending_age=datetime.timedelta(minutes=1))

    def test_a_pending_event_older_than_the_setting_default_of_60_minutes(self, events):
        from health_check.exceptions import ServiceUnavailable

        with pytest.raises(ServiceUnavailable) as error:
            self.run_check()

        assert str(error.value) == (
            f"Unavailable: The oldest pending event (#{events['pending'].pk}) was received 1 h 35 min ago, "
            "more than 1h: are events being processed?"
        )

    def test_settings_give_the_thresholds(self, events, settings):
        from health_check.exceptions import ServiceUnavailable

        settings.SEABLY = {"HEALTH_MAX_PENDING_AGE": None, "HEALTH_MAX_FAILED": 2}
        self.run_check()

        settings.SEABLY = {"HEALTH_MAX_PENDING_AGE": None, "HEALTH_MAX_FAILED": 1}
        with pytest.raises(ServiceUnavailable) as error:
            self.run_check()
        assert str(error.value) == (
            "Unavailable: 2 failed events, more than 1: see their last_error, fix the cause, "
            "then seably_reprocess --failed."
        )

    def test_options_override_the_settings(self, events):
        self.run_check(max_pending_age=datetime.timedelta(minutes=120), max_failed=5)

    @pytest.mark.django_db(transaction=True)
    @pytest.mark.parametrize(
        ("max_pending_age", "status_code", "result"),
        [
            (datetime.timedelta(minutes=120), 200, "OK"),
            (
                datetime.timedelta(minutes=60),
                500,
                "Unavailable: The oldest pending event (#{pk}) was received 1 h 35 min ago, more than 1h",
            ),
        ],
    )
    def test_through_the_view(self, rf, max_pending_age, status_code, result):
        """The view runs synchronous checks in threads: committed rows (transaction=True), each its own connection."""
        import asyncio

        from health_check.views import HealthCheckView

        pending = WebhookEventFactory.create(received_at=ago(minutes=95))
        view = HealthCheckView.as_view(
            checks=[("django_seably.health.SeablyHealthCheck", {"max_pending_age": max_pending_age})]
        )

        response = asyncio.run(view(rf.get("/health/", HTTP_ACCEPT="application/json")))

        assert response.status_code == status_code
        (text,) = json.loads(response.content).values()
        assert text.startswith(result.format(pk=pending.pk))


@pytest.mark.postgres  # Django never closes an in-memory SQLite database's connection
@pytest.mark.django_db(transaction=True)
def test_the_health_check_closes_a_connection_it_opened_in_a_worker_thread():
    pytest.importorskip("health_check", reason='needs django-health-check ("health" extra)')
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    from django_seably.health import SeablyHealthCheck

    def check_then_say_if_closed() -> bool:
        SeablyHealthCheck().run()
        return connection.connection is None

    with ThreadPoolExecutor(1) as executor:
        assert executor.submit(check_then_say_if_closed).result() is True


class TestHealthSettingsChecks:
    @pytest.mark.parametrize("key,check_id", [("HEALTH_MAX_PENDING_AGE", "E031"), ("HEALTH_MAX_SILENCE", "E034")])
    @pytest.mark.parametrize("value", [-1, "10m", 1.5, True, datetime.timedelta(seconds=-1), 30])
    def test_durations_must_be_timedeltas(self, settings, key, check_id, value):
        settings.SEABLY = {key: value}

        (error,) = check_settings()

        assert (error.id, error.level) == (f"django_seably.{check_id}", checks.ERROR)
        assert error.msg == f'SEABLY["{key}"] must be None or a datetime.timedelta of 0 or more, not {value!r}.'
        assert str(error.hint).startswith(f'A duration carries its unit: e.g. "{key}": datetime.timedelta(')

    def test_a_number_of_minutes_gets_its_timedelta_in_the_hint(self, settings):
        """HEALTH_MAX_PENDING_AGE was minutes before durations carried their unit: the hint says what to write."""
        settings.SEABLY = {"HEALTH_MAX_PENDING_AGE": 30}

        (error,) = check_settings()

        assert (
            error.hint == 'A duration carries its unit: e.g. "HEALTH_MAX_PENDING_AGE": datetime.timedelta(minutes=30).'
        )

    @pytest.mark.parametrize("value", [-1, "10", 1.5, True, False])
    def test_max_failed_must_be_a_count(self, settings, value):
        settings.SEABLY = {"HEALTH_MAX_FAILED": value}

        (error,) = check_settings()

        assert (error.id, error.level) == ("django_seably.E032", checks.ERROR)
        assert (
            error.msg
            == f'SEABLY["HEALTH_MAX_FAILED"] must be None or an int of 0 or more (failed events), not {value!r}.'
        )

    @pytest.mark.parametrize(
        "value", [None, datetime.timedelta(0), datetime.timedelta(minutes=30), datetime.timedelta(days=2)]
    )
    def test_good_durations(self, settings, value):
        settings.SEABLY = {"HEALTH_MAX_PENDING_AGE": value, "HEALTH_MAX_SILENCE": value, "HEALTH_MAX_FAILED": 0}

        assert check_settings() == []

    def test_the_defaults(self):
        from django_seably.conf import seably_settings

        assert datetime.timedelta(hours=1) == seably_settings.HEALTH_MAX_PENDING_AGE
        assert seably_settings.HEALTH_MAX_SILENCE is None


# --- silence ------------------------------------------------------------------------------------------


def endpoint_created(name: str, created_at: datetime.datetime, **fields: Any) -> Any:
    """An endpoint created at ``created_at`` (auto_now_add sets it on insert: set it afterwards)."""
    endpoint = EndpointFactory.create(name=name, **fields)
    type(endpoint).objects.filter(pk=endpoint.pk).update(created_at=created_at)
    endpoint.refresh_from_db()
    return endpoint


@pytest.fixture
def silent() -> dict[str, Any]:
    """An endpoint silent for 3 days, one that never received (created 2 days ago), a lively one, an inactive one."""
    quiet = endpoint_created("quiet", ago(days=30))
    WebhookEventFactory.create(endpoint=quiet, received_at=ago(days=3))
    never = endpoint_created("never", ago(days=2))
    lively = endpoint_created("lively", ago(days=30))
    WebhookEventFactory.create(endpoint=lively, received_at=ago(minutes=10))
    off = endpoint_created("off", ago(days=300), is_active=False)
    return {"quiet": quiet, "never": never, "lively": lively, "off": off}


def test_max_silence_names_each_silent_active_endpoint(silent):
    with pytest.raises(CommandError) as error:
        run("--max-silence", "1d")

    assert error.value.returncode == 1
    assert str(error.value) == (
        "Endpoint 'never' has received nothing since it was created, 2 d ago, more than 1d: "
        "is its URL still registered on Seably's Integrations page? "
        "Endpoint 'quiet' has received nothing for 3 d, more than 1d: "
        "is its URL still registered on Seably's Integrations page?"
    )
    assert "off" not in str(error.value)  # an inactive endpoint is expected to be silent


@pytest.mark.parametrize(("threshold", "crossed"), [("4d", []), ("60h", ["quiet"]), ("47h", ["never", "quiet"])])
def test_max_silence_thresholds(silent, threshold, crossed):
    if not crossed:
        assert run("--max-silence", threshold).splitlines()[-1] == "OK: no threshold crossed."
        return
    with pytest.raises(CommandError) as error:
        run("--max-silence", threshold)
    assert [name for name in ("lively", "never", "off", "quiet") if f"Endpoint '{name}'" in str(error.value)] == crossed


def test_silence_is_one_function_for_every_caller(silent):
    """status.endpoint_activity() is what seably_status, the health check and the admin overview read."""
    from django_seably.status import endpoint_activity, silence

    now = timezone.now()
    activity = {endpoint.name: endpoint for endpoint in endpoint_activity(now)}

    assert list(activity) == ["lively", "never", "off", "quiet"]
    assert activity["never"].last_received_at is None
    assert activity["never"].silence == now - silent["never"].created_at
    quiet_last = activity["quiet"].last_received_at
    assert quiet_last is not None
    assert activity["quiet"].silence == now - quiet_last
    assert activity["lively"].silence < datetime.timedelta(minutes=11)
    assert silence(None, now, now) == datetime.timedelta(0)
    assert silence(now + datetime.timedelta(minutes=1), now, now) == datetime.timedelta(0)  # a clock ahead


def test_the_never_received_endpoint_shows_its_age(silent):
    lines = run().splitlines()

    (never,) = [line for line in lines if line.startswith("  never")]
    assert never.endswith("  active    no delivery yet (created 2 d ago)")


@pytest.mark.parametrize("flag", ["--max-pending-age", "--max-silence"])
@pytest.mark.parametrize("value", ["30", "-1m", "1.5h", "30 m", "thirty"])
def test_durations_without_a_unit_are_usage_errors(db, flag, value):
    with pytest.raises(CommandError) as error:
        run(f"{flag}={value}")

    assert str(error.value) == (
        f"Error: argument {flag}: {value!r} is not a duration: write a whole number followed by "
        "s (seconds), m (minutes), h (hours) or d (days), e.g. 30s, 10m, 2h, 90d."
    )


def test_a_bad_duration_exits_2_from_the_command_line(db):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "django", "seably_status", "--max-silence", "30"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        check=False,
    )

    assert result.returncode == 2
    assert "'30' is not a duration" in result.stderr
    assert result.stdout == ""


# --- verbosity ---------------------------------------------------------------------------------------------------


def test_verbosity_0_prints_nothing_unless_a_threshold_is_crossed(events):
    out, err = io.StringIO(), io.StringIO()
    call_command("seably_status", "--max-failed", "5", verbosity=0, stdout=out, stderr=err)
    assert (out.getvalue(), err.getvalue()) == ("", "")

    with pytest.raises(CommandError) as error:
        call_command("seably_status", "--max-failed", "0", verbosity=0, stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert error.value.returncode == 1


@pytest.mark.parametrize("verbosity", [1, 2])
def test_verbosity_1_and_2_print_the_report(events, verbosity):
    out = io.StringIO()
    call_command("seably_status", verbosity=verbosity, stdout=out)

    assert out.getvalue() == run()
    assert out.getvalue().startswith("Events by status: ")


def test_status_counts_every_status(db):
    assert list(current_status().counts) == list(WebhookEvent.Status.values)
