"""Settings for the tests that serve the app with runserver (tests/test_runserver_logs.py).

The test settings, plus every record at DEBUG on stderr: with DEBUG = False,
Django's own console handler drops "Not Found: …" and the security records,
and the token check on runserver's output would prove nothing.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "DEBUG"}},
    "root": {"level": "DEBUG", "handlers": ["stderr"]},
}
