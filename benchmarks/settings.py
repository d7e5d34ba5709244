"""Settings for the benchmarks: the example project, inline processing, no receivers, a database from the environment.

``BENCH_DB`` picks the database: ``sqlite`` (``BENCH_SQLITE_PATH``, WAL, the default
``synchronous`` level, which in WAL mode is FULL on Debian's build: a commit is durable)
or ``postgres`` (``PGHOST``/``PGPORT``/``PGUSER`` as exported by ``scripts/with-postgres``,
database ``BENCH_PG_NAME``; ``synchronous_commit`` is left on, so a commit is durable;
``BENCH_PG_PREPARED`` turns on server-side binding and prepared statements).
"""

from __future__ import annotations

import os

from example_project.settings import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
ROOT_URLCONF = "benchmarks.urls"
WSGI_APPLICATION = "benchmarks.wsgi.application"

# The example project without its own app: "inline processing and no receivers".
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_seably",
    "benchmarks.reference",
]

# Persistent connections, as a deployment would run: without them every request
# pays a connection (a backend fork on PostgreSQL), the same for both targets,
# which would hide the difference between them. Stricter for us, not laxer.
CONN_MAX_AGE = int(os.environ.get("BENCH_CONN_MAX_AGE", "600"))

if os.environ.get("BENCH_DB", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_PG_NAME", "seably_bench"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "CONN_MAX_AGE": CONN_MAX_AGE,
        }
    }
    if os.environ.get("BENCH_PG_PREPARED"):
        # ``--pg-prepared``: docs/deploying.md's "Prepared statements", for both targets.
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE_PATH", "/tmp/seably-bench.sqlite3"),
            # As the README recommends and example_project has; synchronous is left at its default.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
            "CONN_MAX_AGE": CONN_MAX_AGE,
        }
    }

SEABLY = {"PROCESSING": "inline"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django_seably": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
