"""No token in any line runserver writes (its ``django.server`` records and Django's own), and the project's paths as requested.

runserver is a development server, but it is where a project tries the app
first: every hostile spelling of tests/test_server_logs.py is sent to it with an
active, an inactive and an unknown token, and its whole output (Django's
records at DEBUG on stderr, ``tests/settings_runserver.py``) is searched for
each token, plain and percent-encoded. The body-limit tests are not repeated:
runserver is not a server the contract promises them for.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator

import pytest
from django.db import connection

from tests import servers
from tests.test_server_logs import (
    OWN_PATHS,
    Deployment,
    assert_logged_as_requested,
    assert_no_secret,
    exchange,
    head,
    requests_for,
    status_of,
    wait_for_line,
)

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("runserver-logs")
    database = servers.database_for(connection.vendor, tmp)
    database.create()
    try:
        env = servers.server_env(database)
        servers.run_django(env, "migrate", "--no-input", "-v", "0")
        active = servers.create_endpoint(env, "live").rstrip("/").rsplit("/", 1)[1]
        inactive = servers.create_endpoint(env, "retired").rstrip("/").rsplit("/", 1)[1]
        database.execute("UPDATE django_seably_endpoint SET is_active = %s WHERE name = %s", (False, "retired"))
        server = servers.start_runserver(env, tmp, f"/seably/{active}/")
        deployed = Deployment("runserver", server, active, inactive, secrets.token_urlsafe(32))
        try:
            yield deployed
        finally:
            server.stop()
        assert_no_secret(deployed, server.stderr())
    finally:
        database.drop()


def test_no_token_in_any_line(deployment):
    statuses = [status_of(exchange(deployment, request)) for request in requests_for(deployment)]
    wait_for_line(deployment, ".".join(uuid.uuid4().hex[:8] for _ in range(3)))

    assert 200 in statuses
    assert {400, 404} <= set(statuses)
    output = deployment.server.stderr()
    assert "django.server" in output or "HTTP/1.1" in output  # runserver's request lines were written
    assert "…" in output
    assert_no_secret(deployment, output)


def test_the_projects_own_paths_are_logged_as_requested(deployment):
    for path in OWN_PATHS:
        exchange(deployment, head(deployment, "GET", path))
    wait_for_line(deployment, ".".join(uuid.uuid4().hex[:8] for _ in range(3)))

    assert_logged_as_requested(deployment, deployment.server.stderr(), OWN_PATHS)
