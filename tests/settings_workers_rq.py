"""Settings for the processes tests/test_workers_rq.py starts: gunicorn and RQ workers (django-rq's rqworker).

tests.settings_workers (PostgreSQL, ``PROCESSING = "tasks"``, the receivers that
record signals) with django-tasks-rq as the task backend, on the throwaway
redis-server whose URL the test puts in ``SEABLY_TEST_REDIS_URL``.
"""

from __future__ import annotations

import os

from tests.settings_workers import *  # noqa: F403
from tests.settings_workers import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "django_tasks_db"] + ["django_rq", "django_tasks_rq"]
# Its QUEUES default to RQ_QUEUES' names; django_seably's task uses the queue "default".
TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend"}}
# Timeouts in the URL (seconds): while Redis is unreachable, an enqueue fails within
# seconds instead of holding the request for the system's TCP timeout.
RQ_QUEUES = {
    "default": {
        "URL": os.environ.get("SEABLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        + "?socket_connect_timeout=2&socket_timeout=5",
        "DEFAULT_TIMEOUT": 120,
    }
}
