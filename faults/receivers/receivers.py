"""Receivers that record every signal, and fail or sleep for some ids when the environment asks (see rules).

The failing receiver raises on an event's first attempt only. That fact must
survive the rollback its own exception causes, so it is not written by the
receiver: it is the event's ``attempts`` column, which the app itself commits
(1 when the event is stored and processed inline, 2 on the first reprocess).
Reading it needs no second connection, which SQLite's single writer would block.

The exiting receiver kills its own process (``os._exit``: no cleanup, no
rollback sent, as a crash or the OOM killer would) in the middle of processing,
once per chosen certificate id. Its memory of having done so must survive the
rollback and the process, so it is a file per id, created atomically
(``O_EXCL``): whoever creates it dies, everyone after lets the event through.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django_seably.models import WebhookEvent
from faults.receivers import rules
from faults.receivers.models import SignalRecord


class InjectedFailure(Exception):
    """What the failing receiver raises: the suite's own fault, told apart from real errors in the logs."""


def on_webhook_received(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
    object_id = event.object_id or ""
    SignalRecord.objects.create(kind="webhook_received", object_id=object_id, event_id=event.pk)
    if rules.sleeps(object_id):
        time.sleep(rules.slow_seconds())
    if event.event_type == "certificate.created" and rules.exits(object_id):
        exit_once(object_id)
    if event.event_type == "certificate.created" and rules.fails(object_id):
        attempts = WebhookEvent.objects.filter(pk=event.pk).values_list("attempts", flat=True).first()
        if attempts == 1:
            raise InjectedFailure(f"injected failure for {object_id} on its first attempt")


def on_certificate_created(sender: Any, event: WebhookEvent, certificate: Any, **kwargs: Any) -> None:
    SignalRecord.objects.create(kind="certificate_created", object_id=certificate.seably_id, event_id=event.pk)


#: The status the exiting receiver's worker exits with (gunicorn logs it).
EXIT_STATUS = 17


def exit_once(object_id: str) -> None:
    """End this process at once, unless a process already did for ``object_id``."""
    marker = Path(os.environ[rules.EXIT_MARKERS_ENV]) / object_id
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(EXIT_STATUS)
