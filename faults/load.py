"""The deliveries a scenario sends, and the client that sends them: a bounded pool of threads, one request each.

Every delivery is planned before the load starts (bounded in count), with what it
is meant to be (new, duplicate, ...) and the JSON it carries, so verification can
hold every answer against the database afterwards. The client behaves like a
sender: a new connection per delivery, a timeout, and a retry (at most
``RETRIES``) after a 503 or a connection that broke without an answer.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django_seably.testing import certificate_body

#: What each delivery is meant as, and how often (weights).
MIX = {
    "new": 64,  # a certificate.created never sent before
    "duplicate": 18,  # an earlier body again: half byte for byte, half re-serialised (same JSON)
    "update": 7,  # another certificate.created for an id already sent: new event, no new certificate
    "other_type": 5,  # an event type Seably may add later: stored and processed, no certificate
    "invalid": 3,  # not JSON: 400, kept as invalid
    "unknown_token": 3,  # a valid body to a token no endpoint has: 404, nothing stored
}

#: Seconds a sender waits for an answer.
REQUEST_TIMEOUT = 15.0
#: Retries after a 503 or a broken connection, and the pause before each.
RETRIES = 2
RETRY_PAUSES = (0.3, 1.0)

#: What a request ended with when no HTTP status came back.
RESET, TIMEOUT, REFUSED, ERROR = "reset", "timeout", "refused", "error"


@dataclass(frozen=True)
class Delivery:
    index: int
    meant: str
    body: bytes
    #: The parsed JSON (None for an invalid body).
    expected: Any
    #: payload.data.id, for certificate bodies.
    object_id: str | None
    unknown_token: bool = False


@dataclass(frozen=True)
class Result:
    """One HTTP request (a delivery's attempt): what came back and when."""

    delivery: int
    meant: str
    attempt: int
    #: The HTTP status, or RESET / TIMEOUT / REFUSED / ERROR.
    status: int | str
    #: "accepted" / "duplicate" from a 2xx answer.
    answer: str
    event_id: int | None
    #: Seconds since the load started.
    started: float
    latency: float
    detail: str = ""

    @property
    def ok(self) -> bool:
        return isinstance(self.status, int) and 200 <= self.status < 300


def certificate(run: str, number: int, revision: int = 0) -> dict[str, Any]:
    """A certificate.created for certificate ``number`` (and, for updates, other data); the same on every call."""
    fields: dict[str, Any] = {"issued_at": "2026-11-02T09:14:05Z", "expires_at": "2028-11-02"}
    if revision:
        fields.update(revision=revision, expires_at=f"{2028 + revision}-11-02")
    return certificate_body(
        f"FLT-{run}-{number:06d}",
        learner_email=f"learner{number}@example.com",
        learner_name=f"Learner {number}",
        score=60 + number % 40,
        **fields,
    )


def plan(run: str, count: int, seed: int) -> list[Delivery]:
    """``count`` deliveries in sending order, the mix of MIX, reproducible from ``seed``."""
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    deliveries: list[Delivery] = []
    sent: list[Delivery] = []  # valid bodies sent to the endpoint: what a duplicate repeats
    revisions: dict[int, int] = {}
    numbers = 0
    created: list[int] = []  # certificate numbers sent to the endpoint

    def add(meant: str, body: bytes, expected: Any, object_id: str | None, unknown: bool = False) -> Delivery:
        delivery = Delivery(len(deliveries), meant, body, expected, object_id, unknown)
        deliveries.append(delivery)
        return delivery

    for _ in range(count):
        meant = rng.choices(kinds, weights)[0]
        if meant in ("duplicate", "update") and not created:
            meant = "new"
        if meant == "new":
            numbers += 1
            created.append(numbers)
            document = certificate(run, numbers)
            sent.append(add(meant, _compact(document), document, document["payload"]["data"]["id"]))
        elif meant == "duplicate":
            # Mostly a recent one, so that the original and its duplicate are often in flight together.
            original = rng.choice(sent[-8:]) if rng.random() < 0.6 else rng.choice(sent)
            body = (
                original.body
                if rng.random() < 0.5
                else json.dumps(original.expected, indent=1, sort_keys=True).encode()
            )
            add(meant, body, original.expected, original.object_id)
        elif meant == "update":
            number = rng.choice(created)
            revisions[number] = revisions.get(number, 0) + 1
            document = certificate(run, number, revisions[number])
            sent.append(add(meant, _compact(document), document, document["payload"]["data"]["id"]))
        elif meant == "other_type":
            document = {
                "event": "user.invited",
                "payload": {"data": {"type": "user", "id": f"U-{run}-{len(deliveries)}", "email": "crew@example.com"}},
            }
            sent.append(add(meant, _compact(document), document, document["payload"]["data"]["id"]))
        elif meant == "invalid":
            add(meant, b'{"event": "certificate.created", "payload": ' + secrets.token_hex(8).encode(), None, None)
        else:
            numbers += 1
            document = certificate(run, numbers)
            add(meant, _compact(document), document, document["payload"]["data"]["id"], unknown=True)
    return deliveries


def _compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# --- the client ---------------------------------------------------------------------


def send(
    host: str, port: int, path: str, body: bytes, timeout: float = REQUEST_TIMEOUT
) -> tuple[int | str, bytes, str]:
    """POST ``body`` on a new connection; return the status (or why there is none), the body and a detail."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.read(), ""
    except TimeoutError as error:
        return TIMEOUT, b"", repr(error)
    except ConnectionRefusedError as error:
        return REFUSED, b"", repr(error)
    except (ConnectionError, http.client.HTTPException) as error:
        # RemoteDisconnected, ConnectionResetError, BrokenPipeError, IncompleteRead: no (whole) answer.
        return RESET, b"", repr(error)
    except OSError as error:
        return ERROR, b"", repr(error)
    finally:
        connection.close()


def run_load(
    host: str,
    port: int,
    endpoint_path: str,
    deliveries: Sequence[Delivery],
    *,
    threads: int,
    seconds: float,
    start: float | None = None,
) -> tuple[list[Result], float]:
    """Send ``deliveries`` from ``threads`` threads until they run out or ``seconds`` pass; return results, wall time.

    Bounded: each thread stops taking deliveries at the deadline, each request is
    bounded by REQUEST_TIMEOUT, each delivery by RETRIES, and the threads are
    joined with a deadline of their own. ``start`` (``time.monotonic()``) is the
    zero of every ``Result.started``, shared with whatever disrupts the load.
    """
    unknown_path = endpoint_path.rstrip("/").rsplit("/", 1)[0] + f"/{secrets.token_urlsafe(32)}/"
    lock = threading.Lock()
    queue = iter(deliveries)
    results: list[Result] = []
    errors: list[BaseException] = []
    start = time.monotonic() if start is None else start
    deadline = start + seconds

    def take() -> Delivery | None:
        with lock:
            if time.monotonic() > deadline:
                return None
            return next(queue, None)

    def deliver(delivery: Delivery) -> list[Result]:
        path = unknown_path if delivery.unknown_token else endpoint_path
        attempts = []
        for attempt in range(1 + RETRIES):
            began = time.monotonic()
            status, body, detail = send(host, port, path, delivery.body)
            latency = time.monotonic() - began
            answer, event_id = "", None
            if isinstance(status, int) and 200 <= status < 300:
                try:
                    parsed = json.loads(body)
                    answer, event_id = str(parsed.get("status", "")), parsed.get("event_id")
                except (ValueError, AttributeError):
                    detail = f"2xx without a JSON answer: {body[:200]!r}"
            elif isinstance(status, int) and status >= 500:
                detail = body[:200].decode(errors="replace")
            attempts.append(
                Result(
                    delivery.index, delivery.meant, attempt, status, answer, event_id, began - start, latency, detail
                )
            )
            retry = status == 503 or status in (RESET, TIMEOUT, REFUSED)
            if not retry or attempt == RETRIES or time.monotonic() + RETRY_PAUSES[attempt] > deadline:
                break
            time.sleep(RETRY_PAUSES[attempt])
        return attempts

    def worker() -> None:
        try:
            for _ in range(len(deliveries)):
                delivery = take()
                if delivery is None:
                    return
                attempts = deliver(delivery)
                with lock:
                    results.extend(attempts)
        except BaseException as error:  # reported by the caller
            errors.append(error)

    pool = [threading.Thread(target=worker, name=f"faults-client-{i}", daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    join_deadline = deadline + (1 + RETRIES) * (REQUEST_TIMEOUT + 1) + 5
    for thread in pool:
        thread.join(timeout=max(join_deadline - time.monotonic(), 0.1))
    if any(thread.is_alive() for thread in pool):
        raise RuntimeError("a client thread did not finish within its bound")
    if errors:
        raise RuntimeError(f"a client thread failed: {errors[0]!r}") from errors[0]
    with lock:
        return sorted(results, key=lambda result: result.started), time.monotonic() - start
