from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_seably.models import Endpoint


class Command(BaseCommand):
    help = "Create or list the endpoints (URLs) registered on Seably."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{create,list}")
        create = actions.add_parser(
            "create",
            help="Create an endpoint and print the URL path to register on Seably.",
        )
        create.add_argument("name", help="A unique name, e.g. production.")
        actions.add_parser("list", help="List endpoints with their masked tokens.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "create":
            self.create(options["name"])
        else:
            self.list_endpoints()

    def create(self, name: str) -> None:
        name = name.strip()
        if not name:
            raise CommandError("The endpoint name must not be empty.")
        if len(name) > Endpoint._meta.get_field("name").max_length:  # type: ignore[operator]
            raise CommandError("The endpoint name is longer than 100 characters.")
        if Endpoint.objects.filter(name=name).exists():
            raise CommandError(f"An endpoint named {name!r} already exists.")
        endpoint = Endpoint.objects.create(name=name)
        self.stdout.write(f"Created endpoint {name!r}. Register this URL on Seably, after your site's https:// origin:")
        self.stdout.write(endpoint.webhook_path)

    def list_endpoints(self) -> None:
        endpoints = Endpoint.objects.all()
        if not endpoints:
            self.stdout.write("No endpoints yet. Create one with: manage.py seably_endpoint create NAME")
            return
        for endpoint in endpoints:
            state = "active" if endpoint.is_active else "inactive"
            self.stdout.write(
                f"{endpoint.name}\t{state}\ttoken {endpoint.masked_token}\tcreated {endpoint.created_at:%Y-%m-%d %H:%M}"
            )
