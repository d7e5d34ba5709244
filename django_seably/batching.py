"""Walking many rows: keyset batches by primary key, and progress at the command's verbosity.

Every command that walks a table (and the admin's reprocess action) goes
through ``batches``/``id_batches``: one short query per batch, on the primary
key index, with no cursor or transaction held while the caller works on a
batch, so each row can be handled in a transaction of its own and memory holds
one batch. ``Progress`` prints what a command did the way Django's own commands
do (``-v 0`` nothing, ``-v 1`` a summary, ``-v 2`` a line per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, OutputWrapper
from django.db.models import Max, Model, QuerySet

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def batches(queryset: QuerySet[M], *, batch_size: int, last_id: int | None = None) -> Iterator[list[M]]:
    """Yield the rows of ``queryset`` in primary key order, ``batch_size`` per query.

    Each query asks for the rows after the last one seen, so a row changed while
    the caller works is read as it is then, and a row leaving the queryset (say,
    an event no longer failed) is simply not met. Rows whose primary key is above
    ``last_id`` (by default the highest at the start) are left out: rows added
    during the walk do not prolong it, and the loop is bounded. Integer primary
    keys only.
    """
    return _walk(queryset, lambda row: row.pk, batch_size=batch_size, last_id=last_id)


def id_batches(queryset: QuerySet[Any], *, batch_size: int, last_id: int | None = None) -> Iterator[list[int]]:
    """Yield the primary keys of ``queryset``, as ``batches`` yields rows: for callers that load rows themselves.

    E.g. to lock a batch in a transaction of its own, or to process each row in one::

        for ids in id_batches(events, batch_size=100):
            for event in WebhookEvent.objects.filter(pk__in=ids).order_by("pk"):
                process_event(event)
    """
    keys = queryset.values_list("pk", flat=True)
    return _walk(keys, lambda key: key, batch_size=batch_size, last_id=last_id)


def _walk(
    queryset: QuerySet[Any, T], key: Callable[[T], int], *, batch_size: int, last_id: int | None
) -> Iterator[list[T]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, not {batch_size!r}.")
    if last_id is None:
        last_id = queryset.order_by().aggregate(last=Max("pk"))["last"]
        if last_id is None:
            return
    if not isinstance(last_id, int):
        raise TypeError(f"Keyset batches need integer primary keys, not {type(last_id).__name__}.")
    rows = queryset.filter(pk__lte=last_id).order_by("pk")
    after: int | None = None
    # Bounded: every batch but the last holds batch_size keys, each above the keys before it.
    for _batch in range(last_id // batch_size + 2):
        batch = list((rows if after is None else rows.filter(pk__gt=after))[:batch_size])
        if batch:
            yield batch
        if len(batch) < batch_size:
            return
        after = key(batch[-1])


class Progress:
    """Tell the operator what a command is doing, at its verbosity (``-v``).

    ``-v 0``: nothing but problems (on stderr). ``-v 1``: the summary and notes;
    on a terminal, also one progress line, rewritten after each batch and erased
    at the end. ``-v 2``: a line per batch as well.
    """

    def __init__(self, stdout: OutputWrapper, verbosity: int, stderr: OutputWrapper | None = None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.verbosity = verbosity
        self._line_open = False

    @classmethod
    def of(cls, command: BaseCommand, options: dict[str, Any]) -> Progress:
        """The progress of ``command`` run with ``options`` (what ``handle()`` receives)."""
        return cls(command.stdout, int(options.get("verbosity", 1)), command.stderr)

    def step(self, message: str) -> None:
        """Say how far a long walk has got (after a batch)."""
        if self.verbosity >= 2:
            self.stdout.write(message)
        elif self.verbosity == 1 and self.stdout.isatty():
            # "\r" goes back to the start of the line, "\x1b[K" erases what a longer line left.
            self.stdout.write(f"\r{message}\x1b[K", ending="")
            self.stdout.flush()
            self._line_open = True

    def detail(self, message: str) -> None:
        """Print what only ``-v 2`` asks for (e.g. each item a batch touched)."""
        if self.verbosity >= 2:
            self.stdout.write(message)

    def summary(self, message: str) -> None:
        """Print what the command did, or a note the operator should read (``-v 1`` and up)."""
        self._close_line()
        if self.verbosity >= 1:
            self.stdout.write(message)

    def problem(self, message: str) -> None:
        """Say on stderr, at every verbosity, what went wrong with one item (the command goes on)."""
        self._close_line()
        (self.stderr or self.stdout).write(message)

    def _close_line(self) -> None:
        if self._line_open:
            self.stdout.write("\r\x1b[K", ending="")
            self._line_open = False
