"""seably_import: bodies from files, stored and processed exactly as deliveries are."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_seably.management.commands import seably_import
from django_seably.models import Certificate, Endpoint, WebhookEvent
from django_seably.signals import processing_failed, webhook_received
from django_seably.testing import certificate_body, create_endpoint

pytestmark = pytest.mark.django_db


def run(*args: Any, endpoint: str = "test") -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seably_import", "--endpoint", endpoint, *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def line(body: dict[str, Any]) -> str:
    return json.dumps(body) + "\n"


@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    """Three certificates, one of them twice, a bad line and a blank line."""
    path = tmp_path / "export.jsonl"
    path.write_text(
        line(certificate_body("SB-1"))
        + line(certificate_body("SB-2"))
        + "\n"
        + '{"event": "certificate.created", oops\n'
        + line(certificate_body("SB-1"))
        + line(certificate_body("SB-3"))
    )
    return path


def test_json_lines_with_duplicates_and_a_bad_line(seably_endpoint, jsonl, created):
    out, err = run(jsonl)

    assert out == (
        "Imported 5 bodies from 1 file into 'test': 3 accepted (3 processed, 0 failed, 0 pending), "
        "1 duplicate, 1 invalid.\n"
    )
    invalid = WebhookEvent.objects.get(status="invalid")
    assert err == (
        f"{jsonl}:4: Body is not valid JSON (Expecting property name enclosed in double quotes: "
        f"line 1 column 34 (char 33)). Stored as invalid event #{invalid.pk}.\n"
    )
    assert invalid.body == '{"event": "certificate.created", oops'
    assert invalid.endpoint == seably_endpoint
    assert sorted(Certificate.objects.values_list("seably_id", flat=True)) == ["SB-1", "SB-2", "SB-3"]
    assert WebhookEvent.objects.get(object_id="SB-1").delivery_count == 2
    assert created.call_count == 3
    assert WebhookEvent.objects.get(object_id="SB-2").headers == {"X-Seably-Import": f"{jsonl}:2"}


def test_importing_again_only_counts_duplicates(seably_endpoint, jsonl, received):
    run(jsonl)
    received.reset_mock()

    out, _ = run(jsonl)

    assert out == (
        "Imported 5 bodies from 1 file into 'test': 0 accepted (0 processed, 0 failed, 0 pending), "
        "4 duplicates, 1 invalid.\n"
    )
    received.assert_not_called()
    assert WebhookEvent.objects.count() == 4


def test_a_body_delivered_before_is_a_duplicate(seably_endpoint, seably_deliver, tmp_path):
    body = certificate_body("SB-1")
    seably_deliver(body)
    path = tmp_path / "body.json"
    path.write_text(json.dumps(body, indent=2, sort_keys=True))

    out, _ = run(path)

    assert "0 accepted" in out and "1 duplicate," in out
    assert WebhookEvent.objects.get().delivery_count == 2


def test_one_body_per_file(seably_endpoint, tmp_path):
    paths = []
    for n in range(3):
        path = tmp_path / f"{n}.json"
        path.write_text(json.dumps(certificate_body(f"SB-{n}"), indent=2))
        paths.append(path)

    out, err = run(*paths)

    assert out == (
        "Imported 3 bodies from 3 files into 'test': 3 accepted (3 processed, 0 failed, 0 pending), "
        "0 duplicates, 0 invalid.\n"
    )
    assert err == ""
    assert Certificate.objects.count() == 3


def test_a_file_of_invalid_json_is_stored_as_invalid(seably_endpoint, tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe not json")

    _, err = run(path)

    event = WebhookEvent.objects.get()
    assert event.status == "invalid"
    assert event.raw_body is not None
    assert bytes(event.raw_body) == b"\xff\xfe not json"
    assert err.startswith(f"{path}: Body is not valid UTF-8")


@pytest.mark.parametrize(
    ("name", "text", "format", "bodies"),
    [
        ("capture.txt", line(certificate_body("SB-1")) + line(certificate_body("SB-2")), "auto", 2),
        ("capture.txt", json.dumps(certificate_body("SB-1"), indent=2), "auto", 1),
        ("one.txt", json.dumps(certificate_body("SB-1")), "auto", 1),
        ("lines.json", line(certificate_body("SB-1")) + line(certificate_body("SB-2")), "jsonl", 2),
        ("lines.json", line(certificate_body("SB-1")) + line(certificate_body("SB-2")), "auto", 1),
        ("one.ndjson", json.dumps(certificate_body("SB-1"), indent=2), "json", 1),
    ],
)
def test_the_format(seably_endpoint, tmp_path, name, text, format, bodies):
    path = tmp_path / name
    path.write_text(text)

    out, _ = run("--format", format, path)

    assert out.startswith(f"Imported {bodies} bod{'y' if bodies == 1 else 'ies'} from 1 file")


def test_a_missing_file_is_reported_and_the_rest_imported(seably_endpoint, jsonl, tmp_path):
    missing = tmp_path / "missing.jsonl"
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as error:
        call_command(
            "seably_import", "--endpoint", "test", str(missing), str(tmp_path), str(jsonl), stdout=out, stderr=err
        )

    assert str(error.value) == (
        "Not everything was imported: 1 file could not be read and 1 file was refused (see above)."
    )
    assert err.getvalue().startswith(
        f"{missing}: cannot be read (No such file or directory): skipped.\n"
        f"{tmp_path}: is a directory, not a regular file: only regular files are imported: skipped.\n"
    )
    assert out.getvalue().startswith("Imported 5 bodies from 3 files")
    assert Certificate.objects.count() == 3


def test_a_body_over_max_body_size_is_skipped(seably_endpoint, tmp_path, settings):
    settings.SEABLY = {"MAX_BODY_SIZE": 300}
    big = certificate_body("SB-BIG")
    assert len(json.dumps(big)) > 300

    def small(seably_id: str) -> dict[str, Any]:
        return {"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": seably_id}}}

    lines = tmp_path / "lines.jsonl"
    lines.write_text(line(big) + line(small("SB-1")) + json.dumps(small("SB-2")))
    single = tmp_path / "big.json"
    single.write_text(json.dumps(big))
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as error:
        call_command("seably_import", "--endpoint", "test", str(lines), str(single), stdout=out, stderr=err)

    assert str(error.value) == "Not everything was imported: 2 bodies were too large (see above)."
    assert err.getvalue() == (
        f"{lines}:1: Body is larger than 300 bytes (MAX_BODY_SIZE): skipped.\n"
        f"{single}: Body is larger than 300 bytes (MAX_BODY_SIZE): skipped.\n"
    )
    assert sorted(Certificate.objects.values_list("seably_id", flat=True)) == ["SB-1", "SB-2"]


def test_lines_are_read_a_bounded_amount_at_a_time():
    limit = 10
    data = io.BytesIO(b"0123456789\n" + b"x" * 100_000 + b"\n\r\nlast")
    reads: list[int] = []
    readline = data.readline

    def counting_readline(size: int | None = -1) -> bytes:
        reads.append(-1 if size is None else size)
        return readline(size)

    data.readline = counting_readline  # type: ignore[method-assign]

    assert list(seably_import._lines(data, limit)) == [(1, b"0123456789"), (2, None), (3, b""), (4, b"last")]
    assert all(0 < size <= seably_import._CHUNK for size in reads)


def test_an_over_long_last_line_without_its_end():
    data = io.BytesIO(b"{}\n" + b"x" * 200_000)

    assert list(seably_import._lines(data, 10)) == [(1, b"{}"), (2, None)]


def test_progress_on_large_files(seably_endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(seably_import, "PROGRESS_EVERY", 2)
    path = tmp_path / "many.jsonl"
    path.write_text("".join(line(certificate_body(f"SB-{n}")) for n in range(5)))

    out, _ = run(path, "--verbosity", "2")

    assert out.splitlines()[:3] == [f"{path}: 2 lines read.", f"{path}: 4 lines read.", f"{path}: 5 lines read."]
    assert run(path)[0].startswith("Imported 5 bodies")  # -v 1: the summary only (no terminal here)


def test_empty_files_and_lines_are_skipped(seably_endpoint, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n   \n")

    out, err = run(empty, blank)

    assert err == f"{empty}: empty: skipped.\n"
    assert out.startswith("Imported 0 bodies from 2 files")
    assert not WebhookEvent.objects.exists()


def test_a_failing_receiver_is_counted(seably_endpoint, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(certificate_body("SB-1")))

    def fail(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    webhook_received.connect(fail)
    try:
        out, err = run(path)
    finally:
        webhook_received.disconnect(fail)

    event = WebhookEvent.objects.get()
    assert "1 accepted (0 processed, 1 failed, 0 pending)" in out
    assert err == f"{path}: event #{event.pk} failed (see its last_error).\n"
    assert event.status == "failed"


def test_tasks_mode_leaves_events_to_the_tasks(seably_endpoint, tmp_path, settings):
    import importlib

    from django_seably import tasks

    assert tasks.framework is not None
    settings.SEABLY = {"PROCESSING": "tasks"}
    settings.TASKS = {"default": {"BACKEND": f"{tasks.framework.__name__}.backends.dummy.DummyBackend"}}
    importlib.import_module(f"{tasks.framework.__name__}.backends.dummy")
    path = tmp_path / "one.json"
    path.write_text(json.dumps(certificate_body("SB-1")))

    out, _ = run(path)

    assert "1 accepted (0 processed, 0 failed, 1 pending)" in out
    assert WebhookEvent.objects.get().status == "pending"


def test_unknown_endpoint(db, tmp_path):
    create_endpoint("production")
    create_endpoint("staging")

    with pytest.raises(CommandError) as error:
        run(tmp_path / "x.json", endpoint="prod")

    assert str(error.value) == "No endpoint named 'prod' (endpoints: production, staging)."


def test_unknown_endpoint_when_there_is_none(db, tmp_path):
    with pytest.raises(CommandError) as error:
        run(tmp_path / "x.json", endpoint="prod")

    assert str(error.value) == "No endpoint named 'prod' (endpoints: none yet)."


def test_inactive_endpoint(seably_endpoint, jsonl):
    Endpoint.objects.filter(pk=seably_endpoint.pk).update(is_active=False)

    with pytest.raises(CommandError) as error:
        run(jsonl)

    assert str(error.value) == "Endpoint 'test' is inactive: Seably's deliveries to it are refused. Activate it first."
    assert not WebhookEvent.objects.exists()


def test_files_are_required(seably_endpoint):
    with pytest.raises(CommandError) as error:
        call_command("seably_import", "--endpoint", "test")

    assert str(error.value) == "Error: the following arguments are required: FILE"


def test_processing_failed_is_not_sent_for_invalid_bodies(seably_endpoint, jsonl):
    sent: list[Any] = []

    def on_failed(sender: Any, **kwargs: Any) -> None:
        sent.append(kwargs)

    processing_failed.connect(on_failed)
    try:
        run(jsonl)
    finally:
        processing_failed.disconnect(on_failed)

    assert sent == []


def test_a_database_failure_stops_the_import_saying_where(seably_endpoint, jsonl):
    from django.db import OperationalError

    from django_seably import processing

    real = processing.store_delivery
    calls = {"n": 0}

    def failing_on_the_second(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("server closed the connection")
        return real(*args, **kwargs)

    with mock.patch.object(processing, "store_delivery", failing_on_the_second), pytest.raises(CommandError) as error:
        run(jsonl)

    assert str(error.value) == (
        f"{jsonl}:2: the database failed (server closed the connection): stopped. The bodies before this one "
        "are stored; run the same import again to go on (they count as duplicates)."
    )
    assert list(WebhookEvent.objects.values_list("object_id", flat=True)) == ["SB-1"]

    out, _ = run(jsonl)

    assert "3 accepted" not in out and "2 accepted" in out and "2 duplicates" in out


# --- what is read: regular files only, lines bounded ----------------------------------------------------------------


def test_a_symlink_is_refused_without_follow_symlinks(seably_endpoint, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(certificate_body("SB-SECRET")))
    link = tmp_path / "export.json"
    link.symlink_to(secret)

    with pytest.raises(CommandError) as error:
        run(link)

    assert str(error.value) == "Not everything was imported: 1 file was refused (see above)."
    assert not WebhookEvent.objects.exists()


def test_the_refusal_says_why_and_the_other_files_are_imported(seably_endpoint, tmp_path, jsonl):
    link = tmp_path / "passwd.json"
    link.symlink_to("/etc/passwd")
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError):
        call_command("seably_import", "--endpoint", "test", str(link), str(jsonl), stdout=out, stderr=err)

    assert err.getvalue().splitlines()[0] == (
        f"{link}: is a symbolic link, not read without --follow-symlinks: skipped."
    )
    assert out.getvalue().startswith("Imported 5 bodies from 2 files")
    assert not WebhookEvent.objects.filter(body__contains="root:").exists()


def test_follow_symlinks_reads_a_link_to_a_regular_file(seably_endpoint, tmp_path):
    target = tmp_path / "real.json"
    target.write_text(json.dumps(certificate_body("SB-1")))
    link = tmp_path / "link.json"
    link.symlink_to(target)

    out, err = run("--follow-symlinks", link)

    assert (out.startswith("Imported 1 body from 1 file"), err) == (True, "")
    assert Certificate.objects.get().seably_id == "SB-1"


@pytest.mark.parametrize(
    ("target", "kind"),
    [("/dev/zero", "a character device"), ("/dev/urandom", "a character device"), ("dir", "a directory")],
)
def test_follow_symlinks_still_refuses_what_is_not_a_regular_file(seably_endpoint, tmp_path, target, kind, time_limit):
    if target == "dir":
        target = str(tmp_path)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 file was refused"):
        call_command("seably_import", "--endpoint", "test", "--follow-symlinks", str(link), stdout=out, stderr=err)

    assert err.getvalue() == f"{link}: is {kind}, not a regular file: only regular files are imported: skipped.\n"
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_devices_are_refused(seably_endpoint, path, kind, time_limit):
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 file was refused"):
        call_command("seably_import", "--endpoint", "test", path, stdout=out, stderr=err)

    assert err.getvalue() == f"{path}: is {kind}, not a regular file: only regular files are imported: skipped.\n"


@pytest.fixture
def time_limit() -> Any:
    """Fail a test that runs longer than 20 s (an endless read would otherwise hang the suite)."""
    import signal

    def too_long(*args: Any) -> None:
        raise TimeoutError("the test ran for more than 20 seconds")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_is_refused_at_once_even_with_a_writer_that_never_ends(seably_endpoint, tmp_path, time_limit):
    """A generator behind a FIFO would be an endless file: it is refused, without waiting on it or reading it."""
    import threading

    fifo = tmp_path / "endless.jsonl"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write_forever() -> None:
        try:
            with open(fifo, "wb") as pipe:  # blocks until a reader opens it: the import's own open
                while not stop.is_set():
                    pipe.write(b"x" * 65536)
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    out, err = io.StringIO(), io.StringIO()
    try:
        with pytest.raises(CommandError, match="1 file was refused"):
            call_command("seably_import", "--endpoint", "test", str(fifo), stdout=out, stderr=err)
    finally:
        stop.set()
        # Unblock a writer still waiting for a reader, then let it end.
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=5)

    assert err.getvalue() == (
        f"{fifo}: is a FIFO (named pipe), not a regular file: only regular files are imported: skipped.\n"
    )
    assert not WebhookEvent.objects.exists()


def test_a_fifo_without_a_writer_does_not_block(seably_endpoint, tmp_path, time_limit):
    fifo = tmp_path / "quiet.json"
    os.mkfifo(fifo)

    with pytest.raises(CommandError, match="1 file was refused"):
        run(fifo)


def test_a_huge_line_is_reported_too_large_without_being_held(seably_endpoint, tmp_path, settings, monkeypatch):
    """A line of 3 MB under a 1 KB limit: skipped in bounded reads, the lines after it still imported."""
    settings.SEABLY = {"MAX_BODY_SIZE": 1024}
    path = tmp_path / "huge.jsonl"
    small = line({"event": "certificate.created", "payload": {"data": {"type": "certificate", "id": "SB-AFTER"}}})
    with path.open("w") as file:
        file.write(small.replace("SB-AFTER", "SB-BEFORE"))
        file.write('{"event": "certificate.created", "pad": "' + "x" * (3 * 1024 * 1024) + '"}\n')
        file.write(small)
    reads: list[int] = []
    real_open = seably_import.open_regular_file

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        file = real_open(*args, **kwargs)
        readline = file.readline

        def counting_readline(size: int = -1) -> bytes:
            reads.append(size)
            return readline(size)

        file.readline = counting_readline  # type: ignore[method-assign]
        return file

    monkeypatch.setattr(seably_import, "open_regular_file", counting_open)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 body was too large"):
        call_command("seably_import", "--endpoint", "test", str(path), stdout=out, stderr=err)

    assert err.getvalue() == f"{path}:2: Body is larger than 1024 bytes (MAX_BODY_SIZE): skipped.\n"
    assert sorted(Certificate.objects.values_list("seably_id", flat=True)) == ["SB-AFTER", "SB-BEFORE"]
    assert reads and all(0 < size <= max(1024 + 3, seably_import._CHUNK) for size in reads)


# --- verbosity --------------------------------------------------------------------------------------------------------


def test_verbosity_0_prints_nothing_but_problems(seably_endpoint, jsonl):
    out, err = run(jsonl, "--verbosity", "0")

    assert out == ""
    assert err.startswith(f"{jsonl}:4: Body is not valid JSON")  # an invalid body is a problem, at every verbosity
    assert Certificate.objects.count() == 3


def test_verbosity_1_and_2(seably_endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(seably_import, "PROGRESS_EVERY", 2)
    path = tmp_path / "three.jsonl"
    path.write_text("".join(line(certificate_body(f"SB-{n}")) for n in range(3)))

    one, _ = run(path, "--verbosity", "1")
    WebhookEvent.objects.all().delete()
    two, _ = run(path, "--verbosity", "2")

    assert one.splitlines() == [one.splitlines()[-1]]
    assert one.startswith("Imported 3 bodies from 1 file into 'test': 3 accepted")
    assert two.splitlines()[:2] == [f"{path}: 2 lines read.", f"{path}: 3 lines read."]
    assert two.splitlines()[-1].startswith("Imported 3 bodies")
