"""ASGI application for the tests that serve the app under uvicorn: the project's, guarded."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from django_seably.asgi import guard_webhooks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
application = guard_webhooks(get_asgi_application())
