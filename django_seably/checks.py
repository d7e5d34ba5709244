"""System checks for the ``SEABLY`` setting: each problem names the key and why."""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.utils.module_loading import import_string

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
    if "API_PERMISSION_CLASSES" in config:
        errors.extend(_check_api_permission_classes(config["API_PERMISSION_CLASSES"]))
    if "LINK_USERS" in config:
        errors.extend(_check_link_users(config["LINK_USERS"]))
    if "LINKABLE_USERS" in config:
        errors.extend(_check_linkable_users(config["LINKABLE_USERS"]))
    errors.extend(_check_health_thresholds(config))
    return errors


def _check_tasks() -> list[CheckMessage]:
    """Check that the tasks framework can run our task, in the order an operator would fix things.

    The task names its backend (``"default"``) and queue (``"default"``); both are
    looked up again here rather than trusted from import time, since TASKS may
    differ by now (tests, a management command with other settings).
    """
    from django_seably import tasks

    task = tasks.process_event_task
    if task is None and not tasks.task_error:
        return [
            Error(
                'SEABLY["PROCESSING"] is "tasks" but no tasks framework is installed.',
                hint='Use Django 6, or install django-tasks (pip install "django-seably[tasks]"), '
                'or set PROCESSING to "inline".',
                id="django_seably.E007",
            )
        ]
    assert tasks.framework is not None  # a task or its error implies a framework
    alias = task.backend if task is not None else tasks.framework.DEFAULT_TASK_BACKEND_ALIAS
    queue = task.queue_name if task is not None else tasks.framework.DEFAULT_TASK_QUEUE_NAME
    try:
        backend = tasks.framework.task_backends[alias]
    except Exception as error:
        return [
            Error(
                f'SEABLY["PROCESSING"] is "tasks" but the task backend "{alias}" is not usable: {error}',
                hint=f'Configure it in TASKS, e.g. TASKS = {{"{alias}": {{"BACKEND": '
                '"django_tasks_db.DatabaseBackend"}} and run its worker, or set PROCESSING to "inline".',
                id="django_seably.E008",
            )
        ]
    try:
        if task is None:
            raise ValueError(tasks.task_error)
        backend.validate_task(task)
    except Exception as error:
        return [
            Error(
                f'SEABLY["PROCESSING"] is "tasks" but the task backend "{alias}" '
                f"({type(backend).__name__}) cannot run django_seably's task: {error}",
                hint="The task is a synchronous module-level function with the default priority on the queue "
                f'"{queue}": add "{queue}" to TASKS["{alias}"]["QUEUES"] (or leave QUEUES out).',
                id="django_seably.E009",
            )
        ]
    if _is_dummy(backend):
        return [
            CheckWarning(
                f'SEABLY["PROCESSING"] is "tasks" but the task backend "{alias}" is the DummyBackend, '
                "which stores tasks and never runs them: events stay pending.",
                hint="Fine in tests. Elsewhere configure a backend that runs tasks (e.g. django-tasks-db and its "
                "db_worker, or the ImmediateBackend), or process events with `seably_reprocess --pending`.",
                id="django_seably.W010",
            )
        ]
    return []


def _is_dummy(backend: object) -> bool:
    """True for either framework's DummyBackend (or a subclass), which never runs a task."""
    for module in ("django.tasks.backends.dummy", "django_tasks.backends.dummy"):
        try:
            dummy = importlib.import_module(module).DummyBackend
        except ImportError:
            continue
        if isinstance(backend, dummy):
            return True
    return False


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


# The health check's thresholds (django_seably.health) and the deployment checks
# (manage.py check --deploy): E031-E032, W011-W014.


