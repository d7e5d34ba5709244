"""System checks for the ``SEABLY`` setting: each problem names the key and why."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error

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
        errors.extend(_check_tasks())
    if "MAX_BODY_SIZE" in config and not _is_positive_int(config["MAX_BODY_SIZE"]):
        errors.append(
            Error(
                f'SEABLY["MAX_BODY_SIZE"] must be a positive int (bytes), not {config["MAX_BODY_SIZE"]!r}.',
                id="django_seably.E004",
            )
        )
    if "CERTIFICATE_FIELDS" in config:
        errors.extend(_check_certificate_fields(config["CERTIFICATE_FIELDS"]))
    return errors


def _check_tasks() -> list[CheckMessage]:
    from django_seably.tasks import process_event_task

    if process_event_task is None:
        return [
            Error(
                'SEABLY["PROCESSING"] is "tasks" but no tasks framework is installed.',
                hint='Use Django 6, or install django-tasks (pip install "django-seably[tasks]"), '
                'or set PROCESSING to "inline".',
                id="django_seably.E007",
            )
        ]
    return []


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


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
