"""seably_reprocess --failed --max-attempts N: bounded retries for cron."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_seably.models import WebhookEvent
from tests.factories import WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db

_deliveries = itertools.count()


def run(*args: Any) -> str:
    out = io.StringIO()
    call_command("seably_reprocess", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def unprocessable(**kwargs: Any) -> WebhookEvent:
    """A failed certificate.created without payload.data: it fails whenever processed."""
    payload = {"event": "certificate.created", "payload": {}, "delivery": next(_deliveries)}
    return WebhookEventFactory.create(failed=True, payload=payload, object_type=None, object_id=None, **kwargs)


def test_takes_only_failed_events_with_fewer_attempts():
    young = unprocessable(attempts=1)
    old = unprocessable(attempts=3)
    fixable = WebhookEventFactory.create(failed=True, attempts=2, payload=certificate_body("SB-1"))

    output = run("--failed", "--max-attempts", "3")

    assert output == "Reprocessed 2 events: 1 processed, 1 failed, 0 invalid, 0 skipped.\n"
    young.refresh_from_db()
    old.refresh_from_db()
    fixable.refresh_from_db()
    assert (young.status, young.attempts) == ("failed", 2)
    assert (old.status, old.attempts) == ("failed", 3)
    assert (fixable.status, fixable.attempts) == ("processed", 3)


def test_cron_runs_end_after_n_attempts():
    event = unprocessable(attempts=1)

    outputs = [run("--failed", "--max-attempts", "3") for _ in range(4)]

    assert outputs == [
        "Reprocessed 1 event: 0 processed, 1 failed, 0 invalid, 0 skipped.\n",
        "Reprocessed 1 event: 0 processed, 1 failed, 0 invalid, 0 skipped.\n",
        "Reprocessed 0 events: 0 processed, 0 failed, 0 invalid, 0 skipped.\n",
        "Reprocessed 0 events: 0 processed, 0 failed, 0 invalid, 0 skipped.\n",
    ]
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 3)


def test_pending_events_are_not_limited():
    pending = WebhookEventFactory.create(payload=certificate_body("SB-1"), attempts=5)
    unprocessable(attempts=5)

    output = run("--failed", "--pending", "--max-attempts", "2")

    assert output == "Reprocessed 1 event: 1 processed, 0 failed, 0 invalid, 0 skipped.\n"
    pending.refresh_from_db()
    assert pending.status == "processed"


def test_events_named_by_id_are_not_limited():
    event = unprocessable(attempts=5)

    output = run("--failed", "--max-attempts", "2", "--id", str(event.pk))

    assert output == "Reprocessed 1 event: 0 processed, 1 failed, 0 invalid, 0 skipped.\n"


@pytest.mark.parametrize("value", ["0", "-2"])
def test_max_attempts_must_be_positive(value):
    with pytest.raises(CommandError) as error:
        run("--failed", "--max-attempts", value)

    assert str(error.value) == "--max-attempts must be 1 or more."


@pytest.mark.parametrize("other", [["--pending"], ["--invalid"], ["--id", "1"], []])
def test_max_attempts_needs_failed(other):
    with pytest.raises(CommandError) as error:
        run(*other, "--max-attempts", "3")

    assert str(error.value) == "--max-attempts limits --failed: use them together."
