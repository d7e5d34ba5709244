"""A django-health-check check on the numbers ``seably_status`` prints (``pip install "django-seably[health]"``).

Add it to a health check view (django-health-check 4)::

    path("health/", HealthCheckView.as_view(checks=[..., "django_seably.health.SeablyHealthCheck"]))

It is unhealthy when the oldest pending event is older than
``SEABLY["HEALTH_MAX_PENDING_AGE"]`` minutes (default 60: nothing is processing
events) or when more events are failed than ``SEABLY["HEALTH_MAX_FAILED"]``
(default None: not checked). Both can also be given per view, as options.
"""

from __future__ import annotations

import dataclasses

try:
    from health_check.base import HealthCheck
    from health_check.exceptions import ServiceUnavailable
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        'django_seably.health needs django-health-check 4: pip install "django-seably[health]"'
    ) from error

from django.db import connections, router

from django_seably.conf import seably_settings
from django_seably.models import WebhookEvent
from django_seably.status import current_status


@dataclasses.dataclass
class SeablyHealthCheck(HealthCheck):  # type: ignore[misc]  # django-health-check has no type hints
    """Fail when Seably events wait too long or too many failed; None options read the settings."""

    max_pending_age: int | None = None
    max_failed: int | None = None

    def run(self) -> None:
        max_pending_age = self.max_pending_age
        if max_pending_age is None:
            max_pending_age = seably_settings.HEALTH_MAX_PENDING_AGE
        max_failed = self.max_failed if self.max_failed is not None else seably_settings.HEALTH_MAX_FAILED
        # The view runs synchronous checks in worker threads, outside Django's request cycle:
        # a connection this check opens there is closed here, or it would stay open forever.
        connection = connections[router.db_for_read(WebhookEvent)]
        opened = connection.connection is None
        try:
            status = current_status()
        finally:
            if opened:
                connection.close()
        problems = status.problems(max_pending_age=max_pending_age, max_failed=max_failed)
        if problems:
            raise ServiceUnavailable(" ".join(problems))
