from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import Client

from django_seably.models import Endpoint
from django_seably.testing import certificate_body


def sample(seably_id: str, learner_email: str, learner_name: str) -> dict[str, Any]:
    """Return a certificate.created body with fixed values: running demo_setup again posts a duplicate."""
    return certificate_body(
        seably_id,
        learner_email=learner_email,
        learner_name=learner_name,
        course_title="Enclosed Space Entry",
        issued_at="2026-11-02T09:14:05Z",
        expires_at="2028-11-02",
        score=92,
    )


#: Where `make demo` runs the server.
BASE_URL = "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Prepare the demo after migrate: user admin/admin, endpoint 'demo', one sample event. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        # A superuser admin/admin must never reach a real database.
        if not settings.DEBUG:
            raise CommandError("demo_setup creates the user admin/admin: it runs only with DEBUG on.")
        user_model = get_user_model()
        if not user_model._default_manager.filter(username="admin").exists():
            user_model._default_manager.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("Created the superuser admin (password admin).")
        endpoint, created = Endpoint.objects.get_or_create(name="demo")
        if created:
            self.stdout.write("Created the endpoint demo.")

        # Through the real view, as Seably would post it, so the admin has something to show.
        response = Client().post(
            endpoint.webhook_path,
            data=json.dumps(sample("SB-00000042", "ingrid.solberg@example.com", "Ingrid Solberg")),
            content_type="application/json",
        )
        if response.status_code != 200:
            raise CommandError(f"The sample event was refused: {response.status_code} {response.content.decode()}")
        answer = response.json()
        self.stdout.write(f"Posted a sample certificate.created: {answer['status']} (event {answer['event_id']}).")

        url = f"{BASE_URL}{endpoint.webhook_path}"
        # This interpreter (.venv/bin/python under make demo): works without activating the venv.
        python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd() + os.sep) else sys.executable
        body = json.dumps(sample("SB-00000043", "tomas.berg@example.com", "Tomas Berg"))
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"Admin:   {BASE_URL}/admin/  (log in as admin / admin)",
                    f"Webhook: {url}",
                    "",
                    "Once the server runs, post an event from another terminal:",
                    f"  curl -sS -X POST -H 'Content-Type: application/json' --data {shlex.quote(body)} {url}",
                    f"  {python} manage.py seably_send_test_event {url}",
                    "",
                ]
            )
        )
