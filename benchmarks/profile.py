"""Profile one gunicorn worker under load with py-spy and print where its time goes.

    .tox/faults/bin/python -m benchmarks.profile [--target ours|reference] [--scenario new|duplicate]
    scripts/with-postgres .tox/faults/bin/python -m benchmarks.profile --db postgres

One sync worker, wrk with 2 connections for ``--seconds``; py-spy samples the worker
(``--idle`` too, so time waiting on the database shows) and the collapsed stacks are
summed per function: inclusive share of the samples, and self share.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import bodies, load
from benchmarks.load import REPO


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def summarize(collapsed: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "inclusive %  self %  function"]
    for frame, count in inclusive.most_common(top):
        lines.append(f"{100 * count / total:10.1f}  {100 * own[frame] / total:6.1f}  {frame}")
    lines += ["", "self %  function (top self time)"]
    for frame, count in own.most_common(top // 2):
        lines.append(f"{100 * count / total:6.1f}  {frame}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--target", choices=["ours", "reference"], default="ours")
    parser.add_argument("--scenario", choices=["new", "duplicate"], default="new")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="also write the collapsed stacks here (for a flame graph)")
    options = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy not found: pip install py-spy", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="seably-profile-"))
    try:
        env = dict(os.environ)
        env.update(DJANGO_SETTINGS_MODULE="benchmarks.settings", BENCH_DB=options.db, PYTHONPATH=str(REPO))
        env["BENCH_SQLITE_PATH"] = str(workdir / "profile.sqlite3")
        if options.db == "postgres":
            from benchmarks.run import _create_pg_database

            env["BENCH_PG_NAME"] = "seably_profile"
            _create_pg_database("seably_profile")
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        from benchmarks.reference.models import ReferenceEndpoint
        from django_seably.models import Endpoint

        call_command("migrate", verbosity=0)
        path = ready_path = Endpoint.objects.create(name="bench").webhook_path
        if options.target == "reference":
            path = f"/reference/{ReferenceEndpoint.objects.create(token=secrets.token_urlsafe(32)).token}/"
        connections.close_all()
        body_file = workdir / "body.json"
        if options.scenario == "new":
            body_file.write_bytes(bodies.template())
        else:
            body_file.write_bytes(bodies.encode(bodies.certificate("SB-DUPLICATE-1")))
        collapsed = workdir / "stacks.txt"
        with load.Server(env, 1, workdir / "gunicorn.log") as server:
            server.wait_ready(ready_path)
            mode = "new" if options.scenario == "new" else "fixed"
            load.run_load(server.url(path), mode, body_file, "warm", 2, 2)
            assert server.process is not None
            workers = _children(server.process.pid)
            assert len(workers) == 1, workers
            result: dict[str, object] = {}

            def drive() -> None:
                result.update(load.run_load(server.url(path), mode, body_file, "prof", options.seconds + 2, 2))

            driver = threading.Thread(target=drive)
            driver.start()
            time.sleep(1)
            subprocess.run(
                [
                    py_spy,
                    "record",
                    f"--pid={workers[0]}",
                    f"--duration={options.seconds}",
                    "--rate=400",
                    "--format=raw",
                    "--nolineno",
                    "--idle",
                    f"--output={collapsed}",
                ],
                check=True,
                capture_output=True,
                timeout=options.seconds + 60,
            )
            driver.join(timeout=options.seconds + 60)
        print(
            f"{options.db} {options.target} {options.scenario}: {result.get('rps', 0):.0f} req/s under py-spy, 1 worker"
        )
        print(summarize(collapsed, options.top))
        if options.keep:
            shutil.copy(collapsed, options.keep)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
