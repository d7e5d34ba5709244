"""``seably_import --endpoint NAME FILE [FILE ...]``: store and process bodies from files, as deliveries.

For a team that starts late or moves from another system: an export, or a
capture of Seably's requests (a Request Bin), holds the bodies Seably sent.
Each body goes through ``processing.receive``, exactly what the webhook view
does with a request: stored (``pending``, or ``invalid`` with its bytes),
deduplicated against everything received before, processed (or enqueued)
with the signals sent. Importing a file twice, or a body Seably has delivered
already, only counts duplicates.

Files are read as bytes, a line at a time (JSON Lines) or up to
``MAX_BODY_SIZE`` (one body), so memory stays flat however big a file is. Only
regular files are read: not a symbolic link unless ``--follow-symlinks`` (a link
to /etc/passwd must not become an event anyone with admin access can read), and
never a FIFO, a device or a directory, which may never end.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils.translation import ngettext

from django_seably.batching import Progress
from django_seably.conf import seably_settings
from django_seably.management.endpoints import endpoint_named
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
    refused: int = 0


class Refused(Exception):
    """A file this command does not read (a link, a FIFO, a device, a directory); the message says why."""


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
        parser.add_argument(
            "--follow-symlinks",
            action="store_true",
            help="Read a FILE that is a symbolic link to a regular file (refused otherwise).",
        )
        parser.add_argument("files", nargs="+", metavar="FILE", help="Files to import, in this order.")

    def handle(self, *args: Any, **options: Any) -> None:
        endpoint = _endpoint(options["endpoint"])
        self.progress = Progress.of(self, options)
        counts = _Counts()
        for name in options["files"]:
            path = Path(name)
            try:
                with open_regular_file(path, follow_symlinks=options["follow_symlinks"]) as file:
                    if _is_json_lines(path, file, options["format"]):
                        self._import_lines(endpoint, path, file, counts)
                    else:
                        self._import_file(endpoint, path, file, counts)
            except Refused as error:
                counts.refused += 1
                self.progress.problem(f"{name}: {error}: skipped.")
            except OSError as error:
                counts.unreadable += 1
                self.progress.problem(f"{name}: cannot be read ({error.strerror or error}): skipped.")
        self.progress.summary(self._summary(endpoint, counts, len(options["files"])))
        problems = []
        if counts.unreadable:
            problems.append(
                ngettext("%(count)s file could not be read", "%(count)s files could not be read", counts.unreadable)
                % {"count": counts.unreadable}
            )
        if counts.refused:
            problems.append(
                ngettext("%(count)s file was refused", "%(count)s files were refused", counts.refused)
                % {"count": counts.refused}
            )
        if counts.too_large:
            problems.append(
                ngettext("%(count)s body was too large", "%(count)s bodies were too large", counts.too_large)
                % {"count": counts.too_large}
            )
        if problems:
            raise CommandError(f"Not everything was imported: {' and '.join(problems)} (see above).")

    def _summary(self, endpoint: Endpoint, counts: _Counts, files: int) -> str:
        total = counts.accepted + counts.duplicates + counts.invalid
        bodies = ngettext("%(count)s body", "%(count)s bodies", total) % {"count": f"{total:,}"}
        in_files = ngettext("%(count)s file", "%(count)s files", files) % {"count": f"{files:,}"}
        duplicates = ngettext("%(count)s duplicate", "%(count)s duplicates", counts.duplicates) % {
            "count": f"{counts.duplicates:,}"
        }
        pending = counts.accepted - counts.processed - counts.failed
        return (
            f"Imported {bodies} from {in_files} into {endpoint.name!r}: {counts.accepted:,} accepted "
            f"({counts.processed:,} processed, {counts.failed:,} failed, {pending:,} pending), "
            f"{duplicates}, {counts.invalid:,} invalid."
        )

    def _import_file(self, endpoint: Endpoint, path: Path, file: IO[bytes], counts: _Counts) -> None:
        limit = seably_settings.MAX_BODY_SIZE
        raw = file.read(limit + 1)
        if len(raw) > limit:
            counts.too_large += 1
            self.progress.problem(f"{path}: Body is larger than {limit} bytes (MAX_BODY_SIZE): skipped.")
            return
        if not raw.strip():
            self.progress.problem(f"{path}: empty: skipped.")
            return
        self._receive(endpoint, raw, str(path), counts)

    def _import_lines(self, endpoint: Endpoint, path: Path, file: IO[bytes], counts: _Counts) -> None:
        read = 0
        for number, line in _lines(file, seably_settings.MAX_BODY_SIZE):
            read = number
            if number % PROGRESS_EVERY == 0:
                self.progress.step(f"{path}: {number:,} lines read.")
            if line is None:
                counts.too_large += 1
                self.progress.problem(
                    f"{path}:{number}: Body is larger than {seably_settings.MAX_BODY_SIZE} bytes (MAX_BODY_SIZE): "
                    "skipped."
                )
            elif line.strip():
                self._receive(endpoint, line, f"{path}:{number}", counts)
        if read >= PROGRESS_EVERY and read % PROGRESS_EVERY:
            self.progress.step(f"{path}: {read:,} lines read.")

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
            self.progress.problem(f"{where}: {delivery.body.error} Stored as invalid event #{delivery.event.pk}.")
        elif not delivery.is_new:
            counts.duplicates += 1
        else:
            counts.accepted += 1
            if delivery.event.status == Status.PROCESSED:
                counts.processed += 1
            elif delivery.event.status == Status.FAILED:
                counts.failed += 1
                self.progress.problem(f"{where}: event #{delivery.event.pk} failed (see its last_error).")


def _endpoint(name: str) -> Endpoint:
    endpoint = endpoint_named(name)
    if not endpoint.is_active:
        # The view answers 404 for it: nothing Seably sends there is stored.
        raise CommandError(f"Endpoint {name!r} is inactive: Seably's deliveries to it are refused. Activate it first.")
    return endpoint


#: What ``stat`` says a file that is not a regular one is.
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular_file(path: Path, *, follow_symlinks: bool) -> IO[bytes]:
    """Open ``path`` for reading if it is a regular file (through a symbolic link only if allowed).

    The check is made on the opened file itself (``fstat``), so the file cannot be
    swapped between a check and the read. Opening does not block on a FIFO without
    a writer (``O_NONBLOCK``, which changes nothing for a regular file). Raise
    Refused, or OSError when the file cannot be opened.
    """
    if not follow_symlinks and path.is_symlink():
        raise Refused("is a symbolic link, not read without --follow-symlinks")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_symlinks:  # it became a link since the check above
            raise Refused("is a symbolic link, not read without --follow-symlinks") from None
        raise
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise Refused(f"is {kind}, not a regular file: only regular files are imported")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


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
