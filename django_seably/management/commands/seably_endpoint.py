"""``seably_endpoint``: create, list, show, rotate, activate and deactivate the endpoints, as the admin does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_seably.batching import Progress
from django_seably.checks.urls import FIX, MISSING_INCLUDE, webhook_urls_included
from django_seably.management.endpoints import endpoint_named
from django_seably.models import Endpoint

ACTIONS = ("create", "list", "show", "rotate", "activate", "deactivate")


def require_webhook_urls(consequence: str) -> None:
    """Stop before changing anything when no endpoint's URL can be built (the URLs are not included)."""
    if not webhook_urls_included():
        raise CommandError(f"{MISSING_INCLUDE}, so no URL can be shown: {consequence}. {FIX}")


class Command(BaseCommand):
    help = (
        "Manage the endpoints (URLs) registered on Seably: create, list, show (the full URL path), "
        "rotate (a new token at once), activate, deactivate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{" + ",".join(ACTIONS) + "}")
        create = actions.add_parser("create", help="Create an endpoint and print the URL path to register on Seably.")
        create.add_argument("name", help="A unique name, e.g. production.")
        actions.add_parser("list", help="List endpoints with their masked tokens.")
        for action, text in (
            ("show", "Print the endpoint's URL path (it holds the token: treat it as a secret)."),
            ("rotate", "Give the endpoint a new token at once (its old URL answers 404) and print the new path."),
            ("activate", "Accept deliveries again."),
            ("deactivate", "Refuse deliveries (404, like an unknown URL); the endpoint and its events stay."),
        ):
            actions.add_parser(action, help=text).add_argument("name", help="The endpoint's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.report = Progress.of(self, options)
        action = options["action"]
        if action == "list":
            self.list_endpoints()
        elif action == "create":
            self.create(options["name"])
        elif action == "show":
            self.show(options["name"])
        elif action == "rotate":
            self.rotate(options["name"])
        else:
            self.switch(options["name"], active=action == "activate")

    def create(self, name: str) -> None:
        name = name.strip()
        if not name:
            raise CommandError("The endpoint name must not be empty.")
        if len(name) > Endpoint._meta.get_field("name").max_length:  # type: ignore[operator]
            raise CommandError("The endpoint name is longer than 100 characters.")
        if Endpoint.objects.filter(name=name).exists():
            raise CommandError(f"An endpoint named {name!r} already exists.")
        require_webhook_urls("nothing was created")
        endpoint = Endpoint.objects.create(name=name)
        self.report.summary(
            f"Created endpoint {name!r}. Register this URL on Seably, after your site's https:// origin:"
        )
        # The path is the command's answer: printed at every verbosity, alone at -v 0 (for scripts).
        self.stdout.write(endpoint.webhook_path)

    def show(self, name: str) -> None:
        endpoint = endpoint_named(name)
        require_webhook_urls("nothing was shown")
        if not endpoint.is_active and self.report.verbosity >= 1:
            # On stderr: stdout is the path alone, for scripts.
            self.stderr.write(f"Endpoint {endpoint.name!r} is inactive: its URL answers 404 until it is activated.")
        self.stdout.write(endpoint.webhook_path)

    def rotate(self, name: str) -> None:
        endpoint = endpoint_named(name)
        require_webhook_urls("the token was not rotated")
        old = endpoint.masked_token
        endpoint.rotate_token()
        self.report.summary(
            f"Rotated the token of endpoint {endpoint.name!r} ({old} → {endpoint.masked_token}): its old URL now "
            "answers 404. Register the new URL on Seably, after your site's https:// origin:"
        )
        self.stdout.write(endpoint.webhook_path)

    def switch(self, name: str, *, active: bool) -> None:
        endpoint = endpoint_named(name)
        state = "active" if active else "inactive"
        if endpoint.is_active == active:
            self.report.summary(f"Endpoint {endpoint.name!r} is already {state}.")
            return
        endpoint.is_active = active
        endpoint.save(update_fields=["is_active"])
        effect = "its URL accepts deliveries again" if active else "its URL answers 404 until it is activated"
        self.report.summary(f"Endpoint {endpoint.name!r} is now {state}: {effect}.")

    def list_endpoints(self) -> None:
        endpoints = Endpoint.objects.all()
        if not endpoints:
            self.report.summary("No endpoints yet. Create one with: manage.py seably_endpoint create NAME")
            return
        for endpoint in endpoints:
            state = "active" if endpoint.is_active else "inactive"
            self.stdout.write(
                f"{endpoint.name}\t{state}\ttoken {endpoint.masked_token}\tcreated {endpoint.created_at:%Y-%m-%d %H:%M}"
            )
