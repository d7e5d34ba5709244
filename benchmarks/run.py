"""Benchmark django_seably's webhook receiver against the reference receiver of its contract and dj-stripe's, on SQLite and PostgreSQL.

    .tox/faults/bin/python -m benchmarks.run [--quick]

See benchmarks/README.md. The top-level process runs one phase per database in a
child process (PostgreSQL's under ``scripts/with-postgres``, a throwaway cluster),
then prints the summary and writes ``docs/performance.md`` and ``docs/performance.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import bodies, djstripe, load
from benchmarks.load import REPO

PG_DATABASE = "seably_bench"

#: (name, number of rounds, seconds per round, warm-up seconds, reprocess sizes per database)
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"rounds": 4, "seconds": 6, "warmup": 2, "reprocess": {"sqlite": [10_000, 100_000], "postgres": [10_000]}},
    "quick": {"rounds": 3, "seconds": 2, "warmup": 1, "reprocess": {"sqlite": [10_000], "postgres": [2_000]}},
}


def log(message: str) -> None:
    print(message, flush=True)


# --- one database: the phase process ---------------------------------------------------------------------------


def run_phase(db: str, options: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"seably-bench-{db}-"))
    try:
        return _run_phase(db, options, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_phase(db: str, options: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="benchmarks.settings", BENCH_DB=db, PYTHONPATH=str(REPO))
    if db == "sqlite":
        env["BENCH_SQLITE_PATH"] = str(workdir / "bench.sqlite3")
    else:
        env["BENCH_PG_NAME"] = PG_DATABASE
        if options.pg_prepared:
            env["BENCH_PG_PREPARED"] = "1"
        _create_pg_database(PG_DATABASE)
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.reference.models import ReferenceEndpoint
    from django_seably.models import Endpoint

    call_command("migrate", verbosity=0)
    paths = {
        "ours": Endpoint.objects.create(name="bench").webhook_path,
        "reference": f"/reference/{ReferenceEndpoint.objects.create(token=secrets.token_urlsafe(32)).token}/",
    }
    result: dict[str, Any] = {"db": db, "database": _database_info(db)}
    log(f"\n=== {db}: {result['database']['summary']}")

    stripe: DjStripe | None = None
    if os.environ.get("BENCH_DJSTRIPE_PYTHON") and {"statements", "load"} - options.skip:
        if db == "postgres":
            _create_pg_database(djstripe.PG_DATABASE)
        python = Path(os.environ["BENCH_DJSTRIPE_PYTHON"])
        stripe_env = djstripe.environment(db, workdir, env)
        seeded = djstripe.seed(python, stripe_env)
        stripe = DjStripe(python, stripe_env, seeded["path"], seeded["secret"])
        paths["dj-stripe"] = seeded["path"]
        result["djstripe_statements"] = seeded["statements"]

    if "statements" not in options.skip:
        log(f"--- {db}: statements")
        result["statements"] = {
            **_statements(paths["ours"], paths["reference"]),
            **result.pop("djstripe_statements", {}),
        }
        for name, value in result["statements"].items():
            log(f"{name:>20}: {value['total']}  " + " | ".join(s[:60] for s in value["sql"]))

    if "load" not in options.skip:
        log(f"--- {db}: load, gunicorn --workers={options.workers} (sync), wrk --connections={options.connections}")
        result["load"] = _load(env, paths, stripe, options, workdir)

    if "memory" not in options.skip:
        log(f"--- {db}: memory of one request with a 1 MiB body")
        result["memory"] = _memory(env)

    if "reprocess" not in options.skip:
        log(f"--- {db}: seably_reprocess --failed")
        result["reprocess"] = _reprocess(db, env, options)
    return result


class DjStripe(NamedTuple):
    """The dj-stripe receiver of a phase: its venv's Python, its server's environment, URL path and secret."""

    python: Path
    env: dict[str, str]
    path: str
    secret: str


def _create_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def _database_info(db: str) -> dict[str, Any]:
    import sqlite3

    from django.db import connection

    with connection.cursor() as cursor:
        if db == "sqlite":
            cursor.execute("PRAGMA journal_mode")
            journal_mode = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            level = cursor.fetchone()[0]
            synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(level, str(level))
            info = {
                "version": sqlite3.sqlite_version,
                "journal_mode": journal_mode,
                "synchronous": synchronous,
                "transaction_mode": "IMMEDIATE",
            }
            info["summary"] = (
                f"SQLite {info['version']}, journal_mode={journal_mode}, synchronous={synchronous} "
                "(the default; FULL in WAL mode syncs the WAL on every commit), transaction_mode=IMMEDIATE"
            )
        else:
            settings = {}
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "shared_buffers"):
                cursor.execute(f"SHOW {name}")
                settings[name] = cursor.fetchone()[0]
            info = {"version": settings["server_version"], **settings}
            options = connection.settings_dict.get("OPTIONS", {})
            info["prepared_statements"] = bool(options.get("server_side_binding")) and (
                options.get("prepare_threshold") is not None
            )
            binding = (
                f"server-side binding, prepared statements (prepare_threshold={options['prepare_threshold']})"
                if info["prepared_statements"]
                else "client-side binding, no prepared statements (Django's default)"
            )
            info["summary"] = (
                f"PostgreSQL {settings['server_version']}, fsync={settings['fsync']}, "
                f"synchronous_commit={settings['synchronous_commit']} (durable commits), "
                f"wal_sync_method={settings['wal_sync_method']}; {binding}"
            )
    connection.close()
    return info


def _statements(path: str, reference_path: str) -> dict[str, Any]:
    from benchmarks import statements

    result = statements.measure(path, reference_path)
    from django.db import connections

    connections.close_all()
    return result


# --- load ----------------------------------------------------------------------------------------------------

#: The judged reference, and the prefix of each target's row counts (see _counts).
REFERENCE = "reference"
PREFIXES = {"ours": "", "reference": "reference-", "dj-stripe": "djstripe-"}


def _counts(stripe: DjStripe | None) -> dict[str, int]:
    from django.db import connections
    from django.db.models import Sum

    from benchmarks.reference.models import ReferenceCertificate, ReferenceEvent
    from django_seably.models import Certificate, WebhookEvent

    counts = {
        "events": WebhookEvent.objects.count(),
        "deliveries": WebhookEvent.objects.aggregate(n=Sum("delivery_count"))["n"] or 0,
        "certificates": Certificate.objects.count(),
        "reference-events": ReferenceEvent.objects.count(),
        "reference-deliveries": ReferenceEvent.objects.aggregate(n=Sum("delivery_count"))["n"] or 0,
        "reference-certificates": ReferenceCertificate.objects.count(),
    }
    connections.close_all()  # hold no connection (nor SQLite read snapshot) while the server is loaded
    if stripe:
        counts.update(djstripe.counts(stripe.env))
    return counts


def _verify(scenario: str, target: str, before: dict[str, int], after: dict[str, int], run: dict[str, Any]) -> str:
    """Return "" when every answer was 2xx and the database shows what the answers claimed, else what is wrong.

    New: an event per answer (and a certificate, but dj-stripe has none). Duplicate:
    no event, a delivery counted per answer (dj-stripe: a webhook trigger row).
    """
    prefix = PREFIXES[target]
    delta = {name: after[name] - before[name] for name in after if name.startswith(prefix) or not prefix}
    done, slack = run["requests"], run["connections"]  # requests still in flight at the end are not counted
    problems = []
    if run["errors"]:
        problems.append(f"{run['errors']} errors (non-2xx or failed) {run['error_detail']}")

    def within(name: str, low: int, high: int) -> None:
        value = delta[prefix + name]
        if not low <= value <= high:
            problems.append(f"{prefix}{name} +{value}, expected {low}..{high}")

    within("deliveries", done, done + slack)
    if scenario == "new":
        within("events", done, done + slack)
        if target != "dj-stripe":
            within("certificates", done, done + slack)
    else:
        within("events", 0, 0)
    return "; ".join(problems)


def _load(
    env: dict[str, str], paths: dict[str, str], stripe: DjStripe | None, options: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    template = workdir / "template.json"
    template.write_bytes(bodies.template())
    duplicate = workdir / "duplicate.json"
    duplicate.write_bytes(bodies.encode(bodies.certificate("SB-DUPLICATE-1")))
    signed = workdir / "signed.txt"
    result: dict[str, Any] = {
        "workers": options.workers,
        "connections": options.connections,
        "rounds": options.rounds,
        "seconds": options.seconds,
        "client": "wrk" if shutil.which("wrk") else "processes (wrk not found)",
        "scenarios": {},
    }
    postmaster = _postmaster_pid() if env["BENCH_DB"] == "postgres" else None
    with contextlib.ExitStack() as stack:
        servers = {"ours": stack.enter_context(load.Server(env, options.workers, workdir / "gunicorn.log"))}
        servers["reference"] = servers["ours"]
        if stripe:
            servers["dj-stripe"] = stack.enter_context(
                load.Server(
                    stripe.env, options.workers, workdir / "djstripe.log", str(stripe.python), djstripe.APPLICATION
                )
            )
            servers["dj-stripe"].wait_ready(stripe.path, expect=405)
        servers["ours"].wait_ready(paths["ours"])
        workers = {name: load.children(server.process.pid) for name, server in servers.items() if server.process}
        targets = list(servers)

        def send(target: str, scenario: str, seconds: float, tag: str) -> dict[str, Any]:
            url = servers[target].url(paths[target])
            mode = "new" if scenario == "new" else "fixed"
            if target == "dj-stripe":
                assert stripe is not None
                bodies_file = djstripe.signed_bodies(signed, stripe.secret, mode, seconds, tag)
                return load.run_load(url, "signed", bodies_file, tag, seconds, options.connections)
            return load.run_load(url, mode, template if mode == "new" else duplicate, tag, seconds, options.connections)

        for scenario in ("new", "duplicate"):
            if scenario == "duplicate":  # the first delivery of the duplicated body, outside the measurement
                for target in targets:
                    run = send(target, scenario, 1, "first")
                    assert run["requests"] and not run["errors"], (target, run)
            for target in targets:
                send(target, scenario, options.warmup, f"w{target}")
            runs: dict[str, list[dict[str, Any]]] = {target: [] for target in targets}
            for round_number in range(1, options.rounds + 1):
                line = [f"{scenario:>9} round {round_number}:"]
                for target in targets:
                    before = _counts(stripe)
                    # Where the time goes: CPU of the gunicorn workers and of PostgreSQL (all its processes).
                    database = [postmaster, *load.children(postmaster)] if postmaster else []
                    cpu_before = load.cpu_seconds(workers[target]), load.cpu_seconds(database)
                    run = send(target, scenario, options.seconds, f"r{round_number}{target}")
                    run["connections"] = options.connections
                    answered = max(run["requests"], 1)
                    run["worker_cpu_ms"] = 1000 * (load.cpu_seconds(workers[target]) - cpu_before[0]) / answered
                    if postmaster:
                        run["database_cpu_ms"] = 1000 * (load.cpu_seconds(database) - cpu_before[1]) / answered
                    run["load_average"] = os.getloadavg()[0]  # other work on the machine shows here
                    run["problems"] = _verify(scenario, target, before, _counts(stripe), run)
                    runs[target].append(run)
                    cpu = f" cpu {run['worker_cpu_ms']:.2f}" + (
                        f"+{run['database_cpu_ms']:.2f} ms" if "database_cpu_ms" in run else " ms"
                    )
                    line.append(
                        f"{target} {run['rps']:7.1f} req/s p50 {run['p50_ms']:6.2f} ms p99 {run['p99_ms']:7.2f} ms{cpu}"
                        f" (load {run['load_average']:.1f})" + (f" [{run['problems']}]" if run["problems"] else "")
                    )
                ratio = runs["ours"][-1]["rps"] / runs[REFERENCE][-1]["rps"]
                log("  ".join(line) + f"  ours/{REFERENCE} {ratio:.2f}")
            result["scenarios"][scenario] = _summarize(runs, reference=REFERENCE)
            summary = result["scenarios"][scenario]
            log(
                f"{scenario:>9} median ratio ours/{summary['reference']}: {summary['median_ratio']:.2f}"
                + "".join(f"; ours/{name} {value:.2f}" for name, value in summary["other_ratios"].items())
            )
        result["refused_unread"] = load.refused_unread(servers["ours"].port, paths["ours"], 100 * 1024 * 1024)
        log(f"over-limit body under gunicorn (Content-Length 100 MiB, no body sent): {result['refused_unread']}")
    return result


def _postmaster_pid() -> int | None:
    """PostgreSQL's main process (the parent of our backend), whose children are all of the server."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    postmaster = load.parent(backend)
    connection.close()
    return postmaster


