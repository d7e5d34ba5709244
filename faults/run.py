"""The fault and load suite: gunicorn under load while the database stops, workers die and receivers fail or exit.

    .tox/faults/bin/python -m faults.run --db sqlite [--quick]
    scripts/with-postgres .tox/faults/bin/python -m faults.run --db both [--quick]   (what `make faults` runs)
    ... --server uvicorn   (gunicorn with uvicorn's worker, serving tests.asgi: the ASGI path)

Each scenario gets a fresh database (migrated, an endpoint created, by subprocesses),
gunicorn with three sync workers on 127.0.0.1, and a client of a few threads that
sends new, duplicate, updated, invalid and misaddressed deliveries while the
scenario breaks something. Afterwards the database is read directly and every
answer is checked against it. One table per scenario and database, then a verdict:
the exit status is 1 when anything was lost or duplicated, a 5xx other than 503
was answered, a request hung past HANG_BOUND, or a scenario's own check failed.
Every loop is bounded in count and in time; nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import random
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django

from faults import load, server
from faults.receivers import rules
from faults.server import Cluster
from faults.settings import CONNECT_TIMEOUT, SQLITE_BUSY_TIMEOUT
from faults.verify import Snapshot, Tally, merge_problems, snapshot, tally
from tests.servers import Database, Server

#: A request that takes longer than this has hung: PostgreSQL's connect_timeout plus a margin
#: for a loaded two-core machine; it is also gunicorn's --timeout, after which a silent worker is killed.
HANG_BOUND = float(CONNECT_TIMEOUT + 7)
#: Seconds the database stays down in the db-down scenario.
DOWN_SECONDS = 3.0
#: The failing receiver raises for one certificate id in FAIL_EVERY; the slow one sleeps for one in SLOW_EVERY.
FAIL_EVERY, SLOW_EVERY, SLOW_SECONDS = 20, 10, 0.2
#: The exiting receiver kills its worker once for each certificate id ending in EXIT_SUFFIX (ids are numbered
#: in order: one new certificate in 100), for at most EXIT_SECONDS of load (each death costs a worker's restart).
EXIT_SUFFIX, EXIT_SECONDS = "07", 10.0

PROFILES: dict[str, dict[str, Any]] = {
    # Load seconds per scenario, deliveries planned (an upper bound), client threads, workers killed.
    "full": {"seconds": 20.0, "deliveries": 4000, "threads": 8, "kills": 8},
    "quick": {"seconds": 5.0, "deliveries": 1500, "threads": 6, "kills": 3},
}

SQLITE_HAS_NO_SERVER = (
    "n/a on SQLite: there is no server to stop, the database is a file each process opens. Moving or locking "
    "the file is another fault (a worker would create an empty database, or wait for the lock), so the "
    "scenario runs on PostgreSQL only"
)


def say(message: str = "") -> None:
    print(message, flush=True)


# --- scenarios ---------------------------------------------------------------------


@dataclass
class Context:
    """What a disruption and a scenario's checks see of the run."""

    vendor: str
    profile: dict[str, Any]
    server: Server
    cluster: Cluster | None
    start: float
    stop: threading.Event
    #: The scenario's own environment variables (what steers the receivers).
    env: dict[str, str] = field(default_factory=dict)
    timeline: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def now(self) -> float:
        """Seconds since the load started (the clock of every load.Result.started)."""
        return time.monotonic() - self.start


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    env: dict[str, str] = field(default_factory=dict)
    #: Runs in a thread beside the load: breaks things, bounded; records what it did in ctx.timeline.
    disrupt: Callable[[Context], None] | None = None
    #: A management command run after the load (the sweep), and what it must report.
    sweep: tuple[str, ...] = ()
    #: Extra problems, from the results, the rows before the sweep and after it, the sweep's output.
    check: Callable[[Context, Sequence[load.Result], Snapshot, Snapshot, str, Tally], list[str]] | None = None
    postgres_only: str = ""
    #: The load lasts at least this long, so that it goes on after a disruption ends; and at most max_seconds (0: the
    #: profile's seconds).
    min_seconds: float = 0.0
    max_seconds: float = 0.0
    #: The scenario gets a directory of its own for the exiting receiver's markers (rules.EXIT_MARKERS_ENV).
    exit_markers: bool = False


