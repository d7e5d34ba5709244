"""dj-stripe's webhook view as a third receiver: its venv, its database and rows, signed bodies, row counts.

dj-stripe pins its own Django and stripe versions, so it runs from a venv of its
own (``.venvs/djstripe``, made here from PyPI with ``djstripe-requirements.txt``)
and a database of its own, served by gunicorn exactly as the other two receivers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import bodies
from benchmarks.load import REPO

VENV = REPO / ".venvs" / "djstripe"
REQUIREMENTS = Path(__file__).parent / "djstripe-requirements.txt"
SETTINGS = "benchmarks.djstripe_site.settings"
APPLICATION = "benchmarks.djstripe_site.wsgi:application"
PG_DATABASE = "seably_bench_djstripe"
#: New events a signed body file holds per second of load: far above what dj-stripe answers here.
BODIES_PER_SECOND = 3000


def ensure_venv(venv: Path = VENV) -> Path:
    """Create or update the venv when ``djstripe-requirements.txt`` changed; return its Python."""
    python = venv / "bin" / "python"
    stamp = venv / ".bench-stamp"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]
    subprocess.run(pip, check=True, timeout=900)
    stamp.write_text(wanted)
    return python


def version(python: Path) -> str:
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('dj-stripe'), m.version('django'))"]
    djstripe, django = subprocess.run(probe, capture_output=True, text=True, check=True, timeout=60).stdout.split()
    return f"dj-stripe {djstripe} with Django {django}"


def environment(db: str, workdir: Path, base: dict[str, str]) -> dict[str, str]:
    """The dj-stripe server's environment: its settings and its own database next to the benchmark's."""
    env = {**base, "DJANGO_SETTINGS_MODULE": SETTINGS}
    if db == "sqlite":
        env["BENCH_DJSTRIPE_SQLITE_PATH"] = str(workdir / "djstripe.sqlite3")
    else:
        env["BENCH_DJSTRIPE_PG_NAME"] = PG_DATABASE
    return env


def seed(python: Path, env: dict[str, str]) -> dict[str, Any]:
    """Migrate, create the Account, APIKey and WebhookEndpoint; return the URL path, secret and statement counts."""
    command = [str(python), "-m", "benchmarks.djstripe_site.seed"]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{command} failed: {completed.stdout}\n{completed.stderr}")
    seeded: dict[str, Any] = json.loads(lines[-1])
    return seeded


def counts(env: dict[str, str]) -> dict[str, int]:
    """dj-stripe's events and webhook triggers (one per delivery), read with the driver, not its models."""
    queries = {
        "djstripe-events": "SELECT COUNT(*) FROM djstripe_event",
        "djstripe-deliveries": "SELECT COUNT(*) FROM djstripe_webhookeventtrigger",
    }
    if "BENCH_DJSTRIPE_SQLITE_PATH" in env:
        import sqlite3

        connection = sqlite3.connect(env["BENCH_DJSTRIPE_SQLITE_PATH"], timeout=20)
        try:
            return {name: connection.execute(sql).fetchone()[0] for name, sql in queries.items()}
        finally:
            connection.close()
    import psycopg

    with psycopg.connect(dbname=env["BENCH_DJSTRIPE_PG_NAME"]) as pg:
        return {name: _first(pg.execute(sql).fetchone()) for name, sql in queries.items()}


def _first(row: tuple[Any, ...] | None) -> int:
    assert row is not None
    return int(row[0])


def signed_bodies(target: Path, secret: str, mode: str, seconds: float, tag: str) -> Path:
    """Write ``signature<TAB>body`` lines for wrk's "signed" mode, signed now (Stripe's tolerance is 5 minutes).

    "new": a new event id per line, more lines than the round can send; "fixed":
    one line, the same event every time (dj-stripe deduplicates by event id).
    """
    now = int(time.time())
    count = 1 if mode == "fixed" else max(1000, int(seconds * BODIES_PER_SECOND))
    with target.open("wb") as out:
        for number in range(count):
            body = bodies.stripe_event("evt_duplicate" if mode == "fixed" else f"evt_{tag}_{os.getpid()}_{number}")
            out.write(bodies.stripe_signature(secret, body, now).encode() + b"\t" + body + b"\n")
    return target
