"""django_seably.batching: keyset batches by primary key, and progress at the command's verbosity."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management.base import OutputWrapper
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_seably.batching import Progress, batches, id_batches
from django_seably.models import WebhookEvent
from django_seably.processing import process_event
from django_seably.signals import webhook_received
from tests.factories import WebhookEventFactory

Status = WebhookEvent.Status


@pytest.mark.django_db
class TestBatches:
    def test_every_row_once_in_primary_key_order(self):
        events = WebhookEventFactory.create_batch(7)

        walked = list(batches(WebhookEvent.objects.all(), batch_size=3))

        assert [[event.pk for event in batch] for batch in walked] == [
            [e.pk for e in events[0:3]],
            [e.pk for e in events[3:6]],
            [events[6].pk],
        ]

    def test_id_batches_yield_the_keys(self):
        events = WebhookEventFactory.create_batch(4)

        assert list(id_batches(WebhookEvent.objects.all(), batch_size=2)) == [
            [events[0].pk, events[1].pk],
            [events[2].pk, events[3].pk],
        ]

    def test_one_query_per_batch_each_after_the_last_key(self):
        WebhookEventFactory.create_batch(6)

        with CaptureQueriesContext(connection) as queries:
            walked = list(id_batches(WebhookEvent.objects.all(), batch_size=3))

        sql = [query["sql"] for query in queries]
        assert len(walked) == 2
        assert len(sql) == 1 + 3  # the last id, two full batches, and the empty read after a full one
        assert "MAX(" in sql[0]
        assert all("LIMIT 3" in query and "ORDER BY" in query for query in sql[1:])
        assert '"id" > ' in sql[2] and '"id" > ' in sql[3]

    def test_nothing_to_walk(self):
        with CaptureQueriesContext(connection) as queries:
            assert list(batches(WebhookEvent.objects.all(), batch_size=10)) == []
        assert len(queries) == 1

    def test_rows_added_during_the_walk_are_left_out(self):
        first = WebhookEventFactory.create_batch(2)
        seen = []
        for batch in id_batches(WebhookEvent.objects.all(), batch_size=1):
            seen.extend(batch)
            WebhookEventFactory.create()  # a delivery arriving meanwhile: the walk does not grow

        assert seen == [event.pk for event in first]

    def test_last_id_bounds_the_walk(self):
        events = WebhookEventFactory.create_batch(5)

        walked = list(id_batches(WebhookEvent.objects.all(), batch_size=2, last_id=events[2].pk))

        assert walked == [[events[0].pk, events[1].pk], [events[2].pk]]

    def test_rows_that_leave_the_queryset_are_not_met_and_changes_are_read(self):
        events = WebhookEventFactory.create_batch(4, failed=True)
        WebhookEvent.objects.filter(pk=events[3].pk).update(last_error="changed meanwhile")
        walked = []
        for batch in batches(WebhookEvent.objects.filter(status=Status.FAILED), batch_size=2):
            walked.extend(batch)
            WebhookEvent.objects.filter(pk=events[2].pk).update(status=Status.PROCESSED)

        assert [event.pk for event in walked] == [events[0].pk, events[1].pk, events[3].pk]
        assert walked[-1].last_error == "changed meanwhile"

    def test_the_walk_is_bounded_even_if_keys_do_not_move_forward(self, monkeypatch):
        """A queryset that keeps answering the same rows (a bug, a custom manager) cannot loop forever."""
        WebhookEventFactory.create_batch(3)
        stuck = list(WebhookEvent.objects.order_by("pk")[:2])
        queryset_class = type(WebhookEvent.objects.all())
        monkeypatch.setattr(queryset_class, "__iter__", lambda self: iter(stuck))
        monkeypatch.setattr(queryset_class, "__getitem__", lambda self, key: self)

        walked = list(batches(WebhookEvent.objects.all(), batch_size=2, last_id=stuck[-1].pk + 1))

        assert len(walked) == (stuck[-1].pk + 1) // 2 + 2  # the bound, then it stops

    @pytest.mark.parametrize("size", [0, -1])
    def test_batch_size_must_be_positive(self, size):
        with pytest.raises(ValueError, match="batch_size must be 1 or more"):
            list(batches(WebhookEvent.objects.all(), batch_size=size))


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_held_between_batches():
    WebhookEventFactory.create_batch(4)

    states = [connection.in_atomic_block for _batch in id_batches(WebhookEvent.objects.all(), batch_size=2)]

    assert states == [False, False]


@pytest.mark.django_db(transaction=True)
def test_the_admin_actions_shape_each_event_commits_on_its_own():
    """What the admin's reprocess action needs: ids in batches, each event processed in its own transaction."""
    events = WebhookEventFactory.create_batch(5, failed=True)
    log: list[str] = []

    def on_received(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        log.append(f"process {event.pk}")
        transaction.on_commit(lambda: log.append(f"commit {event.pk}"))

    webhook_received.connect(on_received)
    try:
        for ids in id_batches(WebhookEvent.objects.filter(pk__in=[e.pk for e in events]), batch_size=2):
            for event in WebhookEvent.objects.filter(pk__in=ids).order_by("pk"):
                process_event(event)
    finally:
        webhook_received.disconnect(on_received)

    assert log == [line for event in events for line in (f"process {event.pk}", f"commit {event.pk}")]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def progress(verbosity: int, out: io.StringIO) -> Progress:
    return Progress(OutputWrapper(out), verbosity)


@pytest.mark.parametrize(
    ("verbosity", "stream", "expected"),
    [
        (0, io.StringIO, ""),
        (0, Terminal, ""),
        (1, io.StringIO, "Done.\n"),
        (1, Terminal, "\rbatch 1\x1b[K\rbatch 2\x1b[K\r\x1b[KDone.\n"),
        (2, io.StringIO, "batch 1\nbatch 2\nitem\nDone.\n"),
        (2, Terminal, "batch 1\nbatch 2\nitem\nDone.\n"),
    ],
)
def test_progress_at_each_verbosity(verbosity, stream, expected):
    out = stream()
    report = progress(verbosity, out)

    report.step("batch 1")
    report.step("batch 2")
    report.detail("item")
    report.summary("Done.")

    assert out.getvalue() == expected


@pytest.mark.parametrize("verbosity", [0, 1, 2])
def test_problems_go_to_stderr_at_every_verbosity_after_closing_the_progress_line(verbosity):
    terminal = Terminal()  # stdout and stderr on one terminal, as an operator sees them
    report = Progress(OutputWrapper(terminal), verbosity, stderr=OutputWrapper(terminal))

    report.step("batch 1")
    report.problem("line 4: invalid")
    report.summary("Done.")

    expected = {
        0: "line 4: invalid\n",
        1: "\rbatch 1\x1b[K\r\x1b[Kline 4: invalid\nDone.\n",
        2: "batch 1\nline 4: invalid\nDone.\n",
    }
    assert terminal.getvalue() == expected[verbosity]
