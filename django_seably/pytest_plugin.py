"""pytest fixtures for testing a project's receivers: ``seably_endpoint`` and ``seably_deliver``.

Registered by the package (entry point ``pytest11``), so a project that installs
django-seably has them without configuration. pytest loads this module before
Django is configured: it imports no model at import time. The fixtures need
pytest-django (for database access); without it they fail with that reason, and
nothing else changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from django_seably.testing import create_endpoint, deliver

if TYPE_CHECKING:
    from django_seably.models import Endpoint


@pytest.fixture
def seably_endpoint(request: pytest.FixtureRequest) -> Endpoint:
    """An active endpoint named "test"; requesting it gives the test database access."""
    try:
        # pytest-django's "db" follows the test's django_db marker, e.g. transaction=True.
        request.getfixturevalue("db")
    except pytest.FixtureLookupError:
        pytest.fail("The seably_endpoint fixture needs pytest-django (pip install pytest-django).", pytrace=False)
    return create_endpoint("test")


@pytest.fixture
def seably_deliver(seably_endpoint: Endpoint) -> Callable[..., Any]:
    """``django_seably.testing.deliver`` bound to ``seably_endpoint`` (``endpoint=`` still picks another)."""
    return functools.partial(deliver, endpoint=seably_endpoint)
