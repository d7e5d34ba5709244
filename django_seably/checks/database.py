"""The system check for the database the app writes to."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error


def check_database(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a database that cannot store a delivery in one ``INSERT ... ON CONFLICT`` (see ``upsert``)."""
    from django.db import connections, router

    from django_seably.models import WebhookEvent

    alias = router.db_for_write(WebhookEvent)
    features = connections[alias].features
    if features.supports_update_conflicts_with_target and features.can_return_columns_from_insert:
        return []
    return [
        Error(
            f"The database {alias!r} ({connections[alias].display_name}) cannot run INSERT ... ON CONFLICT "
            "... RETURNING, which django_seably stores every delivery with.",
            hint="Use PostgreSQL, or SQLite 3.35 or newer.",
            id="django_seably.E030",
        )
    ]
