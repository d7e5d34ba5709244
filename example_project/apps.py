from __future__ import annotations

from django.apps import AppConfig


class ExampleConfig(AppConfig):
    """The project's own app: connecting receivers in ready() is what makes them run at all."""

    name = "example_project"
    verbose_name = "Example project"

    def ready(self) -> None:
        # Imported here, not at the top: models may only be imported once apps are loaded.
        from django_seably.signals import certificate_created, signal_for
        from example_project.receivers import on_certificate_created, on_user_invited

        # dispatch_uid: connected once even if ready() runs twice (e.g. in some test setups).
        certificate_created.connect(on_certificate_created, dispatch_uid="example_project.on_certificate_created")
        # An event type django_seably has no handler for: it only sends signal_for(type).
        signal_for("user.invited").connect(on_user_invited, dispatch_uid="example_project.on_user_invited")
