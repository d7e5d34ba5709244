"""django_seably.testing and its pytest plugin, used as an integrator would."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import TestCase

from django_seably import pytest_plugin
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.signals import certificate_created
from django_seably.testing import certificate_body, create_endpoint, deliver

pytestmark = pytest.mark.django_db


class TestCertificateBody:
    def test_is_a_certificate_created_body(self):
        body = certificate_body("SB-00000001")

        assert body["event"] == "certificate.created"
        assert body["payload"]["data"]["type"] == "certificate"
        assert body["payload"]["data"]["id"] == "SB-00000001"

    def test_each_call_without_an_id_is_a_new_certificate(self):
        ids = {certificate_body()["payload"]["data"]["id"] for _ in range(100)}

        assert len(ids) == 100
        assert all(seably_id.startswith("SB-") and len(seably_id) == 15 for seably_id in ids)

    def test_the_same_arguments_give_the_same_body_so_a_resend_is_a_duplicate(self, seably_deliver):
        assert certificate_body("SB-00000001", score=1) == certificate_body("SB-00000001", score=1)

        first = seably_deliver(certificate_body("SB-00000001")).json()
        again = seably_deliver(certificate_body("SB-00000001")).json()

        assert again == {"status": "duplicate", "event_id": first["event_id"]}

    def test_every_column_fills_with_the_default_mapping(self, seably_deliver):
        seably_deliver(certificate_body("SB-00000001"))

        certificate = Certificate.objects.get()
        assert certificate.learner_email == "learner@example.com"
        assert certificate.learner_name == "Test Learner"
        assert certificate.course_name == "Enclosed Space Entry"
        assert certificate.issued_at is not None
        assert certificate.expires_on is not None
        assert certificate.expires_on > certificate.issued_at.date()
        assert certificate.url == "https://www.seably.com/certificates/SB-00000001.pdf"

    def test_fields_set_the_attributes_the_columns_are_read_from(self, seably_deliver):
        seably_deliver(
            certificate_body(
                learner_email="ann@example.com",
                learner_name="Ann Lee",
                course_title="Fire Fighting",
                issued_at="2026-01-02T03:04:05Z",
                expires_at="2027-01-02",
                certificate_url="https://example.com/c.pdf",
                score=92,
            )
        )

        certificate = Certificate.objects.get()
        assert (certificate.learner_email, certificate.learner_name, certificate.course_name) == (
            "ann@example.com",
            "Ann Lee",
            "Fire Fighting",
        )
        assert certificate.issued_at == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
        assert certificate.expires_on == datetime.date(2027, 1, 2)
        assert certificate.url == "https://example.com/c.pdf"
        assert certificate.data["attributes"]["score"] == 92

    def test_column_names_set_the_attributes_they_are_read_from(self, seably_deliver):
        seably_deliver(certificate_body(course_name="Fire Fighting", expires_on="2027-01-02", url="https://e.x/c"))

        certificate = Certificate.objects.get()
        assert (certificate.course_name, certificate.expires_on, certificate.url) == (
            "Fire Fighting",
            datetime.date(2027, 1, 2),
            "https://e.x/c",
        )
        assert set(certificate.data["attributes"]) >= {"course_title", "expires_at", "certificate_url"}
        assert not {"course_name", "expires_on", "url"} & set(certificate.data["attributes"])

    def test_none_empties_a_column(self, seably_deliver):
        seably_deliver(certificate_body(expires_at=None, learner_email=None))

        certificate = Certificate.objects.get()
        assert (certificate.expires_on, certificate.learner_email) == (None, "")

    def test_each_call_returns_a_fresh_dict(self):
        first = certificate_body("SB-1")
        first["payload"]["data"]["attributes"]["learner_email"] = "changed@example.com"

        assert certificate_body("SB-1")["payload"]["data"]["attributes"]["learner_email"] == "learner@example.com"


class TestDeliver:
    def test_accepts_a_dict_and_processes_it(self, seably_endpoint):
        response = deliver(certificate_body("SB-1"), endpoint=seably_endpoint)

        event = WebhookEvent.objects.get()
        assert response.status_code == 200
        assert response.json() == {"status": "accepted", "event_id": event.pk}
        assert (event.endpoint, event.status) == (seably_endpoint, "processed")
        assert Certificate.objects.get().seably_id == "SB-1"

    def test_sends_str_and_bytes_exactly(self, seably_endpoint):
        text = '{"event": "user.invited",   "payload": {}}'

        deliver(text, endpoint=seably_endpoint)
        deliver(b'{"event": "user.removed"}', endpoint=seably_endpoint)

        assert list(WebhookEvent.objects.order_by("pk").values_list("body", flat=True)) == [
            text,
            '{"event": "user.removed"}',
        ]

    def test_an_invalid_body_is_answered_400_and_kept(self, seably_endpoint):
        response = deliver(b"not json", endpoint=seably_endpoint)

        assert response.status_code == 400
        assert WebhookEvent.objects.get().status == "invalid"

    def test_the_same_body_again_is_a_duplicate(self, seably_deliver):
        body = certificate_body()

        first = seably_deliver(body).json()
        second = seably_deliver(body).json()

        assert second == {"status": "duplicate", "event_id": first["event_id"]}

    def test_creates_an_active_endpoint_when_none_is_given(self):
        response = deliver(certificate_body())

        endpoint = Endpoint.objects.get()
        assert endpoint.is_active
        assert WebhookEvent.objects.get(pk=response.json()["event_id"]).endpoint == endpoint

    def test_an_inactive_endpoint_answers_404(self, seably_endpoint):
        Endpoint.objects.filter(pk=seably_endpoint.pk).update(is_active=False)

        assert deliver(certificate_body(), endpoint=seably_endpoint).status_code == 404
        assert not WebhookEvent.objects.exists()

    def test_sends_headers(self, seably_deliver):
        seably_deliver(certificate_body(), headers={"User-Agent": "Seably/1.0"})

        assert WebhookEvent.objects.get().headers["User-Agent"] == "Seably/1.0"

    def test_seably_deliver_can_post_to_another_endpoint(self, seably_deliver):
        other = create_endpoint("other")

        seably_deliver(certificate_body(), endpoint=other)

        assert WebhookEvent.objects.get().endpoint == other

    def test_on_commit_callbacks_of_receivers_run(self, seably_deliver):
        committed: list[str] = []

        def receiver(sender: Any, certificate: Certificate, **kwargs: Any) -> None:
            transaction.on_commit(lambda: committed.append(certificate.seably_id))

        certificate_created.connect(receiver, weak=False)
        try:
            seably_deliver(certificate_body("SB-1"))
        finally:
            certificate_created.disconnect(receiver)

        assert committed == ["SB-1"]

    def test_a_raising_on_commit_callback_raises_out_of_deliver(self, seably_deliver):
        def receiver(sender: Any, certificate: Certificate, **kwargs: Any) -> None:
            transaction.on_commit(lambda: 1 / 0)

        certificate_created.connect(receiver, weak=False)
        try:
            with pytest.raises(ZeroDivisionError):
                seably_deliver(certificate_body("SB-1"))
        finally:
            certificate_created.disconnect(receiver)

        assert WebhookEvent.objects.get().status == "processed"

    def test_tasks_mode_with_the_immediate_backend_processes_during_deliver(self, seably_deliver, settings):
        from django_seably import tasks

        assert tasks.framework is not None
        settings.SEABLY = {"PROCESSING": "tasks"}
        settings.TASKS = {"default": {"BACKEND": f"{tasks.framework.__name__}.backends.immediate.ImmediateBackend"}}

        seably_deliver(certificate_body("SB-1"))

        assert WebhookEvent.objects.get().status == "processed"
        assert Certificate.objects.get().seably_id == "SB-1"

    @pytest.mark.django_db(transaction=True)
    def test_works_in_a_transactional_test(self, seably_deliver):
        committed: list[str] = []

        def receiver(sender: Any, certificate: Certificate, **kwargs: Any) -> None:
            transaction.on_commit(lambda: committed.append(certificate.seably_id))

        certificate_created.connect(receiver, weak=False)
        try:
            response = seably_deliver(certificate_body("SB-1"))
        finally:
            certificate_created.disconnect(receiver)

        assert response.status_code == 200
        assert committed == ["SB-1"]
        assert WebhookEvent.objects.get().status == "processed"


#: What _notify_the_learner sent, once committed.
notified: list[str] = []


def _notify_the_learner(sender: Any, certificate: Certificate, **kwargs: Any) -> None:
    transaction.on_commit(lambda: notified.append(certificate.learner_email))


class DeliverInATestCase(TestCase):
    """Django's TestCase: its transaction never commits, yet deliver() runs the on_commit callbacks."""

    def setUp(self) -> None:
        notified.clear()
        certificate_created.connect(_notify_the_learner)
        self.addCleanup(certificate_created.disconnect, _notify_the_learner)

    def test_deliver_processes_and_runs_on_commit_callbacks(self) -> None:
        response = deliver(certificate_body(learner_email="ann@example.com"))

        self.assertEqual(response.status_code, 200)
        self.assertEqual(Certificate.objects.get().learner_email, "ann@example.com")
        self.assertEqual(notified, ["ann@example.com"])

    def test_deliver_to_a_given_endpoint(self) -> None:
        endpoint = create_endpoint("crew")

        deliver(certificate_body(), endpoint=endpoint)
        deliver(certificate_body(), endpoint=endpoint)

        self.assertEqual(WebhookEvent.objects.filter(endpoint=endpoint).count(), 2)
        self.assertEqual(len(notified), 2)


