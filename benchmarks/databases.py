"""The database settings every benchmark server uses, from the environment: one place, so they cannot drift.

``BENCH_DB`` picks the engine; ``sqlite_path`` and ``pg_name`` name this server's own
database. No Django import: the dj-stripe server's venv reads it too.
"""

from __future__ import annotations

import os
from typing import Any


def database(sqlite_path: str, pg_name: str) -> dict[str, Any]:
    """Return the ``DATABASES["default"]`` of a benchmark server."""
    # Persistent connections, as a deployment would run: without them every request
    # pays a connection (a backend fork on PostgreSQL), the same for every target,
    # which would hide the difference between them.
    conn_max_age = int(os.environ.get("BENCH_CONN_MAX_AGE", "600"))
    if os.environ.get("BENCH_DB", "sqlite") == "postgres":
        settings: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": pg_name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "CONN_MAX_AGE": conn_max_age,
        }
        if os.environ.get("BENCH_PG_PREPARED"):
            # ``--pg-prepared``: docs/deploying.md's "Prepared statements", for every target.
            settings["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
        return settings
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": sqlite_path,
        # As the README recommends and example_project has; synchronous is left at its default.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
        "CONN_MAX_AGE": conn_max_age,
    }