def _summarize(runs: dict[str, list[dict[str, Any]]], reference: str) -> dict[str, Any]:
    targets = {}
    for target, target_runs in runs.items():
        targets[target] = {
            "runs": target_runs,
            "median_rps": statistics.median(r["rps"] for r in target_runs),
            "median_p50_ms": statistics.median(r["p50_ms"] for r in target_runs),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in target_runs),
        }
        for name in ("worker_cpu_ms", "database_cpu_ms"):
            if all(name in r for r in target_runs):
                targets[target][f"median_{name}"] = statistics.median(r[name] for r in target_runs)
    ratios = [ours["rps"] / ref["rps"] for ours, ref in zip(runs["ours"], runs[reference], strict=True)]
    others = {
        name: statistics.median(o["rps"] / r["rps"] for o, r in zip(runs["ours"], other, strict=True))
        for name, other in runs.items()
        if name not in ("ours", reference)
    }
    return {
        "reference": reference,
        "targets": targets,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "other_ratios": others,
        "problems": [
            f"{name} round {number}: {r['problems']}"
            for name, rs in runs.items()
            for number, r in enumerate(rs, 1)
            if r["problems"]
        ],
    }


# --- memory and reprocess ------------------------------------------------------------------------------------


def _memory(env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {"cases": []}
    for case in ("big-string", "many-objects"):
        for target in ("ours", "reference"):
            row: dict[str, Any] = {"case": case, "target": target}
            for mode in ("tracemalloc", "rss"):
                measured = _memory_probe(env, "--target", target, "--case", case, "--mode", mode)
                row[mode] = measured["extra_peak_bytes"]
                row["body_bytes"] = measured["body_bytes"]
                row.setdefault("answers", []).append(measured["answer"])
            result["cases"].append(row)
            log(
                f"{case:>13} {target:>9}: extra peak {row['tracemalloc'] / 2**20:5.2f} MiB (tracemalloc), "
                f"{row['rss'] / 2**20:5.2f} MiB (peak RSS growth), body {row['body_bytes'] / 2**20:.2f} MiB"
            )
    result["refused"] = _memory_probe(env, "--case", "refused")
    result["chunked_over"] = _memory_probe(env, "--case", "chunked-over")
    log(f"declared over the limit: {result['refused']}")
    log(f"chunked, over the limit: {result['chunked_over']}")
    return result


def _memory_probe(env: dict[str, str], *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.memory", *args]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{command} failed: {completed.stdout}\n{completed.stderr}")
    measured: dict[str, Any] = json.loads(lines[-1])
    return measured


def _reprocess(db: str, env: dict[str, str], options: argparse.Namespace) -> list[dict[str, Any]]:
    from benchmarks import reprocess

    results = []
    empty = reprocess.run_measured([sys.executable, "-m", "django", "seably_reprocess", "--failed"], env, 120)
    log(f"      0 failed events: {empty['seconds']:6.1f} s (the command's fixed cost: Python, Django, one query)")
    for count in options.reprocess.get(db, []):
        measured = reprocess.measure(count, tag=f"{count}", env=env, timeout=options.reprocess_timeout)
        measured["startup_seconds"] = empty["seconds"]
        if measured["events_per_second"]:
            measured["events_per_second_after_startup"] = count / max(1e-9, measured["seconds"] - empty["seconds"])
        results.append(measured)
        rate = measured["events_per_second"]
        speed = f"{rate:7.0f} events/s" if rate else "timed out"
        log(f"{count:>7} failed events: {measured['seconds']:6.1f} s, {speed}")
        log(
            f"         peak RSS {measured['peak_rss_bytes'] / 2**20:.1f} MiB; {measured['output'].splitlines()[-1:]}"
            f"; created in {measured['create_seconds']:.1f} s; ok={measured['ok']}"
        )
    return results


# --- the top-level command -----------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    import django

    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        probe = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False, timeout=10)
        text = probe.stdout or probe.stderr
        wrk_version = text.splitlines()[0].split(" Copyright")[0] if text else ""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
        "wrk": wrk_version,
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip(),
        "dirty": bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        ),
    }


