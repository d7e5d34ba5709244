"""Time ``seably_reprocess --failed`` over N failed events, and its peak RSS, in a child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.bodies import certificate
from benchmarks.load import REPO

CREATE_BATCH = 2000


def create_failed_events(count: int, tag: str) -> None:
    """Bulk-create ``count`` failed ``certificate.created`` events with valid payloads and distinct ids."""
    from django_seably.models import Endpoint, WebhookEvent
    from django_seably.payloads import fingerprint

    endpoint = Endpoint.objects.get(name="bench")
    for start in range(0, count, CREATE_BATCH):
        events = []
        for n in range(start, min(count, start + CREATE_BATCH)):
            seably_id = f"SB-R{tag}-{n:07d}"
            payload = certificate(seably_id)
            events.append(
                WebhookEvent(
                    endpoint=endpoint,
                    event_type="certificate.created",
                    object_type="certificate",
                    object_id=seably_id,
                    body=json.dumps(payload),
                    payload=payload,
                    headers={"Content-Type": "application/json"},
                    fingerprint=fingerprint(payload),
                    status=WebhookEvent.Status.FAILED,
                    attempts=1,
                    last_error="Traceback (most recent call last):\n  ...\nBoom: receiver exploded\n",
                )
            )
        WebhookEvent.objects.bulk_create(events)


def run_measured(command: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``command``; return its exit status, wall time, peak RSS (from wait4) and output."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                timed_out = True
                process.send_signal(signal.SIGKILL)
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
        output.seek(0)
        text = output.read().decode(errors="replace")
    return {
        "returncode": process.returncode,
        "seconds": seconds,
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # KiB on Linux
        "output": text.strip()[-2000:],
        "timed_out": timed_out,
    }


def measure(count: int, tag: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    from django.db import connections

    from django_seably.models import WebhookEvent

    started = time.perf_counter()
    create_failed_events(count, tag)
    created_seconds = time.perf_counter() - started
    failed_before = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count()
    connections.close_all()  # no open read snapshot or lock while the command runs
    result = run_measured([sys.executable, "-m", "django", "seably_reprocess", "--failed"], env, timeout)
    failed_after = WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count()
    result.update(
        events=count,
        create_seconds=created_seconds,
        failed_before=failed_before,
        failed_after=failed_after,
        events_per_second=count / result["seconds"] if not result["timed_out"] else None,
        ok=result["returncode"] == 0
        and failed_after == 0
        and f"Reprocessed {count:,} events: {count:,} processed" in result["output"],
    )
    return result
