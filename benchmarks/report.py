"""Judge the results against the targets (issue 21); print them; write docs/performance.md and docs/performance.png."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}

#: Ours / reference, requests per second (median of rounds), per scenario: issue 21's targets.
REFERENCE_RATIO = {"new": 0.5, "duplicate": 0.7}
#: Ours against dj-stripe on every figure: requests/s ours / theirs, and p50 latency theirs / ours.
DJSTRIPE_FACTOR = 3.0

#: (key, what, target as text, test)
TARGETS = {
    "new": ("new `certificate.created`, ours / reference req/s (median of rounds)", f"≥ {REFERENCE_RATIO['new']}"),
    "duplicate": ("duplicates, ours / reference req/s (median of rounds)", f"≥ {REFERENCE_RATIO['duplicate']}"),
    "djstripe_new": (
        "new events against dj-stripe: req/s ours / theirs; p50 ms ours vs theirs",
        f"≥ {DJSTRIPE_FACTOR:g}x on both",
    ),
    "djstripe_duplicate": (
        "duplicates against dj-stripe: req/s ours / theirs; p50 ms ours vs theirs",
        f"≥ {DJSTRIPE_FACTOR:g}x on both",
    ),
    "errors": ("answers not 2xx (or failed), all rounds and receivers; rows added match the answers", "0; match"),
    "statements_new": ("SQL statements, new certificate event", "≤ 8"),
    "statements_duplicate": ("SQL statements, duplicate", "≤ 4"),
    "reprocess": ("`seably_reprocess --failed`, events/s (largest run)", "≥ 1000 on SQLite"),
    "reprocess_memory": ("reprocess peak RSS, largest run vs 10,000 events", "constant (≤ +10 %)"),
    "memory": ("extra peak memory of one 1 MiB body (tracemalloc), worst case", "≤ 4 MiB"),
    "refused": ("body over the limit refused before it is read", "413, 0 reads"),
}


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per target and database: what, value, target, passed (None: not judged)."""
    rows: list[dict[str, Any]] = []

    def add(key: str, db: str, value: str, passed: bool | None, note: str = "") -> None:
        what, target = TARGETS[key]
        rows.append(
            {"key": key, "db": db, "what": what, "target": target, "value": value, "passed": passed, "note": note}
        )

    for db, phase in results["databases"].items():
        for key, limit in REFERENCE_RATIO.items() if "load" in phase else ():
            summary = phase["load"]["scenarios"][key]
            ratio = summary["median_ratio"]
            add(key, db, f"{ratio:.2f}", ratio >= limit)
            stripe = summary["targets"].get("dj-stripe")
            if stripe:
                ours = summary["targets"]["ours"]
                rps = summary["other_ratios"]["dj-stripe"]
                p50 = (ours["median_p50_ms"], stripe["median_p50_ms"])
                add(
                    f"djstripe_{key}",
                    db,
                    f"{rps:.2f}; {p50[0]:.2f} vs {p50[1]:.2f} ms",
                    rps >= DJSTRIPE_FACTOR and p50[1] >= DJSTRIPE_FACTOR * p50[0],
                )
        if "load" in phase:
            problems = [p for summary in phase["load"]["scenarios"].values() for p in summary["problems"]]
            errors = sum(
                run["errors"]
                for summary in phase["load"]["scenarios"].values()
                for target in summary["targets"].values()
                for run in target["runs"]
            )
            add("errors", db, str(errors), not problems, "; ".join(problems))
        statements = phase.get("statements")
        if statements:
            add("statements_new", db, str(statements["new"]["total"]), statements["new"]["total"] <= 8)
            total = statements["duplicate"]["total"]
            add("statements_duplicate", db, str(total), total <= 4)
        runs = phase.get("reprocess")
        if runs:
            largest = runs[-1]
            rate = largest["events_per_second"]
            passed = (rate is not None and rate >= 1000 and largest["ok"]) if db == "sqlite" else None
            value = f"{rate:,.0f} ({largest['events']:,} events)" if rate else "timed out"
            add("reprocess", db, value, passed, "" if largest["ok"] else "the command did not process them all")
            if len(runs) > 1:
                small, big = runs[0]["peak_rss_bytes"], largest["peak_rss_bytes"]
                add(
                    "reprocess_memory",
                    db,
                    f"{small / MiB:.1f} → {big / MiB:.1f} MiB",
                    big <= small * 1.1,
                    f"{runs[0]['events']:,} → {largest['events']:,} events",
                )
        if "memory" not in phase:
            continue
        ours = [case for case in phase["memory"]["cases"] if case["target"] == "ours"]
        worst = max(ours, key=lambda case: case["tracemalloc"])
        add(
            "memory",
            db,
            f"{worst['tracemalloc'] / MiB:.2f} MiB ({worst['case']})",
            all(case["tracemalloc"] <= 4 * MiB for case in ours),
            ", ".join(f"{case['case']} {case['tracemalloc'] / MiB:.2f}" for case in ours),
        )
        refused = phase["memory"]["refused"]
        served = phase.get("load", {}).get("refused_unread", {"status": 413, "seconds": "-"})
        add(
            "refused",
            db,
            f"{refused['status']}, {refused['reads']} reads; gunicorn: {served['status']} in {served['seconds']} s",
            refused["status"] == 413 and refused["reads"] == 0 and served["status"] == 413,
        )
    return rows