def test_importing_the_plugin_needs_no_configured_django():
    """pytest imports plugins before pytest-django configures Django: no model may be imported then."""
    code = (
        "import sys, django_seably.pytest_plugin, django_seably.testing\n"
        "from django.conf import settings\n"
        "assert not settings.configured\n"
        "assert 'django_seably.models' not in sys.modules, 'models imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_the_package_registers_the_plugin():
    entry_points = importlib.metadata.entry_points(group="pytest11")
    ours = [ep for ep in entry_points if ep.value == "django_seably.pytest_plugin"]
    if not ours:
        pytest.skip("the installed django-seably metadata predates the pytest11 entry point: pip install -e . again")
    assert [ep.name for ep in ours] == ["django_seably"]
    assert ours[0].load() is pytest_plugin


# A project of its own, in a subprocess (its own settings, its own Django), that uses
# nothing but the fixtures the package ships.
_PROJECT = {
    "project_settings.py": """
        SECRET_KEY = "test"
        USE_TZ = True
        ROOT_URLCONF = "project_urls"
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        INSTALLED_APPS = [
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_seably",
            "crew.apps.CrewConfig",
        ]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    """,
    "project_urls.py": """
        from django.urls import include, path

        urlpatterns = [path("seably/", include("django_seably.urls"))]
    """,
    "crew/__init__.py": "",
    "crew/apps.py": """
        from django.apps import AppConfig


        class CrewConfig(AppConfig):
            name = "crew"

            def ready(self):
                from django_seably.signals import certificate_created

                from crew.receivers import mark_trained

                certificate_created.connect(mark_trained, dispatch_uid="crew.mark_trained")
    """,
    "crew/receivers.py": """
        from django.contrib.auth.models import Group, User
        from django.core.mail import send_mail
        from django.db import transaction


        def mark_trained(sender, event, certificate, **kwargs):
            trained, _ = Group.objects.get_or_create(name="trained")
            for user in User.objects.filter(email__iexact=certificate.learner_email):
                user.groups.add(trained)
            transaction.on_commit(
                lambda: send_mail("Certificate", certificate.course_name, None, [certificate.learner_email])
            )
    """,
    "test_crew.py": """
        import pytest
        from django.contrib.auth.models import User
        from django.core import mail
        from django.test import TestCase

        from django_seably.models import Certificate
        from django_seably.testing import certificate_body, deliver


        def test_a_certificate_marks_the_crew_member_trained(seably_deliver):
            ann = User.objects.create(username="ann", email="ann@example.com")

            response = seably_deliver(certificate_body(learner_email="ANN@example.com", course_title="Fire"))

            assert response.status_code == 200
            assert response.json()["status"] == "accepted"
            assert ann.groups.filter(name="trained").exists()
            assert [(m.subject, m.body, m.to) for m in mail.outbox] == [("Certificate", "Fire", ["ANN@example.com"])]


        def test_a_redelivery_changes_nothing(seably_deliver, seably_endpoint):
            body = certificate_body()

            first = seably_deliver(body).json()

            assert seably_deliver(body).json() == {"status": "duplicate", "event_id": first["event_id"]}
            assert Certificate.objects.get().event.endpoint == seably_endpoint
            assert len(mail.outbox) == 1


        def test_an_invalid_body_is_refused(seably_deliver):
            assert seably_deliver(b"not json").status_code == 400


        @pytest.mark.django_db(transaction=True)
        def test_in_a_transactional_test(seably_deliver):
            seably_deliver(certificate_body())

            assert len(mail.outbox) == 1


        class CrewTests(TestCase):
            def test_with_django_testcase(self):
                deliver(certificate_body())

                self.assertEqual(len(mail.outbox), 1)
    """,
}


def _write_project(pytester: pytest.Pytester, **extra: str) -> None:
    for name, text in {**_PROJECT, **extra}.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def _plugin_args() -> list[str]:
    """Load the plugin by hand where the installed metadata predates its entry point."""
    names = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    return [] if "django_seably.pytest_plugin" in names else ["-p", "django_seably.pytest_plugin"]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Our own settings module is in the environment; the project names its own.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    _write_project(pytester)
    return pytester


def test_a_project_using_only_the_plugins_fixtures(project: pytest.Pytester):
    result = project.runpytest_subprocess(
        "--ds=project_settings", "-p", "no:randomly", "-p", "no:cacheprovider", *_plugin_args(), timeout=300
    )

    result.assert_outcomes(passed=5)


def test_without_pytest_django_the_fixtures_say_what_they_need(project: pytest.Pytester):
    project.makepyfile(
        test_crew="""
        def test_nothing_of_ours():
            assert True


        def test_wants_an_endpoint(seably_endpoint):
            pass
        """
    )

    result = project.runpytest_subprocess(
        "-p", "no:django", "-p", "no:randomly", "-p", "no:cacheprovider", *_plugin_args(), timeout=300
    )

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*The seably_endpoint fixture needs pytest-django (pip install pytest-django).*"])


def test_the_example_projects_tests_pass():
    """example_project/tests use only what the package ships, as a project's own tests would."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    command = [sys.executable, "-m", "pytest", "example_project/tests", "--ds=example_project.settings"]

    result = subprocess.run(
        [*command, "-p", "no:randomly", "-p", "no:cacheprovider", *_plugin_args(), "-q"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("5 passed")


# The project's settings name a real database file holding rows that would collide with
# what the tests create (a user "admin", an endpoint "test"): the fixtures alone, without a
# django_db marker, must put the test on pytest-django's test database and leave the file as is.
_REAL_DATABASE_SETTINGS = """
    from project_settings import *  # noqa: F403

    import pathlib

    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(pathlib.Path(__file__).resolve().parent / "real.sqlite3"),
        }
    }
