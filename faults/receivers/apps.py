from __future__ import annotations

from django.apps import AppConfig


class FaultReceiversConfig(AppConfig):
    """Connects the recording receivers; installed only by faults.settings."""

    name = "faults.receivers"
    label = "faults_receivers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_seably.signals import certificate_created, webhook_received
        from faults.receivers import receivers

        webhook_received.connect(receivers.on_webhook_received, dispatch_uid="faults.received")
        certificate_created.connect(receivers.on_certificate_created, dispatch_uid="faults.created")