def _source_files() -> list[str]:
    """Return the working tree's files, tracked and untracked but not ignored, relative to the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        return [name for name in listed.stdout.decode().split("\0") if name]
    folders = ("django_seably", "example_project", "benchmarks", "scripts")
    return ["manage.py"] + [str(p.relative_to(REPO)) for f in folders for p in (REPO / f).rglob("*") if p.is_file()]


def source_digest(root: Path = REPO) -> str:
    """Return a digest of the app's sources: it tells which version of django_seably was measured."""
    digest = hashlib.sha256()
    for path in sorted((root / "django_seably").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def snapshot(target: Path) -> Path:
    """Copy the working tree to ``target``, so that every phase measures the code as it was at the start.

    Others may edit the working tree while the benchmark runs (a model, a migration):
    a phase that imported a newer model than it migrated would measure nonsense.
    """
    for name in _source_files():
        source = REPO / name
        if name.startswith(("docs/", ".")) or not source.is_file():
            continue
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
    return target


def _phase_command(db: str, options: argparse.Namespace, out: Path, root: Path) -> list[str]:
    command = [sys.executable, "-m", "benchmarks.run", "--phase", db, "--out", str(out), *_passed_options(options)]
    if db == "postgres":
        command = [str(root / "scripts" / "with-postgres"), *command]
    return command


def _passed_options(options: argparse.Namespace) -> list[str]:
    passed = [f"--workers={options.workers}", f"--connections={options.connections}"]
    if options.skip:
        passed.append(f"--skip={','.join(sorted(options.skip))}")
    if options.quick:
        passed.append("--quick")
    if options.pg_prepared:
        passed.append("--pg-prepared")
    for name in ("rounds", "seconds", "warmup"):
        if getattr(options, f"{name}_given"):
            passed.append(f"--{name}={getattr(options, name)}")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short rounds and smaller reprocess runs (~4 min)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--pg-prepared",
        action="store_true",
        help="PostgreSQL with server-side binding and prepared statements (docs/deploying.md), for both targets",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2 = cores)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (default 4)")
    parser.add_argument("--rounds", type=int, help="rounds per target (default 4; quick 3)")
    parser.add_argument("--seconds", type=float, help="seconds per round (default 6; quick 2)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per target (default 2; quick 1)")
    parser.add_argument("--no-docs", action="store_true", help="print only; do not write docs/performance.*")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to leave out: statements,load,memory,reprocess,djstripe (implies --no-docs)",
    )
    parser.add_argument("--phase", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    profile = PROFILES["quick" if options.quick else "full"]
    for name in ("rounds", "seconds", "warmup"):
        setattr(options, f"{name}_given", getattr(options, name) is not None)
        if getattr(options, name) is None:
            setattr(options, name, profile[name])
    options.reprocess = profile["reprocess"]
    options.skip = {name.strip() for name in options.skip.split(",") if name.strip()}
    unknown = options.skip - {"statements", "load", "memory", "reprocess", "djstripe"}
    if unknown:
        parser.error(f"--skip: unknown section(s) {', '.join(sorted(unknown))}")
    if options.skip:
        options.no_docs = True
    options.reprocess_timeout = 900

    if options.phase:
        result = run_phase(options.phase, options)
        options.out.write_text(json.dumps(result, indent=1, default=str))
        return 0

    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": _machine(),
        "command": "python -m benchmarks.run"
        + (" --quick" if options.quick else "")
        + (" --pg-prepared" if options.pg_prepared else ""),
        "options": {
            "workers": options.workers,
            "connections": options.connections,
            "rounds": options.rounds,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "reprocess": options.reprocess,
        },
        "databases": {},
        "skipped": {},
    }
    log(f"django-seably benchmarks ({results['command']}) on {results['machine']['nproc']} cores")
    stripe_python = None
    if "djstripe" not in options.skip:
        log(f"dj-stripe's venv: {djstripe.VENV} (from {djstripe.REQUIREMENTS.name}; made or updated when it changed)")
        try:
            stripe_python = djstripe.ensure_venv()
            results["djstripe"] = djstripe.version(stripe_python)
        except (OSError, subprocess.SubprocessError) as error:
            log(f"could not install dj-stripe ({error}); run again with --skip djstripe to measure without it")
            return 1
        log(f"third receiver: {results['djstripe']}")
    databases = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    with tempfile.TemporaryDirectory(prefix="seably-bench-") as tmp:
        root = snapshot(Path(tmp) / "src")
        results["source_digest"] = source_digest(root)
        log(f"measuring a snapshot of the working tree (django_seably sources {results['source_digest']})")
        env = {**os.environ, "PYTHONPATH": str(root)}  # the snapshot, not the editable install
        if stripe_python:
            env["BENCH_DJSTRIPE_PYTHON"] = str(stripe_python)
        for db in databases:
            out = Path(tmp) / f"{db}.json"
            command = _phase_command(db, options, out, root)
            completed = subprocess.run(command, cwd=root, env=env, timeout=1800, check=False)
            if completed.returncode == 3 and db == "postgres":
                results["skipped"][db] = "no PostgreSQL server binaries (apt-get install postgresql)"
                log(f"postgres skipped: {results['skipped'][db]}")
                continue
            if completed.returncode != 0 or not out.exists():
                log(f"{db} phase failed with exit status {completed.returncode}")
                return 1
            results["databases"][db] = json.loads(out.read_text())
    results["elapsed_seconds"] = time.monotonic() - started
    if source_digest() != results["source_digest"]:
        results["changed_during_run"] = True
        log("note: django_seably changed in the working tree during the run; the snapshot from the start was measured")

    # Kept, so that the report can be written again without measuring again.
    kept = Path(tempfile.gettempdir()) / "seably-bench-results.json"
    kept.write_text(json.dumps(results, indent=1, default=str))
    log(f"results: {kept}")

    from benchmarks import report

    log("\n" + report.text_summary(results))
    if not options.no_docs:
        markdown, png = report.write(results, REPO / "docs")
        log(f"wrote {markdown.relative_to(REPO)} and {png.relative_to(REPO)}")
    log(f"total {results['elapsed_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