def disrupt_db_down(ctx: Context) -> None:
    """A third of the way into the load, stop the cluster as a crash would, keep it down DOWN_SECONDS, start it."""
    assert ctx.cluster is not None
    if ctx.stop.wait(ctx.profile["seconds"] / 3):
        return
    ctx.timeline["stopping"] = ctx.now()
    try:
        ctx.cluster.stop_immediately()
        ctx.timeline["down"] = ctx.now()
        time.sleep(DOWN_SECONDS)
    finally:
        ctx.timeline["starting"] = ctx.now()
        ctx.cluster.start()
        ctx.timeline["up"] = ctx.now()


def check_db_down(
    ctx: Context, results: Sequence[load.Result], before: Snapshot, after: Snapshot, output: str, t: Tally
) -> list[str]:
    timeline = ctx.timeline
    if "up" not in timeline:
        return [f"the database was not stopped and started as planned: {timeline}"]
    down, starting, up = timeline["down"], timeline["starting"], timeline["up"]
    during = [r for r in results if down <= r.started and r.started + r.latency <= starting]
    after_up = [r for r in results if r.started >= up]
    t.notes.append(
        f"database stopped at {timeline['stopping']:.1f} s (down at {down:.1f} s), started at {starting:.1f} s, "
        f"accepting again at {up:.1f} s"
    )
    t.notes.append(
        f"answered while it was down: {dict(Counter(str(r.status) for r in during))}; "
        f"after it came back: {dict(Counter(str(r.status) for r in after_up))}"
    )
    # Store first: an event committed just before the server stopped is answered 2xx and left pending.
    t.notes.append(f"pending before the sweep: {before.count('pending')}; sweep: {output.strip()}")
    problems = []
    if not any(r.status == 503 for r in during):
        problems.append("no 503 while the database was down")
    if any(r.ok for r in during):
        problems.append("a 2xx was answered while the database was down")
    if not any(r.ok for r in after_up):
        problems.append("no 2xx after the database came back")
    return problems


def disrupt_sigkill(ctx: Context) -> None:
    """Every second, SIGKILL one gunicorn worker (the master respawns it); ``kills`` times."""
    rng = random.Random(ctx.seed)
    kills: list[tuple[float, int]] = []
    ctx.timeline["kills"] = kills
    if ctx.stop.wait(1.5):
        return
    for _kill in range(ctx.profile["kills"]):
        pids = server.worker_pids(ctx.server)
        if pids:
            pid = rng.choice(pids)
            if server.kill_worker(ctx.server, pid):
                kills.append((ctx.now(), pid))
        if ctx.stop.wait(1.0):
            return


def check_sigkill(
    ctx: Context, results: Sequence[load.Result], before: Snapshot, after: Snapshot, output: str, t: Tally
) -> list[str]:
    kills = ctx.timeline.get("kills", [])
    t.notes.append(
        f"workers killed: {len(kills)} at {', '.join(f'{at:.1f}' for at, _ in kills)} s; "
        f"{ctx.timeline.get('workers_after', '?')} workers alive after the load"
    )
    # Store first: a kill during processing leaves its event pending (committed before), which the sweep finishes.
    t.notes.append(f"pending before the sweep: {before.count('pending')}; sweep: {output.strip()}")
    problems = []
    if len(kills) < ctx.profile["kills"]:
        problems.append(f"only {len(kills)} of {ctx.profile['kills']} workers were killed")
    if ctx.timeline.get("workers_after") != server.WORKERS:
        problems.append(f"gunicorn did not get back to {server.WORKERS} workers: {ctx.timeline.get('workers_after')}")
    return problems


