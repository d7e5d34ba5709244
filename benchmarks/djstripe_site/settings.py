"""Settings of the dj-stripe server: its webhook view, the benchmarks' database settings, no network.

The same choices as ``benchmarks.settings`` where they matter (``DEBUG=False``,
persistent connections, SQLite in WAL mode with IMMEDIATE transactions, durable
commits), a database of its own (``BENCH_DJSTRIPE_SQLITE_PATH`` or
``BENCH_DJSTRIPE_PG_NAME``), and Stripe's API pointed at a closed local port: an
event that made dj-stripe call Stripe would fail (a 500 the round reports),
never reach the network.
"""

from __future__ import annotations

import os

from benchmarks.databases import database

SECRET_KEY = "benchmarks-djstripe-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "testserver"]
ROOT_URLCONF = "benchmarks.djstripe_site.urls"
WSGI_APPLICATION = "benchmarks.djstripe_site.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "djstripe",
]
# Django's default middleware for a project (`startproject`), as the other server has.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

DATABASES = {
    "default": database(
        os.environ.get("BENCH_DJSTRIPE_SQLITE_PATH", "/tmp/seably-bench-djstripe.sqlite3"),
        os.environ.get("BENCH_DJSTRIPE_PG_NAME", "seably_bench_djstripe"),
    )
}

#: A test-mode key of the right shape; the seed links it to the Account, so no call asks Stripe whose it is.
STRIPE_TEST_SECRET_KEY = "sk_test_" + "0" * 24 + "benchmarks"
STRIPE_LIVE_MODE = False
STRIPE_API_HOST = "http://127.0.0.1:9"
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# dj-stripe's tables are made from its models (``migrate --run-syncdb``), not by its ~100 migrations, which take
# minutes here on every run; the schema is the models' either way.
MIGRATION_MODULES = {"djstripe": None}
DJSTRIPE_USE_NATIVE_JSONFIELD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
