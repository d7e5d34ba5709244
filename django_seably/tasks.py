"""The task that processes an event when ``SEABLY["PROCESSING"] = "tasks"``.

Any backend of Django's tasks framework runs it (``django.tasks`` on Django 6,
the django-tasks backport on 5.2). The stored event, not the queue, is the
source of truth: a task that is never enqueued or never finishes leaves its
event ``pending`` for ``seably_reprocess --pending`` (docs/deploying.md).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from django_seably.models import WebhookEvent

logger = logging.getLogger(__name__)

try:
    #: The tasks framework: Django 6's own, or the backport (``django-seably[tasks]``).
    framework = importlib.import_module("django.tasks")
except ImportError:
    try:
        framework = importlib.import_module("django_tasks")
    except ImportError as error:  # system check E007 says so before any delivery
        raise ImportError(
            'SEABLY["PROCESSING"] = "tasks" needs a tasks framework: Django 6, '
            'or pip install "django-seably[tasks]" (the django-tasks backport).'
        ) from error


class Task(importlib.import_module(f"{framework.__name__}.base").Task):  # type: ignore[misc]
    """The framework's Task, checked against its backend where it is used, not at import.

    The framework's ``@task`` looks the backend up and validates the task while
    this module is imported, so a TASKS setting the task cannot use would make
    the module (and the system checks that explain the problem) fail to import.
    Every backend validates a task when it enqueues it; ``enqueue()`` below and
    the system checks (E008, E009) do it explicitly.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        """Validate nothing yet: see the class docstring."""


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


def task(func: Callable[[int], str]) -> Any:
    """Declare ``func`` a task on the backend and queue ``"default"``, validated where it is used.

    Every field is given, as the framework's own ``@task`` does: Django 6.0's Task
    has no defaults for them.
    """
    base = importlib.import_module(f"{framework.__name__}.base")
    return Task(
        func=func,
        priority=base.DEFAULT_TASK_PRIORITY,
        backend=base.DEFAULT_TASK_BACKEND_ALIAS,
        queue_name=base.DEFAULT_TASK_QUEUE_NAME,
        run_after=None,
        takes_context=False,
    )


# Workers find a task by its function's dotted path, so the task is bound to the
# function's own name at module level: django_seably.tasks.process_event_task.
@task
def process_event_task(event_id: int) -> str:
    """Process one event; its only argument is the event's id (JSON, and nothing secret in a queue)."""
    return process_event_by_id(event_id)


def enqueue(event: WebhookEvent) -> None:
    """Enqueue the processing of ``event``; on failure log it once and leave the event pending.

    Called once the event is committed, in the request: an exception here would
    turn Seably's 2xx for a safely stored event into a 500 and a resend.
    """
    try:
        process_event_task.get_backend().validate_task(process_event_task)
        process_event_task.enqueue(event.pk)
    except Exception:
        logger.exception(
            "Could not enqueue Seably event %s; it stays pending for `seably_reprocess --pending`.",
            event.pk,
        )