def check_receivers(
    ctx: Context, results: Sequence[load.Result], before: Snapshot, after: Snapshot, output: str, t: Tally
) -> list[str]:
    valid_certificates = [
        event for event in before.events.values() if event.event_type == "certificate.created" and event.object_id
    ]
    expected_failed = {event.id for event in valid_certificates if rules.fails(event.object_id or "", ctx.env)}
    failed = {event.id for event in before.events.values() if event.status == "failed"}
    slow = sum(1 for event in before.events.values() if rules.sleeps(event.object_id or "", ctx.env))
    t.notes.append(
        f"after the load: {len(failed)} failed of {len(valid_certificates)} certificate events "
        f"(1 id in {FAIL_EVERY} fails on its first attempt); {slow} events slept {SLOW_SECONDS} s in a receiver"
    )
    t.notes.append(f"seably_reprocess --failed: {output.strip()}")
    problems = []
    if not expected_failed:
        problems.append("the load sent no certificate id that fails: nothing was tested")
    if failed != expected_failed:
        problems.append(
            f"failed events are not exactly those of the failing ids: {len(failed - expected_failed)} unexpected, "
            f"{len(expected_failed - failed)} not failed"
        )
    others = [e for e in before.events.values() if e.status not in ("failed", "invalid") and e.id not in failed]
    if any(e.status != "processed" for e in others):
        problems.append("an event of a non-failing id is not processed after the load")
    match = re.search(r"(\d+) processed, (\d+) failed", output)
    if not match or int(match.group(1)) != len(failed) or int(match.group(2)) != 0:
        problems.append(f"the reprocess did not process exactly the {len(failed)} failed events: {output.strip()}")
    attempts = Counter(after.events[pk].attempts for pk in failed if pk in after.events)
    if set(attempts) - {2}:
        problems.append(f"reprocessed events should have 2 attempts: {dict(attempts)}")
    return problems


def check_exit(
    ctx: Context, results: Sequence[load.Result], before: Snapshot, after: Snapshot, output: str, t: Tally
) -> list[str]:
    """Store first: every event whose receiver killed the worker was committed before, so it is left ``pending``.

    Nothing else leaves an event pending here (the retried delivery is a duplicate,
    answered without processing). The sweep must process exactly those, once.
    """
    died = {marker.name for marker in Path(ctx.env[rules.EXIT_MARKERS_ENV]).iterdir()}
    pending = {pk: event for pk, event in before.events.items() if event.status == "pending"}
    pending_ids = Counter(event.object_id for event in pending.values())
    t.notes.append(
        f"workers killed by os._exit in a receiver: {len(died)} (certificate ids ending in {EXIT_SUFFIX}, once each); "
        f"{ctx.timeline.get('workers_after', '?')} workers alive after the load"
    )
    t.notes.append(f"pending before the sweep: {len(pending)}; seably_reprocess --pending: {output.strip()}")
    problems = []
    if not died:
        problems.append("no receiver killed its worker: nothing was tested")
    if set(pending_ids) != died or any(n != 1 for n in pending_ids.values()):
        problems.append(
            f"the events left pending are not exactly one per killed worker (store first): {len(died)} killed, "
            f"pending: {len(pending)} events, {len(died - set(pending_ids))} killed ids without a pending event"
        )
    match = re.search(r"(\d+) processed, (\d+) failed", output)
    if not match or int(match.group(1)) != len(pending) or int(match.group(2)) != 0:
        problems.append(f"the sweep did not process exactly the {len(pending)} pending events: {output.strip()}")
    left = [pk for pk in pending if after.events[pk].status != "processed"]
    if left:
        problems.append(f"{len(left)} events still not processed after the sweep")
    if ctx.timeline.get("workers_after") != server.WORKERS:
        problems.append(f"gunicorn did not get back to {server.WORKERS} workers: {ctx.timeline.get('workers_after')}")
    return problems


