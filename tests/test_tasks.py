"""Tasks mode with the tasks framework's own backends (immediate, dummy), and the checks for its configuration.

The framework is ``django.tasks`` on Django 6 and the ``django-tasks`` backport on
5.2; every backend path here is that framework's. Real workers and a database
backend are in tests/test_workers.py (PostgreSQL).
"""

from __future__ import annotations

import datetime
import importlib
import io
import logging
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils.module_loading import import_string

from django_seably import tasks
from django_seably.checks import check_settings
from django_seably.models import Certificate, WebhookEvent
from django_seably.signals import webhook_received
from tests.factories import WebhookEventFactory, certificate_body
from tests.servers import REPO_ROOT

assert tasks.framework is not None, "the test venvs have a tasks framework (django.tasks or django-tasks)"
FRAMEWORK = tasks.framework.__name__
IMMEDIATE = f"{FRAMEWORK}.backends.immediate.ImmediateBackend"
DUMMY = f"{FRAMEWORK}.backends.dummy.DummyBackend"
DummyBackend: Any = importlib.import_module(f"{FRAMEWORK}.backends.dummy").DummyBackend

TASKS_MODE = {"PROCESSING": "tasks"}


class BrokenBackend(DummyBackend):  # type: ignore[misc]  # imported by name: django.tasks or django_tasks
    """A backend whose queue is down: enqueueing raises."""

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        raise ConnectionError("the queue is down")


BROKEN = f"{__name__}.BrokenBackend"


def dummy_results() -> list[Any]:
    assert tasks.framework is not None
    return list(tasks.framework.task_backends["default"].results)


@pytest.fixture
def failing_received():
    """A webhook_received receiver that raises."""

    def receiver(sender: Any, event: Any, **kwargs: Any) -> None:
        raise RuntimeError("receiver exploded")

    webhook_received.connect(receiver, weak=False)
    yield
    webhook_received.disconnect(receiver)


