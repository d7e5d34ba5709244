"""Serve the benchmark project under gunicorn and load it with wrk (or, without wrk, a multiprocess client)."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bodies import ID_PLACEHOLDER

HOST = "127.0.0.1"
LUA_SCRIPT = Path(__file__).parent / "wrk" / "post.lua"
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """gunicorn serving a WSGI application on 127.0.0.1 with a fixed number of sync workers.

    By default ``benchmarks.wsgi`` (ours and the reference) with this Python; the
    dj-stripe server passes its venv's Python and its application.
    """

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        log_path: Path,
        python: str = sys.executable,
        application: str = "benchmarks.wsgi:application",
    ) -> None:
        self.env = env
        self.workers = workers
        self.log_path = log_path
        self.python = python
        self.application = application
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "gunicorn",
            self.application,
            f"--bind={HOST}:{self.port}",
            f"--workers={self.workers}",
            "--worker-class=sync",
            "--log-level=warning",
            "--timeout=60",
            "--graceful-timeout=5",
        ]

    def __enter__(self) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    def wait_ready(self, path: str, timeout: float = 30, expect: int = 200) -> None:
        """Wait until a GET of ``path`` is answered ``expect`` (dj-stripe's webhook view answers GET with 405)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}); see {self.log_path}")
            try:
                status, _ = request("GET", self.port, path)
                if status == expect:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout} s; see {self.log_path}")

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        # Our own gunicorn: its master leads the session we started it in.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux; empty elsewhere)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes ``pids`` have used so far (Linux; 0 for a process gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def request(
    method: str,
    port: int,
    path: str,
    body: bytes | None = None,
    timeout: float = 10,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        sent = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def refused_unread(port: int, path: str, declared: int, timeout: float = 10) -> dict[str, Any]:
    """Send only the headers of a POST declaring ``declared`` bytes; a server that reads the body would hang."""
    started = time.monotonic()
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            return {"status": None, "seconds": round(time.monotonic() - started, 3), "declared": declared}
    status_line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return {"status": status, "seconds": round(time.monotonic() - started, 3), "declared": declared}


def run_load(
    url: str, mode: str, body_file: Path, tag: str, seconds: float, connections: int, threads: int = 1
) -> dict[str, Any]:
    """Load ``url`` for ``seconds``; return requests/s, latency percentiles (ms) and errors.

    ``mode``: "new" (``ID_PLACEHOLDER`` in the body file becomes a new id per request),
    "fixed" (the file's bytes every time) or "signed" (the file's lines,
    ``Stripe-Signature<TAB>body``, in turn; one wrk thread, so none is sent twice).
    """
    if shutil.which("wrk"):
        return _run_wrk(url, mode, body_file, tag, seconds, connections, threads)
    return _run_processes(url, mode, body_file, tag, seconds, connections)


def _run_wrk(
    url: str, mode: str, body_file: Path, tag: str, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        f"--script={LUA_SCRIPT}",
        url,
        "--",
        mode,
        str(body_file),
        tag,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    raw = json.loads(lines[-1])
    errors = raw["errors"]
    return {
        "client": "wrk",
        "requests": raw["requests"],
        "seconds": raw["duration_us"] / 1e6,
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": sum(errors.values()),
        "error_detail": errors,
    }


def _client_process(args: tuple[str, str, bytes, str, float, int, int]) -> tuple[list[float], int]:
    url, mode, body, tag, seconds, worker, connections = args
    lines = [line.split(b"\t", 1) for line in body.splitlines()] if mode == "signed" else []
    # Each worker its own share of the lines (no event sent twice), unless there are fewer lines than workers.
    signed = lines[worker::connections] if len(lines) >= connections else lines
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    port = int(hostport.split(":")[1])
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    counter = 0
    while time.monotonic() < deadline and counter < 10_000_000:
        counter += 1
        headers = {}
        if mode == "signed":
            signature, payload = signed[(counter - 1) % len(signed)]
            headers["Stripe-Signature"] = signature.decode()
        elif mode == "fixed":
            payload = body
        else:
            payload = body.replace(ID_PLACEHOLDER.encode(), f"SB-{tag}-{worker}-{counter}".encode())
        started = time.perf_counter()
        try:
            status, _ = request("POST", port, "/" + path, payload, headers=headers)
        except OSError:
            errors += 1
            continue
        latencies.append(time.perf_counter() - started)
        if not 200 <= status < 400:
            errors += 1
    return latencies, errors


def _run_processes(url: str, mode: str, body_file: Path, tag: str, seconds: float, connections: int) -> dict[str, Any]:
    body = body_file.read_bytes()
    started = time.monotonic()
    with multiprocessing.Pool(connections) as pool:
        results = pool.map(
            _client_process, [(url, mode, body, tag, seconds, i, connections) for i in range(connections)]
        )
    elapsed = time.monotonic() - started
    latencies = sorted(latency for part, _ in results for latency in part)
    errors = sum(count for _, count in results)

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000 if latencies else 0.0

    return {
        "client": "processes",
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": latencies[-1] * 1000 if latencies else 0.0,
        "errors": errors,
        "error_detail": {},
    }