"""

_REAL_DATABASE_TESTS = """
    import pytest
    from django.contrib.auth.models import User

    from django_seably.models import Endpoint, WebhookEvent
    from django_seably.testing import certificate_body


    def test_without_a_marker(seably_deliver):
        User.objects.create(username="admin", email="learner@example.com")

        assert seably_deliver(certificate_body()).json()["status"] == "accepted"
        assert list(Endpoint.objects.values_list("name", flat=True)) == ["test"]
        assert WebhookEvent.objects.count() == 1


    def test_the_endpoint_alone(seably_endpoint):
        assert User.objects.count() == 0
        assert Endpoint.objects.get() == seably_endpoint


    @pytest.mark.django_db(transaction=True)
    def test_transactional(seably_deliver):
        from django.db import connection

        User.objects.create(username="admin")

        assert seably_deliver(certificate_body()).json()["status"] == "accepted"
        assert connection.in_atomic_block is False  # a TransactionTestCase: no wrapping transaction
        assert WebhookEvent.objects.count() == 1
"""


def test_the_fixtures_alone_use_the_test_database_not_the_real_one(project: pytest.Pytester):
    _write_project(project, **{"real_settings.py": _REAL_DATABASE_SETTINGS, "test_crew.py": _REAL_DATABASE_TESTS})
    real = project.path / "real.sqlite3"
    root = Path(__file__).resolve().parent.parent
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "real_settings",
        "PYTHONPATH": os.pathsep.join([str(project.path), str(root)]),
    }
    setup = (
        "import django\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from django.contrib.auth.models import User\n"
        "from django_seably.testing import create_endpoint\n"
        "User.objects.create(username='admin')\n"
        "create_endpoint('test')\n"
    )
    subprocess.run([sys.executable, "-c", setup], cwd=project.path, env=env, check=True, timeout=120)
    before = real.read_bytes()

    # Apart: pytest-django sets a test database up only if some selected test declares it.
    for selection, passed in [("not transactional", 2), ("transactional", 1)]:
        result = project.runpytest_subprocess(
            "--ds=real_settings",
            "-k",
            selection,
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            *_plugin_args(),
            timeout=300,
        )

        result.assert_outcomes(passed=passed)
        assert real.read_bytes() == before
