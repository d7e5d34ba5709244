"""The checks of manage.py check --deploy: database options and a task backend that really runs tasks elsewhere."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command

from django_seably import tasks
from django_seably.checks import check_deployment

pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")

SQLITE = "django.db.backends.sqlite3"
POSTGRESQL = "django.db.backends.postgresql"
GOOD_SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}


def ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


@pytest.fixture
def database(settings: Any) -> Any:
    """Set DATABASES["default"] for the checks; they read settings and open no connection."""

    def configure(**default: Any) -> None:
        settings.DATABASES = {"default": default}

    return configure


class TestSQLite:
    def test_well_configured(self, database, tmp_path):
        database(ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3", OPTIONS=GOOD_SQLITE_OPTIONS)

        assert check_deployment() == []

    def test_without_immediate_transactions_is_w011(self, database, tmp_path):
        database(ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3", OPTIONS={"init_command": "PRAGMA journal_mode = wal"})

        (warning,) = check_deployment()

        assert (warning.id, warning.level) == ("django_seably.W011", checks.WARNING)
        assert warning.msg == (
            'The SQLite database "default" does not set OPTIONS["transaction_mode"] = "IMMEDIATE": concurrent '
            'deliveries can fail with "database is locked" (a 503) instead of waiting their turn.'
        )
        assert warning.hint == (
            'In DATABASES["default"]["OPTIONS"] set "transaction_mode": "IMMEDIATE" and a "timeout" (seconds), e.g. 20.'
        )

    def test_deferred_transactions_are_w011(self, database, tmp_path):
        database(
            ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3", OPTIONS={**GOOD_SQLITE_OPTIONS, "transaction_mode": "DEFERRED"}
        )

        assert ids(check_deployment()) == ["django_seably.W011"]

    def test_without_wal_is_w012(self, database, tmp_path):
        database(ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3", OPTIONS={"transaction_mode": "IMMEDIATE"})

        (warning,) = check_deployment()

        assert (warning.id, warning.level) == ("django_seably.W012", checks.WARNING)
        assert warning.msg == (
            'The SQLite database "default" is not in WAL mode: each delivery\'s write blocks every reader '
            "(the admin, the API) and readers block it."
        )
        assert warning.hint == (
            'In DATABASES["default"]["OPTIONS"] set "init_command": "PRAGMA journal_mode=WAL;" '
            "(the mode is then also kept in the file)."
        )
        assert not (tmp_path / "db.sqlite3").exists(), "the check created the database file"

    def test_a_file_already_in_wal_mode_needs_no_init_command(self, database, tmp_path):
        path = tmp_path / "db.sqlite3"
        with sqlite3.connect(path) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE t (x)")
        connection.close()
        database(ENGINE=SQLITE, NAME=str(path), OPTIONS={"transaction_mode": "IMMEDIATE"})

        assert check_deployment() == []

    def test_a_file_in_rollback_journal_mode_is_w012(self, database, tmp_path):
        path = tmp_path / "db.sqlite3"
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE t (x)")
        connection.close()
        database(ENGINE=SQLITE, NAME=path, OPTIONS={"transaction_mode": "IMMEDIATE"})

        assert ids(check_deployment()) == ["django_seably.W012"]

    def test_both(self, database, tmp_path):
        database(ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3")

        assert ids(check_deployment()) == ["django_seably.W011", "django_seably.W012"]

    @pytest.mark.parametrize("name", [":memory:", "file:memorydb?mode=memory&cache=shared"])
    def test_in_memory_databases_are_not_checked(self, database, name):
        database(ENGINE=SQLITE, NAME=name)

        assert check_deployment() == []


class TestPostgreSQL:
    def test_with_connect_timeout(self, database):
        database(ENGINE=POSTGRESQL, NAME="app", OPTIONS={"connect_timeout": 5})

        assert check_deployment() == []

    def test_without_connect_timeout_is_w013(self, database, monkeypatch):
        monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
        database(ENGINE=POSTGRESQL, NAME="app")

        (warning,) = check_deployment()

        assert (warning.id, warning.level) == ("django_seably.W013", checks.WARNING)
        assert warning.msg == (
            'The PostgreSQL database "default" sets no OPTIONS["connect_timeout"]: while the server is '
            "unreachable, each delivery waits for the system's TCP timeout (minutes) before its 503, "
            "holding a web worker all that time."
        )
        assert warning.hint == (
            'In DATABASES["default"]["OPTIONS"] set "connect_timeout": 5 (seconds), or PGCONNECT_TIMEOUT '
            "in the environment."
        )

    def test_the_environment_variable_counts(self, database, monkeypatch):
        monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
        database(ENGINE=POSTGRESQL, NAME="app", OPTIONS={})

        assert check_deployment() == []


def test_other_databases_are_not_checked(database):
    database(ENGINE="django.db.backends.mysql", NAME="app")

    assert check_deployment() == []


def test_a_seably_setting_that_is_no_dict_is_left_to_e001(database, tmp_path, settings):
    database(ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3", OPTIONS=GOOD_SQLITE_OPTIONS)
    settings.SEABLY = ["PROCESSING"]

    assert check_deployment() == []


class TestTaskBackend:
    @pytest.fixture(autouse=True)
    def _well_configured_database(self, database, tmp_path):
        database(ENGINE=SQLITE, NAME=tmp_path / "db.sqlite3", OPTIONS=GOOD_SQLITE_OPTIONS)

    def backend(self, name: str) -> str:
        assert tasks.framework is not None
        return f"{tasks.framework.__name__}.backends.{name.lower()}.{name}Backend"

    def test_immediate_backend_is_w014(self, settings):
        settings.SEABLY = {"PROCESSING": "tasks"}
        settings.TASKS = {"default": {"BACKEND": self.backend("Immediate")}}

        (warning,) = check_deployment()

        assert (warning.id, warning.level) == ("django_seably.W014", checks.WARNING)
        assert warning.msg == (
            'SEABLY["PROCESSING"] is "tasks" but the task backend "default" is the ImmediateBackend, which runs '
            "each task in the request that enqueues it: processing is inline after all, with the cost of a task."
        )
        assert warning.hint == (
            'Use a backend with workers (docs/deploying.md, "Processing in tasks"), or set PROCESSING to "inline".'
        )

    def test_immediate_backend_is_fine_inline(self, settings):
        settings.TASKS = {"default": {"BACKEND": self.backend("Immediate")}}

        assert check_deployment() == []

    def test_dummy_backend_is_w010_of_the_settings_checks_not_twice(self, settings):
        settings.SEABLY = {"PROCESSING": "tasks"}
        settings.TASKS = {"default": {"BACKEND": self.backend("Dummy")}}

        assert check_deployment() == []

    def test_a_missing_backend_is_left_to_the_settings_checks(self, settings):
        settings.SEABLY = {"PROCESSING": "tasks"}
        settings.TASKS = {"default": {"BACKEND": "nowhere.Backend"}}

        assert check_deployment() == []


class TestRegistered:
    def test_check_deploy_runs_them(self, database, tmp_path, monkeypatch):
        monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
        database(ENGINE=SQLITE, NAME=str(tmp_path / "db.sqlite3"))
        err = io.StringIO()

        call_command("check", "--deploy", stdout=io.StringIO(), stderr=err)

        assert "django_seably.W011" in err.getvalue()
        assert "django_seably.W012" in err.getvalue()

    def test_plain_check_does_not(self, database, tmp_path):
        database(ENGINE=SQLITE, NAME=str(tmp_path / "db.sqlite3"))
        out, err = io.StringIO(), io.StringIO()

        call_command("check", stdout=out, stderr=err)

        assert "django_seably.W01" not in out.getvalue() + err.getvalue()


def test_the_database_file_is_only_read(database, tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
    connection.close()
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    database(ENGINE=SQLITE, NAME=path)

    check_deployment()

    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite3"]
