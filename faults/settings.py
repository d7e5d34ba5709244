"""Settings for the processes the fault suite starts: tests.settings, the recording receivers, a database of its own.

The databases are configured as the README recommends for production, not as the
unit tests run them: SQLite as a file in WAL mode with IMMEDIATE transactions and a
busy timeout, so concurrent workers wait for the write lock instead of failing;
PostgreSQL with a short ``connect_timeout``, so a request while the server is down
answers 503 within a bound instead of hanging, and no persistent connections
(``CONN_MAX_AGE = 0``), so each request finds out afresh whether the server is back.

``SEABLY_FAULTS_DB`` (``sqlite`` or ``postgres``) and ``SEABLY_FAULTS_DB_NAME`` (a file
path, or a database on the server ``PG*`` points at) are set by faults.run.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "faults.receivers"]

#: Seconds PostgreSQL may take to accept a connection; the hang bound in faults.run is built on it.
CONNECT_TIMEOUT = 3
#: Seconds a SQLite writer waits for the lock before "database is locked" (which the view answers 503).
SQLITE_BUSY_TIMEOUT = 5

_NAME = os.environ.get("SEABLY_FAULTS_DB_NAME", "")

if os.environ.get("SEABLY_FAULTS_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _NAME or "seably_faults",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "CONN_MAX_AGE": 0,
            "OPTIONS": {"connect_timeout": CONNECT_TIMEOUT},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _NAME or "/tmp/seably-faults.sqlite3",
            "CONN_MAX_AGE": 0,
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL",
                "transaction_mode": "IMMEDIATE",
                "timeout": SQLITE_BUSY_TIMEOUT,
            },
        }
    }