SCENARIOS = [
    Scenario("load", "sustained load, new and duplicate deliveries mixed"),
    Scenario(
        "db-down",
        f"the database stopped (pg_ctl stop -m immediate) for {DOWN_SECONDS:.0f} s during load, then started; "
        "then the pending sweep",
        disrupt=disrupt_db_down,
        sweep=("seably_reprocess", "--pending"),
        check=check_db_down,
        postgres_only=SQLITE_HAS_NO_SERVER,
        # A lead, the time down, a crash recovery (seconds on a busy machine), then load on a live database again.
        min_seconds=DOWN_SECONDS + 11,
    ),
    Scenario(
        "sigkill",
        f"gunicorn workers killed with SIGKILL during load (a receiver sleeps {SLOW_SECONDS} s for 1 id in "
        f"{SLOW_EVERY}, so kills land inside transactions), then the pending sweep",
        # Sleeping inside the processing transaction makes a kill mid-transaction likely.
        env={rules.SLOW_EVERY_ENV: str(SLOW_EVERY), rules.SLOW_SECONDS_ENV: str(SLOW_SECONDS)},
        disrupt=disrupt_sigkill,
        sweep=("seably_reprocess", "--pending"),
        check=check_sigkill,
    ),
    Scenario(
        "receivers",
        f"a receiver raises for 1 id in {FAIL_EVERY} (first attempt only), another sleeps {SLOW_SECONDS} s "
        f"for 1 in {SLOW_EVERY}; then seably_reprocess --failed",
        env={
            rules.FAIL_EVERY_ENV: str(FAIL_EVERY),
            rules.SLOW_EVERY_ENV: str(SLOW_EVERY),
            rules.SLOW_SECONDS_ENV: str(SLOW_SECONDS),
        },
        sweep=("seably_reprocess", "--failed"),
        check=check_receivers,
    ),
    Scenario(
        "exit",
        f"a receiver kills its worker (os._exit) in the middle of processing, once for each certificate id ending "
        f"in {EXIT_SUFFIX}; the client retries; then seably_reprocess --pending",
        env={rules.EXIT_SUFFIX_ENV: EXIT_SUFFIX},
        sweep=("seably_reprocess", "--pending"),
        check=check_exit,
        max_seconds=EXIT_SECONDS,
        exit_markers=True,
    ),
]


# --- running one scenario ---------------------------------------------------------------------


@dataclass
class Outcome:
    vendor: str
    scenario: str
    tally: Tally | None
    seconds: float
    problems: list[str]
    skipped: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems


def run_scenario(
    vendor: str,
    scenario: Scenario,
    profile: dict[str, Any],
    workdir: Path,
    cluster: Cluster | None,
    seed: int,
    *,
    keep: bool = False,
) -> Outcome:
    began = time.monotonic()
    label = f"{vendor} · {scenario.name}"
    say(f"\n== {label}: {scenario.title}")
    database = server.database_for(vendor, workdir, scenario.name)
    database.create()
    try:
        return _run_scenario(vendor, scenario, profile, workdir, cluster, seed, database, began)
    except Exception as error:  # reported as this scenario's failure; the other scenarios still run
        say(f"   error: {error!r}")
        return Outcome(vendor, scenario.name, None, time.monotonic() - began, [f"the scenario did not run: {error!r}"])
    finally:
        try:
            if not (keep and vendor == "sqlite"):  # a kept SQLite file is there to be looked at
                database.drop()
        except Exception as error:  # the cluster may be down after a failed restart
            say(f"   could not drop the database: {error!r}")


