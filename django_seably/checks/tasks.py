"""System checks for ``SEABLY["PROCESSING"] = "tasks"``: can the tasks framework run our task, and elsewhere?"""

from __future__ import annotations

import importlib

from django.core.checks import CheckMessage, Error
from django.core.checks import Warning as CheckWarning


def check_tasks() -> list[CheckMessage]:
    """Check that the tasks framework can run our task, in the order an operator would fix things.

    The task is validated here, against TASKS as it is now, rather than when
    its module was imported (see django_seably.tasks.Task).
    """
    try:
        from django_seably import tasks
    except ImportError:  # only for want of a framework: the module imports whatever TASKS says
        return [
            Error(
                'SEABLY["PROCESSING"] is "tasks" but no tasks framework is installed.',
                hint='Use Django 6, or install django-tasks (pip install "django-seably[tasks]"), '
                'or set PROCESSING to "inline".',
                id="django_seably.E007",
            )
        ]
    task = tasks.process_event_task
    try:
        backend = task.get_backend()
    except Exception as error:
        return [
            Error(
                f'SEABLY["PROCESSING"] is "tasks" but the task backend "{task.backend}" is not usable: {error}',
                hint=f'Configure TASKS["{task.backend}"] with a backend that has workers and run them '
                '(docs/deploying.md, "Processing in tasks"), or set PROCESSING to "inline".',
                id="django_seably.E008",
            )
        ]
    try:
        backend.validate_task(task)
    except Exception as error:
        return [
            Error(
                f'SEABLY["PROCESSING"] is "tasks" but the task backend "{task.backend}" '
                f"({type(backend).__name__}) cannot run django_seably's task: {error}",
                hint="The task is a synchronous module-level function with the default priority on the queue "
                f'"{task.queue_name}": add "{task.queue_name}" to TASKS["{task.backend}"]["QUEUES"] '
                "(or leave QUEUES out).",
                id="django_seably.E009",
            )
        ]
    if _is_backend_of(backend, "dummy", "DummyBackend"):
        return [
            CheckWarning(
                f'SEABLY["PROCESSING"] is "tasks" but the task backend "{task.backend}" is the DummyBackend, '
                "which stores tasks and never runs them: events stay pending.",
                hint="Fine in tests. Elsewhere configure a backend with workers (docs/deploying.md, "
                '"Processing in tasks"), or process events with `seably_reprocess --pending`.',
                id="django_seably.W010",
            )
        ]
    return []


def check_task_backend_runs_elsewhere() -> list[CheckMessage]:
    """Warn when "tasks" processing runs in the request after all (the DummyBackend is check W010)."""
    try:
        from django_seably import tasks

        task = tasks.process_event_task
        backend = task.get_backend()
    except Exception:
        return []  # E007-E009 say what is wrong
    if not _is_backend_of(backend, "immediate", "ImmediateBackend"):
        return []
    return [
        CheckWarning(
            f'SEABLY["PROCESSING"] is "tasks" but the task backend "{task.backend}" is the ImmediateBackend, '
            "which runs each task in the request that enqueues it: processing is inline after all, "
            "with the cost of a task.",
            hint='Use a backend with workers (docs/deploying.md, "Processing in tasks"), or set PROCESSING to "inline".',
            id="django_seably.W014",
        )
    ]


def _is_backend_of(backend: object, module: str, class_name: str) -> bool:
    """True if ``backend`` is ``class_name`` (or a subclass) of ``backends.<module>`` in either task framework."""
    for package in ("django.tasks", "django_tasks"):
        try:
            backend_class = getattr(importlib.import_module(f"{package}.backends.{module}"), class_name)
        except ImportError:
            continue
        if isinstance(backend, backend_class):
            return True
    return False