def _mark(passed: bool | None) -> str:
    return {True: "pass", False: "**FAIL**", None: "info"}[passed]


def text_summary(results: dict[str, Any]) -> str:
    lines = ["Summary (targets of issue 21)"]
    for row in evaluate(results):
        mark = {True: "pass", False: "FAIL", None: "info"}[row["passed"]]
        note = f"  ({row['note']})" if row["note"] else ""
        lines.append(
            f"  {mark:4}  {NAMES[row['db']]:10}  {row['what']}: {row['value']}  [target {row['target']}]{note}"
        )
    for db, reason in results["skipped"].items():
        lines.append(f"  skip  {NAMES[db]}: {reason}")
    return "\n".join(lines).replace("`", "")


# --- docs/performance.md -----------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out + [""]


def markdown(results: dict[str, Any], png_name: str) -> str:
    machine = results["machine"]
    options = results["options"]
    dbs = results["databases"]
    out = [
        "# Performance",
        "",
        f"Generated by `.tox/faults/bin/python -m benchmarks.run{' --quick' if 'quick' in results['command'] else ''}`"
        " (see [benchmarks/README.md](../benchmarks/README.md)); do not edit by hand, run it again.",
        "",
        f"- Date: {machine['date']}; commit `{machine['commit']}`{' (with uncommitted changes)' if machine['dirty'] else ''}"
        f" (`django_seably` sources {results.get('source_digest', '?')}, copied at the start and measured as copied"
        f"{'; the working tree changed during the run' if results.get('changed_during_run') else ''});"
        f" run took {results['elapsed_seconds'] / 60:.1f} min.",
        f"- Machine: {machine['nproc']} cores (shared, noisy), {machine['platform']}; Python {machine['python']},"
        f" Django {machine['django']}; load generator: {machine['wrk'] or 'multiprocess client'}.",
    ]
    for db, phase in dbs.items():
        out.append(f"- {NAMES[db]}: {phase['database']['summary']}.")
    for db, reason in results["skipped"].items():
        out.append(f"- {NAMES[db]}: skipped, {reason}.")
    out += [
        f"- Load: gunicorn, {options['workers']} sync workers serving ours and the reference at once, and as many"
        f" serving dj-stripe from its own venv; wrk, 1 thread, {options['connections']} connections; per target a"
        f" {options['warmup']} s warm-up, then {options['rounds']} rounds of {options['seconds']} s, the receivers"
        " taking turns in each round.",
        "",
        f"![Requests per second, ours, the reference and dj-stripe, per database]({png_name})",
        "",
        "## Targets",
        "",
    ]
    out += _table(
        ["", "database", "measure", "value", "target", "note"],
        [
            [_mark(r["passed"]), NAMES[r["db"]], r["what"], r["value"], r["target"], r["note"]]
            for r in evaluate(results)
        ],
    )
    out += [
        "## What is compared",
        "",
        "- **ours**: `django_seably`'s webhook view (`/seably/<token>/`), inline processing, no receivers connected"
        " (`example_project`'s settings without its app), exactly as a project installs it.",
        "- **reference** (`benchmarks/reference`, `/reference/<token>/`): the least a receiver of the same contract"
        " must do, in plain SQL on a raw cursor: look the token up; parse the JSON; keep the body, the parsed JSON"
        " and the headers; deduplicate by a SHA-256 of the canonical JSON (sorted keys, compact) with a durable"
        " delivery count (`INSERT ... ON CONFLICT (fingerprint) DO UPDATE SET delivery_count = delivery_count + 1"
        " RETURNING`); commit the event, `pending`; then, in a second transaction, mark it `processed` (a"
        " conditional `UPDATE`) and upsert the certificate with its searchable columns by its unique Seably id."
        " 8 statements for a new event, 4 for a duplicate: our budget. Its tables have only the indexes the"
        " contract needs (unique token, fingerprint and Seably id). It has no signals, no receivers, no size limit"
        " of its own, and stores no invalid body.",
        f"- **dj-stripe** ({results.get('djstripe', 'not measured')}; `/stripe/webhook/<uuid>/`): what a Django"
        " user would install instead: its `ProcessWebhookView`, from a venv of its own, with its own database"
        " (same engine and settings). Bodies are Stripe `balance.available` events (about the size of ours), each"
        " signed with the WebhookEndpoint's secret (`Stripe-Signature: t=...,v1=HMAC-SHA256`); an event type"
        " without a handler, so dj-stripe checks the signature, keeps the delivery (a `WebhookEventTrigger` row)"
        " and stores the `Event`, without calling Stripe (its API host points at a closed local port). It"
        " deduplicates by event id: new rounds send a new id per request, duplicate rounds one event again.",
        "- ours and the reference run in the same gunicorn workers, with the same middleware, settings and database;"
        " dj-stripe's server has Django's default middleware and the same database settings. All use persistent"
        " connections (`CONN_MAX_AGE=600`: a connection per request would add the same cost to all and hide the"
        " difference). New events carry a new id per request; duplicates repeat one body.",
        "- Each round is checked: every answer 2xx, and the rows (or delivery counts) added match the answers.",
        "- *worker CPU ms* and *PostgreSQL CPU ms*: CPU time per answered request, of the receiver's gunicorn workers"
        " and of all of PostgreSQL's processes, over the round (from `/proc`). On a machine where the cores are the"
        " limit (two cores for the workers, the database and wrk), requests/s follow the sum.",
        "",
        "## Load",
        "",
    ]
    loads = [
        run.get("load_average", 0.0)
        for phase in dbs.values()
        for summary in phase["load"]["scenarios"].values()
        for target in summary["targets"].values()
        for run in target["runs"]
    ]
    if loads:
        busy = max(loads) > (machine["nproc"] or 1)
        out += [
            f"Load average (1 min) at the end of the rounds: median {statistics.median(loads):.1f}, max {max(loads):.1f},"
            f" on {machine['nproc']} cores"
            + (
                ": **the machine was busy with other work**, so absolute numbers are low and noisy; the ratios,"
                " taken between adjacent runs, are the result."
                if busy
                else "."
            ),
            "",
        ]
    for db, phase in dbs.items():
        for scenario, summary in phase["load"]["scenarios"].items():
            reference = summary["reference"]
            out += [f"### {NAMES[db]}, {'new certificate events' if scenario == 'new' else 'duplicates'}", ""]
            rows = []
            targets = summary["targets"]
            # CPU per request, when the run measured it: the workers', and PostgreSQL's.
            cpu_columns = [
                (key, label)
                for key, label in (("worker_cpu_ms", "worker CPU ms"), ("database_cpu_ms", "PostgreSQL CPU ms"))
                if all(key in run for target in targets.values() for run in target["runs"])
            ]
            for index, ratio in enumerate(summary["ratios"]):
                for name, target in targets.items():
                    run = target["runs"][index]
                    rows.append(
                        [
                            str(index + 1),
                            name,
                            f"{run['rps']:.0f}",
                            f"{run['p50_ms']:.2f}",
                            f"{run['p99_ms']:.2f}",
                            *(f"{run[key]:.2f}" for key, _ in cpu_columns),
                            f"{ratio:.2f}" if name == "ours" else "",
                            f"{run.get('load_average', 0):.1f}",
                        ]
                    )
            for name, target in targets.items():
                rows.append(
                    [
                        "median",
                        f"**{name}**",
                        f"**{target['median_rps']:.0f}**",
                        f"{target['median_p50_ms']:.2f}",
                        f"{target['median_p99_ms']:.2f}",
                        *(f"{target[f'median_{key}']:.2f}" for key, _ in cpu_columns),
                        f"**{summary['median_ratio']:.2f}**" if name == "ours" else "",
                        "",
                    ]
                )
            header = ["round", "target", "req/s", "p50 ms", "p99 ms", *(label for _, label in cpu_columns)]
            out += _table([*header, f"ours / {reference}", "load avg"], rows)
            for name, value in summary["other_ratios"].items():
                out += [f"Median ratio ours / {name}: {value:.2f}.", ""]
    cpu_rows = []
    for db, phase in dbs.items():
        for scenario, summary in phase["load"]["scenarios"].items():
            targets = summary["targets"]
            if not all("median_worker_cpu_ms" in target for target in targets.values()):
                continue
            ours, reference = (targets[name]["median_worker_cpu_ms"] for name in ("ours", summary["reference"]))
            stripe = targets.get("dj-stripe", {}).get("median_worker_cpu_ms")
            cpu_rows.append(
                [
                    NAMES[db],
                    scenario,
                    f"{ours:.2f}",
                    f"{reference:.2f}",
                    f"{1000 * (ours - reference):.0f}",
                    f"{stripe:.2f}" if stripe is not None else "",
                ]
            )
    if cpu_rows:
        out += ["### Where the time goes", ""]
        out += _table(
            ["database", "deliveries", "ours CPU ms", "reference CPU ms", "ours - reference µs", "dj-stripe CPU ms"],
            cpu_rows,
        )
        out += [
            "Worker CPU per request, medians of the rounds: where the cores are the limit, requests/s follow it."
            " What ours spends beyond the reference (`python -m benchmarks.profile` shows it function by function):"
            " Django's ORM compiling each statement (the token lookup, the event's and the certificate's"
            " `INSERT ... ON CONFLICT` values, the claim's conditional `UPDATE`), building model instances and"
            " converting their fields, and sending the signals; the reference writes its 8 statements by hand"
            " on a raw cursor. Waiting is not in these figures: on SQLite a worker spends about half its wall time"
            " in COMMIT (the WAL written and synced), the reference's too, and each new event of ours writes"
            " more index pages there (5 secondary indexes on events, 6 on certificates, each named in"
            " `models.py` with the query it serves; the reference has none). That is the price of plain Django"
            " code and of the admin's and the API's queries, reported rather than bent for the targets.",
            "",
        ]
    out += [
        "## SQL statements per delivery",
        "",
        "Counted in-process with Django's test client and `CaptureQueriesContext`; BEGIN (PostgreSQL: sent by the"
        " driver), COMMIT and ROLLBACK (not captured by Django) are added from the calls to the connection, as"
        " `tests/test_processing.py::TestStatementCounts` does.",
        "",
    ]
    names = {
        "new": "ours: new certificate event (judged: ≤ 8)",
        "duplicate": "ours: duplicate (judged: ≤ 4)",
        "invalid": "ours: invalid body (`{oops`)",
        "reprocess": "ours: reprocess one failed event (`process_event`)",
        "reference_new": "reference: new certificate event",
        "reference_duplicate": "reference: duplicate",
        "djstripe_new": "dj-stripe: new event",
        "djstripe_duplicate": "dj-stripe: duplicate",
    }
    names = {key: label for key, label in names.items() if all(key in phase["statements"] for phase in dbs.values())}
    out += _table(
        ["delivery", *(NAMES[db] for db in dbs)],
        [[label, *(str(phase["statements"][key]["total"]) for phase in dbs.values())] for key, label in names.items()],
    )
    for db, phase in dbs.items():
        out += [f"<details><summary>{NAMES[db]}: the statements</summary>", ""]
        for key, label in names.items():
            out += [f"{label}:", "", "```sql", *(s[:300] for s in phase["statements"][key]["sql"]), "```", ""]
        out += ["</details>", ""]
    out += [
        "## Reprocessing",
        "",
        "`python -m django seably_reprocess --failed` in a child process over N failed `certificate.created` events"
        " (valid payloads, distinct certificate ids, made with `bulk_create`); the wall time includes the start of"
        " Python and Django (measured alone on zero events and taken out in the next column); peak RSS from `wait4`.",
        "",
    ]
    rows = []
    for db, phase in dbs.items():
        for run in phase["reprocess"]:
            rate = run["events_per_second"]
            rows.append(
                [
                    NAMES[db],
                    f"{run['events']:,}",
                    f"{run['seconds']:.1f}",
                    f"{rate:,.0f}" if rate else "timed out",
                    f"{run['events_per_second_after_startup']:,.0f}" if rate else "",
                    f"{run['peak_rss_bytes'] / MiB:.1f}",
                    "yes" if run["ok"] else "**no**",
                ]
            )
    out += _table(
        ["database", "events", "seconds", "events/s", "events/s without startup", "peak RSS MiB", "all processed"], rows
    )
    out += [
        "## Memory of a 1 MiB body",
        "",
        "One request through Django's WSGI handler, after a warm-up request, with `MAX_BODY_SIZE` = 2 MiB;"
        " the body waits in a buffer made before measuring, and every read copies from it, as from a socket. *tracemalloc*: peak of Python allocations during the"
        " request above what was allocated before it. *peak RSS*: growth of the process's `VmHWM` (includes C"
        " allocations such as SQLite's page cache and the driver's buffers, and allocator slack).",
        "",
    ]
    rows = []
    for db, phase in dbs.items():
        for case in phase["memory"]["cases"]:
            rows.append(
                [
                    NAMES[db],
                    case["case"],
                    case["target"],
                    f"{case['body_bytes'] / MiB:.2f}",
                    f"{case['tracemalloc'] / MiB:.2f}",
                    f"{case['rss'] / MiB:.2f}",
                ]
            )
    out += _table(["database", "body", "target", "body MiB", "tracemalloc MiB", "peak RSS growth MiB"], rows)
    out += ["Bodies over the limit:", ""]
    for db, phase in dbs.items():
        refused, chunked, served = (
            phase["memory"]["refused"],
            phase["memory"]["chunked_over"],
            phase["load"]["refused_unread"],
        )
        out += [
            f"- {NAMES[db]}: `Content-Length` 20 MiB over a 2 MiB limit, stream whose `read()` raises:"
            f" {refused['status']}, {refused['reads']} reads. Chunked body of 3 MiB (no `Content-Length`):"
            f" {chunked['status']} after reading {chunked['bytes_read']:,} bytes (limit + 1)."
            f" Under gunicorn, headers declaring 100 MiB and no body: {served['status']} in {served['seconds']} s.",
        ]
    out.append("")
    return "\n".join(out)


