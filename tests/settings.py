"""Test settings: SQLite by default, PostgreSQL when SEABLY_TEST_DB=postgres (scripts/with-postgres).

SEABLY_TEST_PG_PREPARED=1 adds server-side binding and prepared statements on PostgreSQL.
"""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "not-secret-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_seably",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"

if os.environ.get("SEABLY_TEST_DB") == "postgres":
    DATABASES: dict[str, dict[str, Any]] = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            # SEABLY_TEST_DB_NAME: a database of its own for a server process (tests/test_http.py).
            "NAME": os.environ.get("SEABLY_TEST_DB_NAME") or os.environ.get("PGDATABASE", "postgres"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
    }
    if os.environ.get("SEABLY_TEST_PG_PREPARED"):
        # docs/deploying.md's "Prepared statements", stricter: each statement is
        # prepared on its second run (0, the first, breaks Django's multi-statement DDL).
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 1}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SEABLY_TEST_DB_NAME") or ":memory:",
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
