"""django_seably.asgi.guard_webhooks, driven in-process with ASGI messages (real servers: tests/test_server_logs.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from django.test import override_settings
from django.urls import include, path

from django_seably.asgi import guard_webhooks

TOKEN = "Zq3vT9sLxW2mN8rK4bY7cD1fG6hJ0pQ5aE_uI-oRtYw"
LIMIT = 1000


class UnderAnotherPrefix:
    urlpatterns = [path("hooks/in/", include("django_seably.urls"))]


class RecordingApp:
    """An inner application that reads the whole body and answers 200, recording what it saw."""

    def __init__(self) -> None:
        self.scope: dict[str, Any] | None = None
        self.body = b""
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        self.scope = dict(scope)
        if scope["type"] == "http":
            while True:
                message = await receive()
                self.body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


class Exchange:
    """The server side: the messages it offers, and what it was sent and asked for."""

    def __init__(self, messages: Iterable[dict[str, Any]]) -> None:
        self.pending = list(messages)
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        if self.pending:
            return self.pending.pop(0)
        await asyncio.sleep(3600)  # a client that sends nothing more
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.sent[1:])


def http_scope(request_path: str, *, headers: Iterable[tuple[bytes, bytes]] = (), **extra: Any) -> dict[str, Any]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "root_path": "",
        "path": request_path,
        "raw_path": request_path.encode(),
        "query_string": b"",
        "headers": list(headers),
    }
    scope.update(extra)
    return scope


def run(app: Any, scope: dict[str, Any], messages: Iterable[dict[str, Any]]) -> Exchange:
    exchange = Exchange(messages)
    asyncio.run(asyncio.wait_for(app(scope, exchange.receive, exchange.send), timeout=10))
    return exchange


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": data, "more_body": more}


@pytest.fixture(autouse=True)
def _limit(settings: Any) -> None:
    settings.SEABLY = {"MAX_BODY_SIZE": LIMIT}


class TestBodyLimit:
    def test_a_declared_length_over_the_limit_is_413_before_any_read(self):
        inner = RecordingApp()
        scope = http_scope(f"/seably/{TOKEN}/", headers=[(b"content-length", str(200 * 1024 * 1024).encode())])

        exchange = run(guard_webhooks(inner), scope, [])

        assert exchange.status == 413
        assert exchange.received == 0
        assert not inner.called
        assert json.loads(exchange.body) == {"error": f"Body is larger than {LIMIT} bytes."}
        assert (b"connection", b"close") in exchange.sent[0]["headers"]
        assert (b"content-type", b"application/json") in exchange.sent[0]["headers"]

    def test_a_body_without_length_is_cut_once_over_the_limit(self):
        inner = RecordingApp()
        chunks = [body(b"x" * 400, more=True) for _ in range(3)] + [body(b"x" * 400, more=True)] * 100

        exchange = run(guard_webhooks(inner), http_scope(f"/seably/{TOKEN}/"), chunks)

        assert exchange.status == 413
        assert exchange.received == 3  # 1200 bytes > 1000: nothing more was read
        assert not inner.called

    def test_a_body_of_exactly_the_limit_reaches_the_application_whole(self):
        inner = RecordingApp()
        chunks = [body(b"a" * 600, more=True), body(b"b" * 400)]

        exchange = run(guard_webhooks(inner), http_scope(f"/seably/{TOKEN}/"), chunks)

        assert exchange.status == 200
        assert inner.body == b"a" * 600 + b"b" * 400

    def test_a_declared_length_at_the_limit_is_read(self):
        inner = RecordingApp()
        scope = http_scope(f"/seably/{TOKEN}/", headers=[(b"content-length", str(LIMIT).encode())])

        exchange = run(guard_webhooks(inner), scope, [body(b"z" * LIMIT)])

        assert exchange.status == 200
        assert inner.body == b"z" * LIMIT

    def test_an_unparsable_length_is_counted_instead(self):
        inner = RecordingApp()
        scope = http_scope(f"/seably/{TOKEN}/", headers=[(b"content-length", b"lots")])

        exchange = run(guard_webhooks(inner), scope, [body(b"x" * (LIMIT + 1))])

        assert exchange.status == 413
        assert not inner.called

    def test_a_client_that_leaves_gets_no_answer(self):
        inner = RecordingApp()

        exchange = run(
            guard_webhooks(inner), http_scope(f"/seably/{TOKEN}/"), [body(b"x", more=True), {"type": "http.disconnect"}]
        )

        assert exchange.sent == []
        assert not inner.called

    @pytest.mark.parametrize(
        "spelling", [f"//seably/{TOKEN}/", f"/Seably/{TOKEN}/", f"/SEABLY/{TOKEN};x", "/seably/", "/seably"]
    )
    def test_every_spelling_of_the_prefix_is_limited(self, spelling):
        scope = http_scope(spelling, headers=[(b"content-length", b"999999999")])

        exchange = run(guard_webhooks(RecordingApp()), scope, [])

        assert exchange.status == 413

    @override_settings(ROOT_URLCONF=UnderAnotherPrefix)
    def test_the_prefix_is_read_from_the_urlconf(self):
        guarded = guard_webhooks(RecordingApp())
        huge = [(b"content-length", b"999999999")]

        assert run(guarded, http_scope(f"/hooks/in/{TOKEN}/", headers=huge), []).status == 413
        assert run(guarded, http_scope(f"/seably/{TOKEN}/", headers=huge), [body(b"{}")]).status == 200

    def test_the_limit_follows_the_setting(self, settings):
        settings.SEABLY = {"MAX_BODY_SIZE": 10}
        scope = http_scope(f"/seably/{TOKEN}/", headers=[(b"content-length", b"11")])

        assert run(guard_webhooks(RecordingApp()), scope, []).status == 413


class TestPassThrough:
    @pytest.mark.parametrize(
        "other", ["/admin/", "/api/seably/certificates/", f"/elsewhere/seably/{TOKEN}/", "/seablyx/"]
    )
    def test_other_paths_are_untouched_and_unlimited(self, other):
        inner = RecordingApp()
        scope = http_scope(other, headers=[(b"content-length", b"1500")])
        original = dict(scope)

        exchange = run(guard_webhooks(inner), scope, [body(b"y" * 1500)])

        assert exchange.status == 200
        assert inner.body == b"y" * 1500
        assert scope == original
        assert inner.scope == original

    def test_lifespan_is_passed_through(self):
        seen: list[str] = []

        async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])
            message = await receive()
            seen.append(message["type"])
            await send({"type": "lifespan.startup.complete"})

        exchange = run(guard_webhooks(lifespan_app), {"type": "lifespan"}, [{"type": "lifespan.startup"}])

        assert seen == ["lifespan", "lifespan.startup"]
        assert exchange.sent == [{"type": "lifespan.startup.complete"}]

    def test_a_websocket_on_the_webhook_path_is_passed_through(self):
        seen: list[Any] = []

        async def websocket_app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(dict(scope))
            await send({"type": "websocket.close"})

        scope = {"type": "websocket", "path": f"/seably/{TOKEN}/", "raw_path": f"/seably/{TOKEN}/".encode()}

        run(guard_webhooks(websocket_app), dict(scope), [])

        assert seen == [scope]


class TestServerScope:
    def test_the_application_sees_the_request_as_it_came(self):
        inner = RecordingApp()
        scope = http_scope(f"/seably/{TOKEN}/", query_string=f"t={TOKEN}".encode())

        run(guard_webhooks(inner), scope, [body(b"{}")])

        assert inner.scope is not None
        assert inner.scope["path"] == f"/seably/{TOKEN}/"
        assert inner.scope["raw_path"] == f"/seably/{TOKEN}/".encode()
        assert inner.scope["query_string"] == f"t={TOKEN}".encode()

    @pytest.mark.parametrize(
        ("path", "raw_path"),
        [
            (f"/seably/{TOKEN}/", f"/seably/{TOKEN}/"),
            (f"/seably/{TOKEN}/", f"/seably/%{ord(TOKEN[0]):02X}{TOKEN[1:]}/"),
            (f"//seably/{TOKEN}/", f"//seably/{TOKEN}/"),
            (f"/Seably/{TOKEN}.json", f"/Seably/{TOKEN}.json"),
        ],
    )
    def test_the_scope_the_server_logs_from_is_masked(self, path, raw_path):
        scope = http_scope(path, raw_path=raw_path.encode(), query_string=f"t={TOKEN}".encode())

        run(guard_webhooks(RecordingApp()), scope, [body(b"{}")])

        assert TOKEN not in scope["path"]
        assert TOKEN[:4] + "…" in scope["path"]
        assert TOKEN.encode() not in scope["raw_path"]
        assert raw_path[-len(TOKEN) :].encode() not in scope["raw_path"]
        assert scope["raw_path"].isascii()
        assert TOKEN.encode() not in scope["query_string"]

    def test_a_root_path_is_kept(self):
        inner = RecordingApp()
        scope = http_scope(f"/app/seably/{TOKEN}/", root_path="/app", raw_path=f"/app/seably/{TOKEN}/".encode())

        run(guard_webhooks(inner), scope, [body(b"{}")])

        assert scope["path"] == f"/app/seably/{TOKEN[:4]}…/"
        assert scope["raw_path"] == f"/app/seably/{TOKEN[:4]}%E2%80%A6/".encode()
        assert inner.scope is not None
        assert inner.scope["path"] == f"/app/seably/{TOKEN}/"