# --- docs/performance.png ----------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dbs = results["databases"]
    colors = {"ours": "#1f77b4", "reference": "#9e9e9e", "dj-stripe": "#635bff"}
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.6), dpi=110)
    titles = {"new": "New certificate.created (inline, no receivers)", "duplicate": "Duplicates (same body again)"}
    limits = REFERENCE_RATIO
    for axis, scenario in zip(axes, ("new", "duplicate"), strict=True):
        names = list(next(iter(dbs.values()))["load"]["scenarios"][scenario]["targets"])
        width = 0.8 / len(names)
        for index, name in enumerate(names):
            xs, heights, low, high = [], [], [], []
            for position, phase in enumerate(dbs.values()):
                target = phase["load"]["scenarios"][scenario]["targets"][name]
                values = [run["rps"] for run in target["runs"]]
                xs.append(position + (index - (len(names) - 1) / 2) * width)
                heights.append(target["median_rps"])
                low.append(target["median_rps"] - min(values))
                high.append(max(values) - target["median_rps"])
            axis.bar(xs, heights, width, label=name, color=colors.get(name, "#777777"), edgecolor="black", lw=0.5)
            axis.errorbar(xs, heights, yerr=[low, high], fmt="none", ecolor="black", capsize=3, lw=0.8)
        for position, phase in enumerate(dbs.values()):
            summary = phase["load"]["scenarios"][scenario]
            ratio = summary["median_ratio"]
            top = max(max(r["rps"] for r in t["runs"]) for t in summary["targets"].values())
            stripe = summary["other_ratios"].get("dj-stripe")
            ok = ratio >= limits[scenario] and (stripe is None or stripe >= DJSTRIPE_FACTOR)
            axis.annotate(
                f"ours / {summary['reference']}: {ratio:.2f}\n(target ≥ {limits[scenario]:.1f})"
                + (f"\nours / dj-stripe: {stripe:.2f}\n(target ≥ {DJSTRIPE_FACTOR:g})" if stripe is not None else ""),
                (position, top),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="#1a7f37" if ok else "#c62828",
                fontweight="bold",
            )
        axis.set_xticks(range(len(dbs)), [NAMES[db] for db in dbs])
        axis.set_ylabel("requests/s (median of rounds; bars: min–max)")
        axis.set_title(titles[scenario], fontsize=10)
        axis.set_ylim(0, axis.get_ylim()[1] * 1.5)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=len(names), frameon=False)
        axis.grid(axis="y", alpha=0.3)
    machine, options = results["machine"], results["options"]
    figure.suptitle(
        f"django-seably, the reference receiver of its contract, dj-stripe — {machine['date']}, {machine['nproc']} cores, "
        f"gunicorn {options['workers']} sync workers, wrk {options['connections']} connections",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write(results: dict[str, Any], docs: Path) -> tuple[Path, Path]:
    docs.mkdir(exist_ok=True)
    png = docs / "performance.png"
    plot(results, png)
    markdown_path = docs / "performance.md"
    markdown_path.write_text(markdown(results, png.name))
    return markdown_path, png