def _run_scenario(
    vendor: str,
    scenario: Scenario,
    profile: dict[str, Any],
    workdir: Path,
    cluster: Cluster | None,
    seed: int,
    database: Database,
    began: float,
) -> Outcome:
    scenario_env = dict(scenario.env)
    if scenario.exit_markers:
        markers = workdir / f"{vendor}-{scenario.name}-exit-markers"
        markers.mkdir()
        scenario_env[rules.EXIT_MARKERS_ENV] = str(markers)
    env = server.django_env(vendor, database, scenario_env)
    path = server.prepare(env)
    deliveries = load.plan(secrets.token_hex(3), profile["deliveries"], seed)
    say(f"   database migrated and endpoint created in {time.monotonic() - began:.1f} s")
    problems: list[str] = []
    with server.gunicorn(env, workdir, path, f"{vendor}-{scenario.name}") as gunicorn_server:
        seconds = max(profile["seconds"], scenario.min_seconds)
        if scenario.max_seconds:
            seconds = min(seconds, scenario.max_seconds)
        say(f"   gunicorn up ({server.WORKERS} workers); {profile['threads']} client threads for {seconds:.0f} s")
        start = time.monotonic()
        ctx = Context(vendor, profile, gunicorn_server, cluster, start, threading.Event(), scenario_env, seed=seed)
        disruption = None
        if scenario.disrupt is not None:
            disruption = threading.Thread(target=_guarded, args=(scenario.disrupt, ctx, problems), daemon=True)
            disruption.start()
        try:
            results, wall = load.run_load(
                gunicorn_server.host,
                gunicorn_server.port,
                path,
                deliveries,
                threads=profile["threads"],
                seconds=seconds,
                start=start,
            )
        finally:
            ctx.stop.set()
            if disruption is not None:
                disruption.join(timeout=2 * server.PG_CTL_TIMEOUT + DOWN_SECONDS + 5)
                if disruption.is_alive():
                    problems.append("the disruption did not finish within its bound")
        ctx.timeline["workers_after"] = _settled_worker_count(gunicorn_server)
    log_text = gunicorn_server.stderr()
    before = snapshot(database)
    output = server.run_command(env, *scenario.sweep) if scenario.sweep else ""
    after = snapshot(database) if scenario.sweep else before
    t = tally(results, deliveries, after, hang_bound=HANG_BOUND, wall=wall)
    answers = Counter(r.answer for r in results if r.ok)
    t.notes.insert(0, f"2xx answers: {answers['accepted']} accepted, {answers['duplicate']} duplicate")
    if scenario.check is not None:
        problems.extend(scenario.check(ctx, results, before, after, output, t))
    problems.extend(_log_problems(log_text, t))
    problems = t.problems + problems
    seconds = time.monotonic() - began
    print_table(vendor, scenario, t, problems, seconds)
    return Outcome(vendor, scenario.name, t, seconds, problems)


def _guarded(disrupt: Callable[[Context], None], ctx: Context, problems: list[str]) -> None:
    try:
        disrupt(ctx)
    except Exception as error:  # the load goes on; the scenario fails
        problems.append(f"the disruption failed: {error!r}")


def _settled_worker_count(gunicorn_server: Server) -> int:
    """The number of workers once gunicorn has respawned the killed ones (waits at most ~10 s)."""
    count = 0
    for _poll in range(100):
        count = len(server.worker_pids(gunicorn_server))
        if count == server.WORKERS:
            return count
        time.sleep(0.1)
    return count


