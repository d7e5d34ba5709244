from __future__ import annotations

from django.apps import AppConfig


class WorkerAppConfig(AppConfig):
    """Installed only by tests/settings_workers.py, in the processes tests/test_workers.py starts."""

    name = "tests.workerapp"
    label = "workerapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_seably.signals import certificate_created, webhook_received
        from tests.workerapp import receivers

        webhook_received.connect(receivers.on_webhook_received, dispatch_uid="workerapp.received")
        certificate_created.connect(receivers.on_certificate_created, dispatch_uid="workerapp.created")
