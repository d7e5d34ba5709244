"""The app's settings: one ``SEABLY`` dict, read once and read again whenever it changes."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed

#: Where each searchable Certificate column is read from in ``payload.data``.
#: A path is dotted keys ("user.email"); the first path that yields a value wins.
#: A list of paths inside the list is joined with spaces ("first last").
DEFAULT_CERTIFICATE_FIELDS: dict[str, list[str | list[str]]] = {
    "learner_email": [
        "attributes.learner_email",
        "user.email",
        "learner_email",
        "email",
    ],
    "learner_name": [
        "attributes.learner_name",
        "user.name",
        ["user.first_name", "user.last_name"],
        "learner_name",
    ],
    "course_name": [
        "attributes.course_title",
        "course.name",
        "course.title",
        "course_name",
    ],
    "issued_at": ["attributes.issued_at", "issued_at", "created_at"],
    "expires_on": ["attributes.expires_at", "valid_until", "expires_at"],
    "url": ["attributes.certificate_url", "url", "certificate_url"],
}

DEFAULTS: dict[str, Any] = {
    "PROCESSING": "inline",
    "MAX_BODY_SIZE": 1024 * 1024,
    "CERTIFICATE_FIELDS": {},
    "API_PERMISSION_CLASSES": ["django_seably.api.permissions.ModelPermissions"],
    "LINK_USERS": False,
    "LINKABLE_USERS": "django_seably.linking.active_users",
    "HEALTH_MAX_PENDING_AGE": datetime.timedelta(hours=1),
    "HEALTH_MAX_FAILED": None,
    "HEALTH_MAX_SILENCE": None,
}

PROCESSING_MODES = ("inline", "tasks")

_T = TypeVar("_T")


class SeablySettings:
    """Read ``settings.SEABLY`` once, until the settings change.

    As Django's own caches do, on ``setting_changed``; and whenever Django's
    settings object is another one, which ``override_settings`` (and pytest-django's
    ``settings`` fixture, also when it deletes a setting) make for each change.
    A request reads a dict instead of going through ``LazySettings`` each time.
    Values are validated by the system checks (``django_seably.checks``), not here.
    """

    def __init__(self) -> None:
        # What was read, from which settings object, and the values computed from it.
        self._state: tuple[object, dict[str, Any], dict[Callable[[], Any], Any]] | None = None

    def _read(self) -> tuple[object, dict[str, Any], dict[Callable[[], Any], Any]]:
        state = self._state
        # LazySettings keeps the settings object in _wrapped: every override replaces it.
        # (django-stubs types ``settings`` as the Settings it wraps.)
        if state is None or state[0] is not settings._wrapped:  # type: ignore[misc]
            project = getattr(settings, "SEABLY", {})
            state = self._state = (settings._wrapped, project, {})  # type: ignore[misc]
        return state

    def _get(self, key: str) -> Any:
        return self._read()[1].get(key, DEFAULTS[key])

    def computed(self, compute: Callable[[], _T]) -> _T:
        """Return ``compute()``, computed once until the settings change (e.g. a compiled mapping)."""
        values = self._read()[2]
        if compute not in values:
            values[compute] = compute()
        return values[compute]  # type: ignore[no-any-return]

    def reload(self) -> None:
        """Forget what was read: the next access reads ``settings.SEABLY`` again."""
        self._state = None

    @property
    def PROCESSING(self) -> str:
        return self._get("PROCESSING")  # type: ignore[no-any-return]

    @property
    def MAX_BODY_SIZE(self) -> int:
        return self._get("MAX_BODY_SIZE")  # type: ignore[no-any-return]

    @property
    def CERTIFICATE_FIELDS(self) -> dict[str, list[str | list[str]]]:
        """Return the default mapping with the project's overrides applied."""
        return {**DEFAULT_CERTIFICATE_FIELDS, **self._get("CERTIFICATE_FIELDS")}

    @property
    def API_PERMISSION_CLASSES(self) -> list[str]:
        """Return the dotted paths of the permission classes that guard the API (``django_seably.api``)."""
        return list(self._get("API_PERMISSION_CLASSES"))

    @property
    def LINK_USERS(self) -> bool:
        return bool(self._get("LINK_USERS"))

    @property
    def LINKABLE_USERS(self) -> str:
        """Return the dotted path of the callable returning the users certificates may be linked to."""
        return self._get("LINKABLE_USERS")  # type: ignore[no-any-return]

    @property
    def HEALTH_MAX_PENDING_AGE(self) -> datetime.timedelta | None:
        """How long the oldest pending event may wait before the health check fails (None: not checked)."""
        return self._get("HEALTH_MAX_PENDING_AGE")  # type: ignore[no-any-return]

    @property
    def HEALTH_MAX_FAILED(self) -> int | None:
        """Failed events tolerated by the health check (None: not checked)."""
        return self._get("HEALTH_MAX_FAILED")  # type: ignore[no-any-return]

    @property
    def HEALTH_MAX_SILENCE(self) -> datetime.timedelta | None:
        """How long an active endpoint may receive nothing before the health check fails (None: not checked)."""
        return self._get("HEALTH_MAX_SILENCE")  # type: ignore[no-any-return]


seably_settings = SeablySettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "SEABLY":
        seably_settings.reload()


setting_changed.connect(_reload, dispatch_uid="django_seably.conf")
