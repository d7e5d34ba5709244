"""pytest fixtures for testing a project's receivers: ``seably_endpoint`` and ``seably_deliver``.

Registered by the package (entry point ``pytest11``), so a project that installs
django-seably has them without configuration. pytest loads this module before
Django is configured: it imports no model at import time.

The fixtures need pytest-django's test database. They depend on its ``db`` fixture
in their signature (through ``_seably_database``), not at run time: pytest-django
decides which test databases to create from the fixtures each collected test
declares, so a test that uses only our fixtures, without a ``django_db`` marker,
still runs on the test database (transactional when its marker says
``transaction=True``), never on the database the settings name. Without
pytest-django the fixtures fail with that reason, and nothing else changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from django_seably.testing import create_endpoint, deliver

if TYPE_CHECKING:
    from django_seably.models import Endpoint

NEEDS_PYTEST_DJANGO = "The seably_endpoint fixture needs pytest-django (pip install pytest-django)."


class _WithPytestDjango:
    @pytest.fixture
    def _seably_database(self, db: None) -> None:
        """pytest-django's test database; ``db`` follows the test's django_db marker (e.g. transaction=True)."""


class _WithoutPytestDjango:
    @pytest.fixture
    def _seably_database(self) -> None:
        pytest.fail(NEEDS_PYTEST_DJANGO, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    """Define ``_seably_database`` on pytest-django's ``db`` when pytest-django is active, else as a clear failure."""
    if config.pluginmanager.has_plugin("django_seably.database"):
        return
    # "django" by its entry point; "pytest_django.plugin" when loaded with -p.
    active = any(config.pluginmanager.has_plugin(name) for name in ("django", "pytest_django.plugin"))
    provider = _WithPytestDjango() if active else _WithoutPytestDjango()
    config.pluginmanager.register(provider, "django_seably.database")


@pytest.fixture
def seably_endpoint(_seably_database: None) -> Endpoint:
    """An active endpoint named "test"; requesting it gives the test database access."""
    return create_endpoint("test")


@pytest.fixture
def seably_deliver(seably_endpoint: Endpoint) -> Callable[..., Any]:
    """``django_seably.testing.deliver`` bound to ``seably_endpoint`` (``endpoint=`` still picks another)."""
    return functools.partial(deliver, endpoint=seably_endpoint)