def _check_health_thresholds(config: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, unit, check_id in (
        ("HEALTH_MAX_PENDING_AGE", "minutes", "django_seably.E031"),
        ("HEALTH_MAX_FAILED", "failed events", "django_seably.E032"),
    ):
        value = config.get(key)
        if key in config and value is not None and not _is_count(value):
            errors.append(
                Error(
                    f'SEABLY["{key}"] must be None or an int of 0 or more ({unit}), not {value!r}.',
                    id=check_id,
                )
            )
    return errors


def check_deployment(**kwargs: Any) -> list[CheckMessage]:
    """Return a warning for each database or task setting that makes deliveries slow or fragile in production.

    Registered with ``deploy=True``: only ``manage.py check --deploy`` runs it. It reads
    settings (and a SQLite file's header) and opens no database connection.
    """
    from django.db import router

    from django_seably.models import Certificate, Endpoint, WebhookEvent

    warnings: list[CheckMessage] = []
    aliases = sorted({router.db_for_write(model) for model in (Endpoint, WebhookEvent, Certificate)})
    for alias in aliases:
        database = settings.DATABASES.get(alias, {})
        engine = str(database.get("ENGINE", ""))
        options = database.get("OPTIONS") or {}
        if "sqlite" in engine or "spatialite" in engine:
            warnings.extend(_check_sqlite(alias, database, options))
        elif "postgres" in engine or "postgis" in engine:
            warnings.extend(_check_postgresql(alias, options))
    config = getattr(settings, "SEABLY", {})
    if isinstance(config, dict) and config.get("PROCESSING") == "tasks":  # not a dict: E001
        warnings.extend(_check_task_backend_runs_elsewhere())
    return warnings


def _check_sqlite(alias: str, database: dict[str, Any], options: dict[str, Any]) -> list[CheckMessage]:
    name = str(database.get("NAME") or "")
    if name in ("", ":memory:") or "mode=memory" in name:
        return []  # an in-memory database has one connection: no concurrency to plan for
    warnings: list[CheckMessage] = []
    if str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        warnings.append(
            CheckWarning(
                f'The SQLite database "{alias}" does not set OPTIONS["transaction_mode"] = "IMMEDIATE": '
                'concurrent deliveries can fail with "database is locked" (a 503) instead of waiting their turn.',
                hint=f'In DATABASES["{alias}"]["OPTIONS"] set "transaction_mode": "IMMEDIATE" and a "timeout" '
                "(seconds), e.g. 20.",
                id="django_seably.W011",
            )
        )
    if not _sqlite_uses_wal(name, options):
        warnings.append(
            CheckWarning(
                f'The SQLite database "{alias}" is not in WAL mode: each delivery\'s write blocks every reader '
                "(the admin, the API) and readers block it.",
                hint=f'In DATABASES["{alias}"]["OPTIONS"] set "init_command": "PRAGMA journal_mode=WAL;" '
                "(the mode is then also kept in the file).",
                id="django_seably.W012",
            )
        )
    return warnings


_WAL_COMMAND = re.compile(r"journal_mode\s*=\s*'?wal\b", re.IGNORECASE)


def _sqlite_uses_wal(name: str, options: dict[str, Any]) -> bool:
    """True if ``init_command`` asks for WAL, or the file says it is in WAL mode already.

    WAL mode is stored in the file: bytes 18 and 19 of the header are 2
    (https://www.sqlite.org/fileformat.html#file_format_version_numbers). Reading them
    needs no connection, so the check neither creates nor locks the file.
    """
    if _WAL_COMMAND.search(str(options.get("init_command", ""))):
        return True
    try:
        with open(name.removeprefix("file:").split("?")[0], "rb") as file:
            header = file.read(20)
    except OSError:
        return False  # not created yet (migrate will): nothing sets WAL for it
    return header[18:20] == b"\x02\x02"


def _check_postgresql(alias: str, options: dict[str, Any]) -> list[CheckMessage]:
    if options.get("connect_timeout") or os.environ.get("PGCONNECT_TIMEOUT"):
        return []
    return [
        CheckWarning(
            f'The PostgreSQL database "{alias}" sets no OPTIONS["connect_timeout"]: while the server is '
            "unreachable, each delivery waits for the system's TCP timeout (minutes) before its 503, "
            "holding a web worker all that time.",
            hint=f'In DATABASES["{alias}"]["OPTIONS"] set "connect_timeout": 5 (seconds), or PGCONNECT_TIMEOUT '
            "in the environment.",
            id="django_seably.W013",
        )
    ]


def _check_task_backend_runs_elsewhere() -> list[CheckMessage]:
    """Warn when "tasks" processing runs in the request after all (the DummyBackend is check W010)."""
    from django_seably import tasks

    task = tasks.process_event_task
    if task is None or tasks.framework is None:
        return []  # E007-E009 say what is wrong
    try:
        backend = tasks.framework.task_backends[task.backend]
    except Exception:
        return []
    if not _is_immediate(backend):
        return []
    return [
        CheckWarning(
            f'SEABLY["PROCESSING"] is "tasks" but the task backend "{task.backend}" is the ImmediateBackend, '
            "which runs each task in the request that enqueues it: processing is inline after all, "
            "with the cost of a task.",
            hint='Use a backend with workers (e.g. django-tasks-db and its db_worker), or set PROCESSING to "inline".',
            id="django_seably.W014",
        )
    ]


def _is_immediate(backend: object) -> bool:
    for module in ("django.tasks.backends.immediate", "django_tasks.backends.immediate"):
        try:
            immediate = importlib.import_module(module).ImmediateBackend
        except ImportError:
            continue
        if isinstance(backend, immediate):
            return True
    return False
