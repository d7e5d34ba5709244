"""Deployment checks (``manage.py check --deploy``): settings that make deliveries slow or fragile in production."""

from __future__ import annotations

import os
import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage
from django.core.checks import Warning as CheckWarning

from django_seably.checks.tasks import check_task_backend_runs_elsewhere


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
        warnings.extend(check_task_backend_runs_elsewhere())
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