def _log_problems(text: str, t: Tally) -> list[str]:
    """What gunicorn's log says beyond the answers: Django's "Internal Server Error" records, workers killed."""
    counts = {
        "Database unavailable": text.count("Database unavailable; answered 503"),
        "Internal Server Error": text.count("Internal Server Error"),
        "WORKER TIMEOUT": text.count("WORKER TIMEOUT"),
        "injected receiver failures": text.count("InjectedFailure: injected failure"),
    }
    t.notes.append("gunicorn log: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    problems = []
    if counts["Internal Server Error"]:
        problems.append(f"{counts['Internal Server Error']} 'Internal Server Error' records in gunicorn's log")
    if counts["WORKER TIMEOUT"]:
        problems.append(f"gunicorn killed {counts['WORKER TIMEOUT']} silent workers (a request hung)")
    return problems


# --- output ---------------------------------------------------------------------


def print_table(vendor: str, scenario: Scenario, t: Tally, problems: list[str], seconds: float) -> None:
    rows = t.rows()
    width = max(len(name) for name, _ in rows)
    say(f"   {'-' * (width + 40)}")
    for name, value in rows:
        say(f"   {name:<{width}}  {value}")
    say(f"   {'-' * (width + 40)}")
    for note in t.notes:
        say(f"   · {note}")
    verdict = "PASS" if not problems else "FAIL"
    say(f"   {verdict} ({seconds:.0f} s)")
    for problem in merge_problems(problems):
        say(f"     ✗ {problem}")


def print_summary(outcomes: Sequence[Outcome], total: float) -> None:
    header = (
        "db",
        "scenario",
        "sent",
        "2xx",
        "4xx",
        "503",
        "5xx",
        "hung",
        "stored",
        "proc.",
        "certs",
        "signals",
        "lost",
        "dup.",
        "time",
        "verdict",
    )
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        if o.skipped:
            rows.append((o.vendor, o.scenario, *(["-"] * 13), "n/a"))
            continue
        t = o.tally
        numbers = (
            (t.requests, t.ok, t.client_errors, t.unavailable, t.other_5xx, t.hung, t.events, t.processed)
            + (t.certificates, t.signals, t.lost, t.duplicated)
            if t is not None
            else ("-",) * 12
        )
        rows.append((o.vendor, o.scenario, *map(str, numbers), f"{o.seconds:.0f}s", "PASS" if o.passed else "FAIL"))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    say("\n== Summary (a table per scenario above; lost and duplicated must be 0)")
    for row in (header, *rows):
        say(
            "   "
            + "  ".join(
                cell.rjust(width) if i > 1 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    for o in outcomes:
        if o.skipped:
            say(f"   {o.vendor} · {o.scenario}: {o.skipped}")
    failed = [o for o in outcomes if not o.passed]
    verdict = "PASS" if not failed else f"FAIL ({', '.join(f'{o.vendor} · {o.scenario}' for o in failed)})"
    say(f"\nfaults: {verdict} in {total:.0f} s")


# --- main ---------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faults.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="shorter loads (under 2 minutes for both databases)")
    parser.add_argument(
        "--scenario", action="append", choices=[s.name for s in SCENARIOS], help="only these (repeatable)"
    )
    parser.add_argument("--seed", type=int, default=None, help="the deliveries' seed (printed; random by default)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (gunicorn logs, SQLite databases)")
    parser.add_argument(
        "--server",
        choices=["gunicorn", "uvicorn"],
        default="gunicorn",
        help="gunicorn's sync workers (WSGI), or gunicorn with uvicorn's worker (ASGI, guard_webhooks)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    server.SERVER = options.server
    vendors = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    cluster = Cluster.from_environment()
    if "postgres" in vendors and not os.environ.get("PGHOST"):
        say("faults: PostgreSQL needs a server: run under scripts/with-postgres (make faults does), or use --db sqlite")
        return 2
    profile = PROFILES["quick" if options.quick else "full"]
    seed = options.seed if options.seed is not None else random.randrange(1 << 30)
    scenarios = [s for s in SCENARIOS if not options.scenario or s.name in options.scenario]
    versions = f"Python {platform.python_version()}, Django {django.get_version()}"
    say(
        f"faults: {versions}, gunicorn {importlib.metadata.version('gunicorn')} ({options.server} workers); "
        f"{'quick' if options.quick else 'full'} profile, seed {seed}"
    )
    say(
        f"        hang bound {HANG_BOUND:.0f} s (PostgreSQL connect_timeout {CONNECT_TIMEOUT} s + margin; gunicorn "
        f"--timeout {server.WORKER_TIMEOUT}); SQLite: WAL, IMMEDIATE, busy timeout {SQLITE_BUSY_TIMEOUT} s"
    )
    workdir = Path(tempfile.mkdtemp(prefix="seably-faults-"))
    began = time.monotonic()
    outcomes: list[Outcome] = []
    try:
        for vendor in vendors:
            for index, scenario in enumerate(scenarios):
                if scenario.postgres_only and vendor != "postgres":
                    outcomes.append(Outcome(vendor, scenario.name, None, 0.0, [], skipped=scenario.postgres_only))
                    continue
                if scenario.disrupt is disrupt_db_down and cluster is None:
                    missing = f"cannot stop the cluster: {', '.join(Cluster.ENV)} unset (scripts/with-postgres)"
                    outcomes.append(Outcome(vendor, scenario.name, None, 0.0, [missing]))
                    continue
                outcomes.append(
                    run_scenario(vendor, scenario, profile, workdir, cluster, seed + index, keep=options.keep)
                )
    finally:
        if options.keep:
            say(f"faults: work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_summary(outcomes, time.monotonic() - began)
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
