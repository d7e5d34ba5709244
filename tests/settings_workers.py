"""Settings for the processes tests/test_workers.py starts: gunicorn and django-tasks-db workers.

tests.settings plus a database task backend, ``PROCESSING = "tasks"``, and a test app
whose receivers count signals in the database (receivers run in other processes, so
only the database can tell the test what they did). PostgreSQL only: the ``memo``
alias is a second connection to the same database, which SQLite's single writer
would block while the processing transaction holds the lock.
"""

from __future__ import annotations

from importlib.util import find_spec

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS

# On Django 5.2 the backport is an app of its own (its checks and signals), as its README says.
BACKPORT = [] if find_spec("django.tasks") else ["django_tasks"]
INSTALLED_APPS = [*INSTALLED_APPS, *BACKPORT, "django_tasks_db", "tests.workerapp"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SEABLY = {"PROCESSING": "tasks"}
# Same database, own connection: commits what a receiver must remember although its transaction rolls back.
DATABASES = {**DATABASES, "memo": {**DATABASES["default"]}}
