"""Peak memory of one request with a ~1 MiB body, and proof that an over-limit body is refused unread.

Run in a fresh process per measurement (``run.py`` does), with the benchmark
database's environment::

    python -m benchmarks.memory --target ours --case big-string --mode tracemalloc

The request goes through Django's ``WSGIHandler``, as under gunicorn; its body sits in
a buffer built before the measurement starts, and each read copies from it as a read
from a socket does, so what is measured is what the request itself allocates: ``tracemalloc``'s
peak of Python allocations, or the growth of the process's peak RSS (``VmHWM``,
reset through ``/proc/self/clear_refs`` where the kernel allows it).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
import tracemalloc
from collections.abc import Iterable
from typing import Any

MiB = 1024 * 1024
#: The limit while measuring, so that a 1 MiB body is accepted.
MAX_BODY_SIZE = 2 * MiB


def _environ(path: str, stream: Any, length: int | None) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": stream,
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if length is None:
        environ["wsgi.input_terminated"] = True  # a chunked body, as gunicorn marks it
    else:
        environ["CONTENT_LENGTH"] = str(length)
    return environ


def _call(handler: Any, environ: dict[str, Any]) -> tuple[int, bytes]:
    statuses: list[str] = []
    chunks: Iterable[bytes] = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        content = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return int(statuses[0].split()[0]), content


def _vm(field: str) -> int:
    """Return a /proc/self/status field in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # reset VmHWM to the current RSS (Linux 4.0+)
    except OSError:
        return False
    return True


class _UnreadableStream:
    """A request stream that must not be read: it records any attempt and raises."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, *args: Any) -> bytes:
        self.reads += 1
        raise AssertionError("the body was read")

    def readline(self, *args: Any) -> bytes:
        return self.read()


class _SocketStream:
    """A request body that, like a socket, gives new bytes on every read.

    ``BytesIO.read()`` of a whole buffer returns the buffer itself without a copy, which
    would hide the 1 MiB that reading the body costs under a real server.
    """

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._position + size
        chunk = self._view[self._position : end].tobytes()
        self._position += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


class _CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", choices=["ours", "reference"], default="ours")
    parser.add_argument("--case", choices=["big-string", "many-objects", "refused", "chunked-over"], required=True)
    parser.add_argument("--mode", choices=["tracemalloc", "rss"], default="tracemalloc")
    parser.add_argument("--size", type=int, default=MiB)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    from benchmarks import bodies
    from benchmarks.reference.models import ReferenceEndpoint
    from django_seably.models import Endpoint

    if args.target == "ours":
        path = Endpoint.objects.get(name="bench").webhook_path
    else:
        path = f"/reference/{ReferenceEndpoint.objects.get().token}/"
    handler = WSGIHandler()
    tag = f"{os.getpid()}-{args.target}-{args.case}-{args.mode}"
    with override_settings(SEABLY={"PROCESSING": "inline", "MAX_BODY_SIZE": MAX_BODY_SIZE}):
        if args.case == "refused":
            stream = _UnreadableStream()
            status, content = _call(handler, _environ(path, stream, 10 * MAX_BODY_SIZE))
            print(json.dumps({"status": status, "reads": stream.reads, "answer": content.decode()}))
            return
        if args.case == "chunked-over":
            counting = _CountingStream(b"x" * (MAX_BODY_SIZE + MiB))
            status, content = _call(handler, _environ(path, counting, None))
            print(json.dumps({"status": status, "bytes_read": counting.bytes_read, "limit": MAX_BODY_SIZE}))
            return

        # Warm up every code path (imports, caches, the connection) with a small body.
        small = bodies.encode(bodies.certificate(f"SB-WARM-{tag}"))
        warm_status, _ = _call(handler, _environ(path, _SocketStream(small), len(small)))
        assert warm_status == 200, warm_status
        make = bodies.big_string if args.case == "big-string" else bodies.many_objects
        body = make(args.size, seably_id=f"SB-MEM-{tag}")
        environ = _environ(path, _SocketStream(body), len(body))
        gc.collect()
        result: dict[str, Any] = {"body_bytes": len(body), "target": args.target, "case": args.case}
        if args.mode == "tracemalloc":
            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            status, content = _call(handler, environ)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            result["extra_peak_bytes"] = peak - before
        else:
            result["peak_reset"] = _reset_peak_rss()
            rss_before = _vm("VmRSS") if result["peak_reset"] else _vm("VmHWM")
            status, content = _call(handler, environ)
            result["extra_peak_bytes"] = _vm("VmHWM") - rss_before
        result["status"] = status
        result["answer"] = json.loads(content)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
