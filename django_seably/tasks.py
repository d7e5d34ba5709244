"""The task that processes an event when ``SEABLY["PROCESSING"] = "tasks"``.

It uses Django's tasks framework (``django.tasks`` on Django 6, the
``django-tasks`` backport on 5.2), so whatever backend the project configured
runs it, on any machine. Enqueueing happens after the event is committed; if it
fails, or a worker dies mid-task, the event stays ``pending`` and
``seably_reprocess --pending --older-than MINUTES`` picks it up: the stored event,
not the queue, is the source of truth, so a lost task never loses an event.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from django_seably.models import WebhookEvent

logger = logging.getLogger(__name__)

#: The tasks framework in use: ``django.tasks`` (Django 6) or ``django_tasks``
#: (the backport); None when neither is installed (system check E007).
framework: ModuleType | None
try:
    framework = importlib.import_module("django.tasks")
except ImportError:  # Django < 6.0
    try:
        framework = importlib.import_module("django_tasks")
    except ImportError:
        framework = None

#: Why the task could not be created when this module was imported (the
#: backend it needs is not configured, or refuses it), for the system checks;
#: "" when it was created or there is no framework.
task_error = ""


def process_event_by_id(event_id: int) -> str:
    """Process the event with this id if it is still pending; what the task runs.

    Only a pending event is this task's business. A failed one waits for an
    operator (``seably_reprocess --failed``, the admin action), so a backend
    that retries or redelivers a task never re-runs receivers behind their
    back; a processed, invalid or pruned one has nothing left to do. Two runs
    at once are safe: ``process_event`` claims the event with a conditional
    UPDATE, so only one of them runs the receivers.
    """
    from django_seably.processing import process_event

    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None or event.status != WebhookEvent.Status.PENDING:
        return "skipped"
    return process_event(event, only_pending=True)


#: The task; None when there is no tasks framework or it could not be created
#: (the system checks say which and why).
process_event_task: Any = None
if framework is not None:
    try:
        # Workers import a task by its function's dotted path
        # (django_seably.tasks.process_event_task), so the task object must be
        # bound to the function's own name, at module level. The decorator
        # validates the task against the backend it names, which raises here
        # when that backend is missing or refuses the task: that must not make
        # this module unimportable, only a system check error.
        @framework.task()  # type: ignore[untyped-decorator,unused-ignore]
        def process_event_task(event_id: int) -> str:
            return process_event_by_id(event_id)

    except Exception as error:
        task_error = f"{type(error).__name__}: {error}"


def enqueue(event: WebhookEvent) -> None:
    """Enqueue the processing of ``event``; on failure leave it pending for the sweep.

    Called after the event is committed, in the request: an exception here
    would turn Seably's 2xx for a safely stored event into a 500 and a resend.
    """
    try:
        if process_event_task is None:
            raise RuntimeError(task_error or "No tasks framework is installed (Django 6, or django-tasks).")
        process_event_task.enqueue(event.pk)
    except Exception:
        logger.exception(
            "Could not enqueue Seably event %s; it stays pending for `seably_reprocess --pending`.",
            event.pk,
        )