class TestChecks:
    def test_the_frameworks_default_backend_runs_the_task(self, settings):
        settings.SEABLY = TASKS_MODE

        assert check_settings() == []

    @pytest.mark.parametrize("backend", [IMMEDIATE, "django_tasks_db.DatabaseBackend"])
    def test_a_backend_that_runs_tasks_is_fine(self, settings, backend):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": backend}}

        assert check_settings() == []

    def test_no_default_backend_is_e008(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"other": {"BACKEND": IMMEDIATE}}

        (error,) = check_settings()

        assert (error.id, error.level) == ("django_seably.E008", checks.ERROR)
        assert error.msg == (
            'SEABLY["PROCESSING"] is "tasks" but the task backend "default" is not usable: '
            "The connection 'default' doesn't exist."
        )
        assert error.hint == (
            'Configure TASKS["default"] with a backend that has workers and run them '
            '(docs/deploying.md, "Processing in tasks"), or set PROCESSING to "inline".'
        )

    def test_a_backend_that_cannot_be_imported_is_e008(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": "nowhere.QueueBackend"}}

        (error,) = check_settings()

        assert error.id == "django_seably.E008"
        assert "Could not find backend 'nowhere.QueueBackend'" in error.msg

    def test_a_backend_without_our_queue_is_e009(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": IMMEDIATE, "QUEUES": ["emails"]}}

        (error,) = check_settings()

        assert (error.id, error.level) == ("django_seably.E009", checks.ERROR)
        assert error.msg == (
            'SEABLY["PROCESSING"] is "tasks" but the task backend "default" (ImmediateBackend) cannot run '
            "django_seably's task: Queue 'default' is not valid for backend."
        )
        assert error.hint == (
            'The task is a synchronous module-level function with the default priority on the queue "default": '
            'add "default" to TASKS["default"]["QUEUES"] (or leave QUEUES out).'
        )

    @pytest.mark.parametrize("backend", [DUMMY, BROKEN])
    def test_the_dummy_backend_is_w010(self, settings, backend):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": backend}}

        (warning,) = check_settings()

        assert (warning.id, warning.level) == ("django_seably.W010", checks.WARNING)
        assert warning.msg == (
            'SEABLY["PROCESSING"] is "tasks" but the task backend "default" is the DummyBackend, '
            "which stores tasks and never runs them: events stay pending."
        )

    @pytest.mark.django_db  # Django 6's check command also runs the database checks
    def test_a_warning_does_not_stop_manage_py_but_an_error_does(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": DUMMY}}
        call_command("check")

        settings.TASKS = {}
        with pytest.raises(SystemCheckError, match=r"django_seably\.E008"):
            call_command("check")

    def test_inline_mode_does_not_look_at_tasks(self, settings):
        settings.SEABLY = {"PROCESSING": "inline"}
        settings.TASKS = {}

        assert check_settings() == []

    @pytest.mark.parametrize(
        ("tasks_setting", "expected"),
        [
            (
                "{}",
                'django_seably.E008 SEABLY["PROCESSING"] is "tasks" but the task backend "default" is not usable: '
                "The connection 'default' doesn't exist.",
            ),
            (
                f"{{'default': {{'BACKEND': {IMMEDIATE!r}, 'QUEUES': ['emails']}}}}",
                'django_seably.E009 SEABLY["PROCESSING"] is "tasks" but the task backend "default" '
                "(ImmediateBackend) cannot run django_seably's task: Queue 'default' is not valid for backend.",
            ),
        ],
    )
    def test_a_bad_configuration_at_import_is_a_check_error_not_a_crash(self, tasks_setting, expected):
        """In a fresh process, as `manage.py check` meets it: the module imports, the check says what is wrong."""
        result = run_python(
            f"settings.TASKS = {tasks_setting}\n"
            "settings.SEABLY = {'PROCESSING': 'tasks'}\n"
            "import django\n"
            "django.setup()\n"
            "from django_seably import tasks\n"
            "from django_seably.checks import check_settings\n"
            "print('task:', tasks.process_event_task.module_path)\n"
            "for message in check_settings():\n"
            "    print(message.id, message.msg)\n"
        )

        assert result.stdout.splitlines() == ["task: django_seably.tasks.process_event_task", expected]

    def test_no_tasks_framework_is_e007(self):
        """Django 5.2 without the backport: the task's module cannot import, the check says what to install."""
        result = run_python(
            "import sys\n"
            "sys.modules['django.tasks'] = sys.modules['django_tasks'] = None  # neither framework\n"
            "settings.SEABLY = {'PROCESSING': 'tasks'}\n"
            "import django\n"
            "django.setup()\n"
            "from django_seably.checks import check_settings\n"
            "for message in check_settings():\n"
            "    print(message.id, message.msg, message.hint)\n"
        )

        assert result.stdout.splitlines() == [
            'django_seably.E007 SEABLY["PROCESSING"] is "tasks" but no tasks framework is installed. '
            'Use Django 6, or install django-tasks (pip install "django-seably[tasks]"), '
            'or set PROCESSING to "inline".'
        ]

    def test_without_a_tasks_framework_a_delivery_is_stored_and_answered_2xx(self):
        """E007 stops `check`, but a server started anyway still answers Seably 2xx and keeps the event pending."""
        result = run_python(
            "import sys\n"
            "sys.modules['django.tasks'] = sys.modules['django_tasks'] = None  # neither framework\n"
            "settings.SEABLY = {'PROCESSING': 'tasks'}\n"
            "settings.DATABASES['default']['NAME'] = ':memory:'\n"
            "import django\n"
            "django.setup()\n"
            "from django.core.management import call_command\n"
            "call_command('migrate', verbosity=0)\n"
            "from django_seably.models import WebhookEvent\n"
            "from django_seably.testing import certificate_body, deliver\n"
            "response = deliver(certificate_body('SB-1'))\n"
            "print(response.status_code, response.json()['status'], WebhookEvent.objects.get().status)\n"
        )

        assert result.stdout.splitlines() == ["200 accepted pending"]
        assert "No tasks framework to enqueue Seably event 1 (system check django_seably.E007)" in result.stderr


def test_the_app_names_no_task_backend_but_the_frameworks_own():
    """The app speaks only the tasks framework: no backend, broker or worker of its own choosing in its code."""
    package = REPO_ROOT / "django_seably"
    named = re.compile(r"django_tasks_db|django_tasks_rq|django_rq|\brq\b|celery|redis|db_worker", re.IGNORECASE)
    hits = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if named.search(line)
    ]

    assert hits == []


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh process on tests.settings (``settings`` imported, Django not set up yet)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("SEABLY_TEST_DB", None)
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings\n" + script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.django_db
class TestImmediateBackend:
    """The framework's immediate backend: the task runs right after the commit, in the request."""

    @pytest.fixture(autouse=True)
    def _immediate(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}

    def test_the_event_is_processed_exactly_as_inline(self, seably_deliver, received, created):
        response = seably_deliver(certificate_body("SB-1", learner_email="a@example.com"))

        assert (response.status_code, response.json()["status"]) == (200, "accepted")
        event = WebhookEvent.objects.get()
        assert (event.status, event.attempts, event.last_error) == ("processed", 1, "")
        assert event.processed_at is not None
        certificate = Certificate.objects.get()
        assert (certificate.seably_id, certificate.learner_email, certificate.event_id) == (
            "SB-1",
            "a@example.com",
            event.pk,
        )
        assert received.call_count == created.call_count == 1
        assert created.call_args.kwargs["certificate"].pk == certificate.pk

    def test_a_receiver_that_raises_fails_the_event_and_seably_still_gets_2xx(self, seably_deliver, failing_received):
        response = seably_deliver(certificate_body("SB-1"))

        assert (response.status_code, response.json()["status"]) == (200, "accepted")
        event = WebhookEvent.objects.get()
        assert (event.status, event.attempts) == ("failed", 1)
        assert "receiver exploded" in event.last_error
        assert not Certificate.objects.exists()

    def test_a_duplicate_runs_no_task(self, seably_deliver, received):
        seably_deliver(certificate_body("SB-1"))
        response = seably_deliver(certificate_body("SB-1"))

        assert response.json()["status"] == "duplicate"
        assert received.call_count == 1
        assert WebhookEvent.objects.get().delivery_count == 2


@pytest.mark.django_db
class TestQueuedTask:
    """The framework's dummy backend keeps what was enqueued: run it by hand, as a worker would."""

    @pytest.fixture(autouse=True)
    def _dummy(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": DUMMY}}

    def test_one_task_per_event_after_the_commit(self, seably_deliver, received):
        response = seably_deliver(certificate_body("SB-1"))

        event = WebhookEvent.objects.get()
        assert response.json() == {"status": "accepted", "event_id": event.pk}
        assert (event.status, event.attempts) == ("pending", 0)
        (result,) = dummy_results()
        assert result.task.module_path == "django_seably.tasks.process_event_task"
        assert (list(result.args), result.kwargs) == ([event.pk], {})
        assert received.call_count == 0

    def test_a_worker_finds_the_task_by_its_path(self):
        assert tasks.process_event_task is not None
        assert import_string(tasks.process_event_task.module_path) is tasks.process_event_task

    def test_running_the_task_twice_processes_the_event_once(self, seably_deliver, received, created):
        seably_deliver(certificate_body("SB-1"))
        (result,) = dummy_results()

        assert result.task.call(*result.args) == "processed"
        assert result.task.call(*result.args) == "skipped"

        event = WebhookEvent.objects.get()
        assert (event.status, event.attempts) == ("processed", 1)
        assert received.call_count == created.call_count == 1

    def test_the_task_leaves_a_failed_event_to_the_operator(self, received):
        event = WebhookEventFactory.create(failed=True)

        assert tasks.process_event_by_id(event.pk) == "skipped"

        event.refresh_from_db()
        assert (event.status, event.attempts) == ("failed", 1)
        assert received.call_count == 0

    @pytest.mark.parametrize("status", ["processed", "invalid"])
    def test_the_task_skips_an_event_with_nothing_to_do(self, status, received):
        event = WebhookEventFactory.create(status=status)

        assert tasks.process_event_by_id(event.pk) == "skipped"
        assert received.call_count == 0

    def test_the_task_skips_an_event_that_is_gone(self):
        assert tasks.process_event_by_id(10**9) == "skipped"


@pytest.mark.django_db
class TestEnqueueFailure:
    @pytest.fixture(autouse=True)
    def _broken(self, settings):
        settings.SEABLY = TASKS_MODE
        settings.TASKS = {"default": {"BACKEND": BROKEN}}

    def test_the_event_stays_pending_until_the_sweep(self, seably_deliver, received, caplog):
        with caplog.at_level(logging.ERROR, logger="django_seably.tasks"):
            response = seably_deliver(certificate_body("SB-1"))

        assert (response.status_code, response.json()["status"]) == (200, "accepted")
        event = WebhookEvent.objects.get()
        assert event.status == "pending"
        (record,) = caplog.records
        assert record.getMessage() == (
            f"Could not enqueue Seably event {event.pk}; it stays pending for `seably_reprocess --pending`."
        )
        assert "the queue is down" in caplog.text

        # The cron line leaves recent events alone: a worker may be about to run them.
        call_command("seably_reprocess", "--pending", "--older-than", "10m", stdout=io.StringIO())
        assert WebhookEvent.objects.get().status == "pending"
        WebhookEvent.objects.update(received_at=event.received_at - datetime.timedelta(minutes=11))
        call_command("seably_reprocess", "--pending", "--older-than", "10m", stdout=io.StringIO())

        event.refresh_from_db()
        assert (event.status, event.attempts) == ("processed", 1)
        assert Certificate.objects.get().event_id == event.pk
        assert received.call_count == 1

    @pytest.mark.parametrize(
        ("tasks_setting", "reason"),
        [
            ({}, "The connection 'default' doesn't exist."),
            ({"default": {"BACKEND": IMMEDIATE, "QUEUES": ["emails"]}}, "Queue 'default' is not valid for backend."),
        ],
    )
    def test_a_task_the_backend_cannot_take_is_logged_once_and_the_event_waits(
        self, settings, seably_deliver, seably_endpoint, received, caplog, tasks_setting, reason
    ):
        settings.TASKS = tasks_setting

        with caplog.at_level(logging.DEBUG):
            response = seably_deliver(certificate_body("SB-1"))

        assert (response.status_code, response.json()["status"]) == (200, "accepted")
        event = WebhookEvent.objects.get()
        assert (event.status, event.attempts) == ("pending", 0)
        assert received.call_count == 0
        (record,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
        assert (record.name, record.levelno) == ("django_seably.tasks", logging.ERROR)
        assert record.getMessage() == (
            f"Could not enqueue Seably event {event.pk}; it stays pending for `seably_reprocess --pending`."
        )
        assert reason in caplog.text
        assert seably_endpoint.token not in caplog.text
