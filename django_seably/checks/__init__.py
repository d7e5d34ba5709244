"""The app's system checks, one module per subject; ``SeablyConfig.ready()`` registers them.

Every check id, with its fix, is listed in docs/settings.md. Ids are never reused.
"""

from __future__ import annotations

from django_seably.checks.database import check_database
from django_seably.checks.deployment import check_deployment
from django_seably.checks.settings import check_settings
from django_seably.checks.urls import check_urls

__all__ = ["check_database", "check_deployment", "check_settings", "check_urls"]
