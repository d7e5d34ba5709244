"""System checks for the ``SEABLY`` setting: each problem names the key and why."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from django_seably.checks.tasks import check_tasks
from django_seably.conf import DEFAULT_CERTIFICATE_FIELDS, DEFAULTS, PROCESSING_MODES


def check_settings(**kwargs: Any) -> list[CheckMessage]:
    """Return an error for every unknown key and every value of the wrong type."""
    config = getattr(settings, "SEABLY", {})
    if not isinstance(config, dict):
        return [
            Error(
                f"SEABLY must be a dict, not {type(config).__name__}.",
                hint="Set SEABLY = {} or remove it to use the defaults.",
                id="django_seably.E001",
            )
        ]
    errors: list[CheckMessage] = []
    for key in config:
        if key not in DEFAULTS:
            errors.append(
                Error(
                    f"SEABLY has unknown key {key!r}.",
                    hint=f"Valid keys: {', '.join(sorted(DEFAULTS))}.",
                    id="django_seably.E002",
                )
            )
    if "PROCESSING" in config and config["PROCESSING"] not in PROCESSING_MODES:
        errors.append(
            Error(
                f'SEABLY["PROCESSING"] must be "inline" or "tasks", not {config["PROCESSING"]!r}.',
                id="django_seably.E003",
            )
        )
    if config.get("PROCESSING") == "tasks":
        errors.extend(check_tasks())
    if "MAX_BODY_SIZE" in config and not _is_positive_int(config["MAX_BODY_SIZE"]):
        errors.append(
            Error(
                f'SEABLY["MAX_BODY_SIZE"] must be a positive int (bytes), not {config["MAX_BODY_SIZE"]!r}.',
                id="django_seably.E004",
            )
        )
    if "CERTIFICATE_FIELDS" in config:
        errors.extend(_check_certificate_fields(config["CERTIFICATE_FIELDS"]))
    if "API_PERMISSION_CLASSES" in config:
        errors.extend(_check_api_permission_classes(config["API_PERMISSION_CLASSES"]))
    if "LINK_USERS" in config:
        errors.extend(_check_link_users(config["LINK_USERS"]))
    if "LINKABLE_USERS" in config:
        errors.extend(_check_linkable_users(config["LINKABLE_USERS"]))
    errors.extend(_check_health_thresholds(config))
    return errors


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_certificate_fields(mapping: object) -> list[CheckMessage]:
    if not isinstance(mapping, dict):
        return [
            Error(
                f'SEABLY["CERTIFICATE_FIELDS"] must be a dict, not {type(mapping).__name__}.',
                hint='Map a column name to a list of paths, e.g. {"learner_email": ["user.email"]}.',
                id="django_seably.E005",
            )
        ]
    errors: list[CheckMessage] = []
    for column, paths in mapping.items():
        if column not in DEFAULT_CERTIFICATE_FIELDS:
            errors.append(
                Error(
                    f'SEABLY["CERTIFICATE_FIELDS"] has unknown column {column!r}.',
                    hint=f"Valid columns: {', '.join(DEFAULT_CERTIFICATE_FIELDS)}.",
                    id="django_seably.E006",
                )
            )
        elif not _is_path_list(paths):
            errors.append(
                Error(
                    f'SEABLY["CERTIFICATE_FIELDS"][{column!r}] must be a list of dotted paths '
                    f"(a path may itself be a list of paths to join), not {paths!r}.",
                    id="django_seably.E005",
                )
            )
    return errors


def _is_path(value: object) -> bool:
    return isinstance(value, str) and bool(value) and "" not in value.split(".")


def _is_path_list(value: object) -> bool:
    if not isinstance(value, list | tuple):
        return False
    return all(
        _is_path(item) or (isinstance(item, list | tuple) and bool(item) and all(_is_path(p) for p in item))
        for item in value
    )


def _check_api_permission_classes(paths: object) -> list[CheckMessage]:
    """Check the dotted paths only when the key is set: the default needs DRF, which is optional.

    Each path is imported here, at check time, so a typo fails ``manage.py check``
    instead of the API's first request (with a 500).
    """
    if not isinstance(paths, list | tuple) or not all(isinstance(path, str) and path for path in paths):
        return [
            Error(
                'SEABLY["API_PERMISSION_CLASSES"] must be a list of dotted paths to permission classes, '
                f"not {paths!r}.",
                hint='E.g. ["django_seably.api.permissions.ModelPermissions"] (the default).',
                id="django_seably.E020",
            )
        ]
    errors: list[CheckMessage] = []
    for path in paths:
        try:
            permission = import_string(path)
        except ImportError as error:
            errors.append(
                Error(
                    f'SEABLY["API_PERMISSION_CLASSES"] names {path!r}, which cannot be imported: {error}',
                    hint="Check the spelling, and that Django REST framework is installed "
                    '(pip install "django-seably[api]").',
                    id="django_seably.E021",
                )
            )
            continue
        try:
            # What DRF does with each entry on every request; a composition (IsAdminUser | X) is no class.
            is_permission = callable(getattr(permission(), "has_permission", None))
        except Exception:
            is_permission = False
        if not is_permission:
            errors.append(
                Error(
                    f'SEABLY["API_PERMISSION_CLASSES"] names {path!r}, which is not a DRF permission class.',
                    hint="Name a subclass of rest_framework.permissions.BasePermission "
                    "(or a module-level composition such as IsAdminUser | MyPermission).",
                    id="django_seably.E022",
                )
            )
    return errors


def _check_link_users(value: object) -> list[CheckMessage]:
    """Check the flag, and that linking has an email field to match (a custom user model may lack one)."""
    if not isinstance(value, bool):
        return [Error(f'SEABLY["LINK_USERS"] must be True or False, not {value!r}.', id="django_seably.E023")]
    if not value:
        return []
    user_model = get_user_model()
    field = user_model.get_email_field_name()
    try:
        user_model._meta.get_field(field)
    except FieldDoesNotExist:
        return [
            Error(
                f'SEABLY["LINK_USERS"] is on, but the user model {user_model._meta.label} has no field {field!r} '
                "to match learners' emails against.",
                hint="Set EMAIL_FIELD on the user model to its email field, or turn LINK_USERS off.",
                id="django_seably.E024",
            )
        ]
    return []


def _check_linkable_users(path: object) -> list[CheckMessage]:
    """Check that the path names a callable returning a queryset of the user model.

    It is called here (building a queryset runs no query), so a mistake fails
    ``manage.py check`` rather than the processing of a certificate.
    """
    if not isinstance(path, str) or not path:
        return [
            Error(
                f'SEABLY["LINKABLE_USERS"] must be a dotted path to a callable, not {path!r}.',
                hint='E.g. "django_seably.linking.active_users" (the default).',
                id="django_seably.E025",
            )
        ]
    try:
        function = import_string(path)
    except ImportError as error:
        return [
            Error(
                f'SEABLY["LINKABLE_USERS"] names {path!r}, which cannot be imported: {error}',
                hint="Check the spelling: a module path, a dot, and the callable's name.",
                id="django_seably.E026",
            )
        ]
    if not callable(function):
        return [
            Error(
                f'SEABLY["LINKABLE_USERS"] names {path!r}, which is not callable.',
                hint="Name a function that takes no arguments and returns a queryset of the user model.",
                id="django_seably.E027",
            )
        ]
    user_model = get_user_model()
    try:
        users = function()
    except Exception as error:
        problem = f"raises {type(error).__name__}: {error}"
    else:
        if isinstance(users, QuerySet) and users.model is user_model:
            return []
        problem = f"returns {type(users).__name__}"
    return [
        Error(
            f'SEABLY["LINKABLE_USERS"] names {path!r}, which {problem}, not a queryset of {user_model._meta.label}.',
            hint="Return e.g. get_user_model().objects.filter(is_active=True), unsliced.",
            id="django_seably.E028",
        )
    ]


def _check_health_thresholds(config: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, check_id, example in (
        ("HEALTH_MAX_PENDING_AGE", "django_seably.E031", "datetime.timedelta(hours=1)"),
        ("HEALTH_MAX_SILENCE", "django_seably.E034", "datetime.timedelta(days=1)"),
    ):
        value = config.get(key)
        if value is None or (isinstance(value, datetime.timedelta) and value >= datetime.timedelta()):
            continue
        if _is_count(value):
            # Before durations carried their unit, HEALTH_MAX_PENDING_AGE was in minutes.
            example = f"datetime.timedelta(minutes={value})"
        errors.append(
            Error(
                f'SEABLY["{key}"] must be None or a datetime.timedelta of 0 or more, not {value!r}.',
                hint=f'A duration carries its unit: e.g. "{key}": {example}.',
                id=check_id,
            )
        )
    value = config.get("HEALTH_MAX_FAILED")
    if value is not None and not _is_count(value):
        errors.append(
            Error(
                f'SEABLY["HEALTH_MAX_FAILED"] must be None or an int of 0 or more (failed events), not {value!r}.',
                id="django_seably.E032",
            )
        )
    return errors
