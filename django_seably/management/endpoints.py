"""Looking an endpoint up by name, for every command that takes one."""

from __future__ import annotations

from django.core.management.base import CommandError

from django_seably.models import Endpoint


def endpoint_named(name: str) -> Endpoint:
    """Return the endpoint called ``name``, or raise a CommandError naming the endpoints there are."""
    endpoint = Endpoint.objects.filter(name=name.strip()).first()
    if endpoint is None:
        known = ", ".join(Endpoint.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No endpoint named {name.strip()!r} (endpoints: {known}).")
    return endpoint
