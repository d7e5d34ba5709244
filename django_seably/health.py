"""A django-health-check check on the numbers ``seably_status`` prints (``pip install "django-seably[health]"``).

Add it to a health check view (django-health-check 4)::

    path("health/", HealthCheckView.as_view(checks=[..., "django_seably.health.SeablyHealthCheck"]))

Unhealthy when a threshold of ``seably_status`` is crossed, read from
``SEABLY["HEALTH_MAX_PENDING_AGE"]``, ``["HEALTH_MAX_FAILED"]`` and
``["HEALTH_MAX_SILENCE"]`` or given per view as options. See docs/deploying.md.
"""

from __future__ import annotations

import dataclasses
import datetime

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
    """Fail when Seably events wait too long, too many failed, or an endpoint fell silent; None options read the settings."""

    max_pending_age: datetime.timedelta | None = None
    max_failed: int | None = None
    max_silence: datetime.timedelta | None = None

    def __post_init__(self) -> None:
        # Durations carry their unit: a bare number (minutes? seconds?) is refused, not guessed.
        for name in ("max_pending_age", "max_silence"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, datetime.timedelta):
                raise TypeError(
                    f"SeablyHealthCheck's {name} must be a datetime.timedelta or None, not {value!r}: "
                    "e.g. timedelta(minutes=30)."
                )

    def run(self) -> None:
        max_pending_age = self.max_pending_age
        if max_pending_age is None:
            max_pending_age = seably_settings.HEALTH_MAX_PENDING_AGE
        max_failed = self.max_failed if self.max_failed is not None else seably_settings.HEALTH_MAX_FAILED
        max_silence = self.max_silence if self.max_silence is not None else seably_settings.HEALTH_MAX_SILENCE
        # The view runs synchronous checks in worker threads, outside Django's request cycle:
        # a connection this check opens there is closed here, or it would stay open forever.
        connection = connections[router.db_for_read(WebhookEvent)]
        opened = connection.connection is None
        try:
            status = current_status()
        finally:
            if opened:
                connection.close()
        problems = status.problems(max_pending_age=max_pending_age, max_failed=max_failed, max_silence=max_silence)
        if problems:
            raise ServiceUnavailable(" ".join(problems))
