"""The task that processes an event when ``SEABLY["PROCESSING"] = "tasks"``.

It uses Django's tasks framework (``django.tasks`` on Django 6, the
``django-tasks`` backport on 5.2), so whatever backend the project configured
runs it. Enqueueing happens after the event is committed; if it fails, the
event stays ``pending`` and ``seably_reprocess --pending`` picks it up.
"""

from __future__ import annotations

import logging
from typing import Any

from django_seably.models import WebhookEvent

logger = logging.getLogger(__name__)

task: Any
try:
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django < 6.0
    try:
        from django_tasks import task  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        task = None


def process_event_by_id(event_id: int) -> str:
    """Process the event with this id; what the task runs."""
    from django_seably.processing import process_event

    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None:  # pruned, or never committed
        return "skipped"
    return process_event(event)


#: The task; None when no tasks framework is installed (a system check says so).
process_event_task: Any = None
if task is not None:
    # Workers import a task by its function's dotted path, so the task object
    # must be bound to the function's own name.
    @task()  # type: ignore[untyped-decorator,unused-ignore]
    def process_event_task(event_id: int) -> str:
        return process_event_by_id(event_id)


def enqueue(event: WebhookEvent) -> None:
    """Enqueue the processing of ``event``; on failure leave it pending for the sweep."""
    try:
        if process_event_task is None:
            raise RuntimeError("No tasks framework is installed (Django 6, or django-tasks).")
        process_event_task.enqueue(event.pk)
    except Exception:
        logger.exception(
            "Could not enqueue Seably event %s; it stays pending for `seably_reprocess --pending`.",
            event.pk,
        )
