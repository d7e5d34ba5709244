from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import Client

from django_seably.signals import certificate_created, signal_for, webhook_received

PAYLOADS = Path(__file__).parent / "payloads"


def pytest_configure(config: pytest.Config) -> None:
    """Use the fixtures we ship (seably_endpoint, seably_deliver), as an integrator's suite does.

    The package registers them by its pytest11 entry point; an editable install made
    before the entry point existed lacks it, so register the plugin here unless it is.
    """
    from django_seably import pytest_plugin

    if not config.pluginmanager.is_registered(pytest_plugin):
        config.pluginmanager.register(pytest_plugin, "django_seably")
    # tests/test_testing.py runs little projects of its own.
    config.pluginmanager.import_plugin("pytester")


def load_payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run under scripts/with-postgres (make test does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("SEABLY_FORBID_SKIPS") and skipped:
        terminalreporter.write_line(
            f"SEABLY_FORBID_SKIPS is set (CI): {len(skipped)} skipped test(s) count as failures.", red=True
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("SEABLY_FORBID_SKIPS"):
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and reporter.stats.get("skipped"):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def csrf_client() -> Client:
    """A client that enforces CSRF, as a real sender faces it."""
    return Client(enforce_csrf_checks=True)


def _prototype_receiver(sender: Any, event: Any, **kwargs: Any) -> None:
    """What a receiver of our signals must accept."""


def _prototype_certificate_receiver(sender: Any, event: Any, certificate: Any, **kwargs: Any) -> None:
    """What a certificate_created receiver must accept."""


@pytest.fixture
def received() -> Any:
    receiver = mock.create_autospec(_prototype_receiver)
    webhook_received.connect(receiver, weak=False)
    yield receiver
    webhook_received.disconnect(receiver)


@pytest.fixture
def created() -> Any:
    receiver = mock.create_autospec(_prototype_certificate_receiver)
    certificate_created.connect(receiver, weak=False)
    yield receiver
    certificate_created.disconnect(receiver)


@pytest.fixture
def typed_receiver() -> Any:
    """Connect a receiver to signal_for(event_type); disconnected after the test."""
    connected: list[tuple[Any, Any]] = []

    def connect(event_type: str) -> Any:
        receiver = mock.create_autospec(_prototype_receiver)
        signal_for(event_type).connect(receiver, weak=False)
        connected.append((event_type, receiver))
        return receiver

    yield connect
    for event_type, receiver in connected:
        signal_for(event_type).disconnect(receiver)


@pytest.fixture(autouse=True)
def _empty_cache() -> Any:
    """The admin overview caches the counts of past days; every test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
