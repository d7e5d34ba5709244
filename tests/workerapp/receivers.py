"""Receivers for the worker processes, steered by flags in the certificate's attributes the test sends.

- ``"fail_once": true``: ``webhook_received`` raises the first time it sees the event, and
  only then: the fact is kept in ``Memo`` on the ``memo`` connection, which commits at once,
  outside the processing transaction that the failure rolls back.
- ``"block": true``: the first run records ``started:<id>`` in ``Memo`` and then waits (at
  most ``BLOCK_SECONDS``) for ``release:<id>``, so a test can kill the worker mid-task;
  later runs go straight through.
- ``"slow": true``: sleeps ``SLOW_SECONDS``, so two workers running one event overlap.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import IntegrityError

from django_seably.payloads import object_data
from tests.workerapp.models import Memo, SignalRecord

MEMO_DB = "memo"
BLOCK_SECONDS = 60.0
SLOW_SECONDS = 0.05


class FailOnce(Exception):
    """The failure a fail_once event gets on its first attempt."""


def _flags(event: Any) -> tuple[str, dict[str, Any]]:
    """Return the certificate's id and its attributes (where certificate_body puts the test's flags)."""
    data = object_data(event.payload) or {}
    attributes = data.get("attributes")
    return str(data.get("id", "")), attributes if isinstance(attributes, dict) else {}


def remember(key: str) -> bool:
    """Record ``key`` for good (its own connection, autocommit); True only for the first caller."""
    try:
        Memo.objects.using(MEMO_DB).create(key=key)
    except IntegrityError:
        return False
    return True


def recalls(key: str) -> bool:
    return bool(Memo.objects.using(MEMO_DB).filter(key=key).exists())


def on_webhook_received(sender: Any, event: Any, **kwargs: Any) -> None:
    seably_id, data = _flags(event)
    SignalRecord.objects.create(signal="webhook_received", event_id=event.pk, seably_id=seably_id, pid=os.getpid())
    if data.get("fail_once") and remember(f"failed:{seably_id}"):
        raise FailOnce(f"{seably_id} fails on its first attempt")
    if data.get("block") and remember(f"started:{seably_id}"):
        deadline = time.monotonic() + BLOCK_SECONDS
        for _poll in range(int(BLOCK_SECONDS / 0.05)):
            if recalls(f"release:{seably_id}") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    if data.get("slow"):
        time.sleep(SLOW_SECONDS)


def on_certificate_created(sender: Any, event: Any, certificate: Any, **kwargs: Any) -> None:
    SignalRecord.objects.create(
        signal="certificate_created", event_id=event.pk, seably_id=certificate.seably_id, pid=os.getpid()
    )
