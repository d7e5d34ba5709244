"""Which Seably ids the receivers fail, slow down or kill their worker for; no Django imports, so the runner can predict them.

A hash (or, for the exiting receiver, a suffix) of the id, not a counter: every
process (gunicorn workers, the reprocess command, the runner) reaches the same
answer without sharing any state. Whether a worker already died for an id is
the one shared fact, a file per id (see receivers.exit_once).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping

#: Environment variables that steer the receivers (read at call time: one settings module for every scenario).
FAIL_EVERY_ENV = "SEABLY_FAULTS_FAIL_EVERY"
SLOW_EVERY_ENV = "SEABLY_FAULTS_SLOW_EVERY"
SLOW_SECONDS_ENV = "SEABLY_FAULTS_SLOW_SECONDS"
#: The exiting receiver: ids ending in this suffix, once each, remembered as files in that directory.
EXIT_SUFFIX_ENV = "SEABLY_FAULTS_EXIT_SUFFIX"
EXIT_MARKERS_ENV = "SEABLY_FAULTS_EXIT_MARKERS"


def picked(object_id: str, every: int, salt: str) -> bool:
    """True for about one id in ``every``; never when ``every`` is 0."""
    return every > 0 and zlib.crc32(f"{salt}:{object_id}".encode()) % every == 0


def fail_every(env: Mapping[str, str] = os.environ) -> int:
    return int(env.get(FAIL_EVERY_ENV) or 0)


def slow_every(env: Mapping[str, str] = os.environ) -> int:
    return int(env.get(SLOW_EVERY_ENV) or 0)


def slow_seconds(env: Mapping[str, str] = os.environ) -> float:
    return float(env.get(SLOW_SECONDS_ENV) or 0.2)


def fails(object_id: str, env: Mapping[str, str] = os.environ) -> bool:
    """Whether the receiver raises for this certificate id (on each event's first attempt only)."""
    return picked(object_id, fail_every(env), "fail")


def sleeps(object_id: str, env: Mapping[str, str] = os.environ) -> bool:
    return picked(object_id, slow_every(env), "slow")


def exits(object_id: str, env: Mapping[str, str] = os.environ) -> bool:
    """Whether the receiver kills its worker for this certificate id (the first time only: see receivers)."""
    suffix = env.get(EXIT_SUFFIX_ENV) or ""
    return bool(suffix) and object_id.endswith(suffix)
