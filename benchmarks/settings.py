"""Settings for the benchmarks: the example project, inline processing, no receivers, a database from the environment.

``BENCH_DB`` picks the database: ``sqlite`` (``BENCH_SQLITE_PATH``, WAL, the default
``synchronous`` level, which in WAL mode is FULL on Debian's build: a commit is durable)
or ``postgres`` (``PGHOST``/``PGPORT``/``PGUSER`` as exported by ``scripts/with-postgres``,
database ``BENCH_PG_NAME``; ``synchronous_commit`` is left on, so a commit is durable;
``BENCH_PG_PREPARED`` turns on server-side binding and prepared statements).
"""

from __future__ import annotations

import os

from benchmarks.databases import database
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

DATABASES = {
    "default": database(
        os.environ.get("BENCH_SQLITE_PATH", "/tmp/seably-bench.sqlite3"),
        os.environ.get("BENCH_PG_NAME", "seably_bench"),
    )
}

SEABLY = {"PROCESSING": "inline"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"django_seably": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
