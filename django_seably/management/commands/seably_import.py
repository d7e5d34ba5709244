"""``seably_import --endpoint NAME FILE [FILE ...]``: store and process bodies from files, as deliveries.

For a team that starts late or moves from another system: an export, or a
capture of Seably's requests (a Request Bin), holds the bodies Seably sent.
Each body goes through ``processing.receive``, exactly what the webhook view
does with a request: stored (``pending``, or ``invalid`` with its bytes),
deduplicated against everything received before, processed (or enqueued)
with the signals sent. Importing a file twice, or a body Seably has delivered
already, only counts duplicates.

Files are read as bytes, a line at a time (JSON Lines) or up to
``MAX_BODY_SIZE`` (one body), so memory stays flat however big a file is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from django_seably.conf import seably_settings
from django_seably.models import Endpoint, WebhookEvent
from django_seably.processing import receive

Status = WebhookEvent.Status

#: Suffixes of JSON Lines files, one body per line.
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")

#: A progress line after this many lines of a JSON Lines file.
PROGRESS_EVERY = 1000

#: Read when skipping the rest of an over-long line.
_CHUNK = 64 * 1024


@dataclasses.dataclass
class _Counts:
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0
    processed: int = 0
    failed: int = 0
    too_large: int = 0
    unreadable: int = 0


class Command(BaseCommand):
    help = (
        "Store and process webhook bodies from files as if Seably had delivered them to the endpoint NAME "
        "(deduplicated, signals sent, invalid bodies stored as invalid). A file holds one JSON body, or "
        "JSON Lines (one body per line): see --format."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--endpoint", required=True, metavar="NAME", help="The endpoint the bodies were sent to.")
        parser.add_argument(
            "--format",
            choices=["auto", "json", "jsonl"],
            default="auto",
            help="json: each file is one body. jsonl: one body per line, blank lines skipped. "
            f"auto (default): jsonl for {', '.join(JSON_LINES_SUFFIXES)} files and for files whose first line is "
            "a whole JSON object followed by more lines; json otherwise.",
        )
        parser.add_argument("files", nargs="+", metavar="FILE", help="Files to import, in this order.")

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = _endpoint(options["endpoint"])
        counts = _Counts()
        for name in options["files"]:
            path = Path(name)
            try:
                with path.open("rb") as file:
                    if _is_json_lines(path, file, options["format"]):
                        self._import_lines(endpoint, path, file, counts)
                    else:
                        self._import_file(endpoint, path, file, counts)
            except OSError as error:
                counts.unreadable += 1
                self.stderr.write(f"{name}: cannot be read ({error.strerror or error}): skipped.")
        total = counts.accepted + counts.duplicates + counts.invalid
        files = len(options["files"])
        self.stdout.write(
            f"Imported {total:,} bod{'y' if total == 1 else 'ies'} from {files} file{_s(files)} "
            f"into {endpoint.name!r}: {counts.accepted:,} accepted ({counts.processed:,} processed, "
            f"{counts.failed:,} failed, {counts.accepted - counts.processed - counts.failed:,} pending), "
            f"{counts.duplicates:,} duplicate{_s(counts.duplicates)}, {counts.invalid:,} invalid."
        )
        problems = []
        if counts.unreadable:
            problems.append(f"{counts.unreadable} file{_s(counts.unreadable)} could not be read")
        if counts.too_large:
            problems.append(f"{counts.too_large} bod{'y was' if counts.too_large == 1 else 'ies were'} too large")
        if problems:
            raise CommandError(f"Not everything was imported: {' and '.join(problems)} (see above).")

    def _import_file(self, endpoint: Endpoint, path: Path, file: IO[bytes], counts: _Counts) -> None:
        limit = seably_settings.MAX_BODY_SIZE
        raw = file.read(limit + 1)
        if len(raw) > limit:
            counts.too_large += 1
            self.stderr.write(f"{path}: Body is larger than {limit} bytes (MAX_BODY_SIZE): skipped.")
            return
        if not raw.strip():
            self.stderr.write(f"{path}: empty: skipped.")
            return
        self._receive(endpoint, raw, str(path), counts)

    def _import_lines(self, endpoint: Endpoint, path: Path, file: IO[bytes], counts: _Counts) -> None:
        read = 0
        for number, line in _lines(file, seably_settings.MAX_BODY_SIZE):
            read = number
            if number % PROGRESS_EVERY == 0:
                self.stdout.write(f"{path}: {number:,} lines read.")
            if line is None:
                counts.too_large += 1
                self.stderr.write(
                    f"{path}:{number}: Body is larger than {seably_settings.MAX_BODY_SIZE} bytes (MAX_BODY_SIZE): "
                    "skipped."
                )
            elif line.strip():
                self._receive(endpoint, line, f"{path}:{number}", counts)
        if read >= PROGRESS_EVERY and read % PROGRESS_EVERY:
            self.stdout.write(f"{path}: {read:,} lines read.")

    def _receive(self, endpoint: Endpoint, raw: bytes, where: str, counts: _Counts) -> None:
        try:
            delivery = receive(endpoint, raw, {"X-Seably-Import": where})
        except DatabaseError as error:
            raise CommandError(
                f"{where}: the database failed ({error}): stopped. The bodies before this one are stored; "
                "run the same import again to go on (they count as duplicates)."
            ) from error
        if not delivery.body.is_valid:
            counts.invalid += 1
            self.stderr.write(f"{where}: {delivery.body.error} Stored as invalid event #{delivery.event.pk}.")
        elif not delivery.is_new:
            counts.duplicates += 1
        else:
            counts.accepted += 1
            if delivery.event.status == Status.PROCESSED:
                counts.processed += 1
            elif delivery.event.status == Status.FAILED:
                counts.failed += 1
                self.stderr.write(f"{where}: event #{delivery.event.pk} failed (see its last_error).")


def _endpoint(name: str) -> Endpoint:
    endpoint = Endpoint.objects.filter(name=name).first()
    if endpoint is None:
        known = ", ".join(Endpoint.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No endpoint named {name!r} (endpoints: {known}).")
    if not endpoint.is_active:
        # The view answers 404 for it: nothing Seably sends there is stored.
        raise CommandError(f"Endpoint {name!r} is inactive: Seably's deliveries to it are refused. Activate it first.")
    return endpoint


def _is_json_lines(path: Path, file: IO[bytes], chosen: str) -> bool:
    """Decide the format; in auto mode, look at the suffix, then at the first lines (and rewind)."""
    if chosen != "auto":
        return chosen == "jsonl"
    if path.suffix.lower() in JSON_LINES_SUFFIXES:
        return True
    if path.suffix.lower() == ".json":
        return False
    limit = seably_settings.MAX_BODY_SIZE
    first = file.readline(limit + 1)
    rest = b""
    while not rest.strip():
        rest = file.readline(limit + 1)
        if not rest:
            break
    file.seek(0)
    return bool(rest.strip()) and _is_json_object(first)


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _lines(file: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield each line's number and bytes (without its end), or None for a line over ``limit``; reads no more."""
    number = 0
    while True:
        line = file.readline(limit + 3)  # the limit, and "\r\n" after it
        if not line:
            return
        number += 1
        body = line.rstrip(b"\r\n") if line.endswith(b"\n") else line
        if len(body) > limit:
            # Skip to the end of this line without holding it.
            while not line.endswith(b"\n"):
                line = file.readline(_CHUNK)
                if not line:
                    break
            yield number, None
            continue
        yield number, body


def _s(count: int) -> str:
    return "" if count == 1 else "s"
