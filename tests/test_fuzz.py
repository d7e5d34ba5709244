"""Hostile bodies, generated: whatever is sent, the answer is never a 5xx and nothing valid is lost."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from django_seably.models import WebhookEvent
from django_seably.payloads import STREAMED_FINGERPRINT_SIZE, fingerprint, parse_body

pytestmark = pytest.mark.django_db

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec=None), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
# JSON text that Python writes but databases may refuse: \u0000, lone surrogates, NaN, Infinity.
hostile_strings = st.sampled_from(["\x00", "\ud800", "\udfff", "a\x00b", "\ud83d\ude00", "\ufeff", "\u2028"])
webhook_like = st.fixed_dictionaries(
    {"event": st.one_of(st.text(max_size=30), hostile_strings, json_scalars)},
    optional={
        "payload": st.fixed_dictionaries(
            {"data": st.fixed_dictionaries({"type": json_values, "id": json_values | hostile_strings})}
        ),
        "extra": json_values,
        "nasty": hostile_strings | st.floats(),
    },
)
nesting = st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
bodies = st.one_of(
    st.binary(max_size=300),
    webhook_like.map(lambda v: json.dumps(v, ensure_ascii=True).encode()),
    webhook_like.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", errors="surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    nesting,
    nesting.map(lambda b: b'{"event": "x", "n": ' + b + b"}"),
    st.sampled_from([b"\xef\xbb\xbf{}", b'\xef\xbb\xbf{"event": "a.b"}', b'{"event": "a", "n": 1e999}', b"\x00"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_no_body_gives_a_server_error(seably_deliver, body):
    before = WebhookEvent.objects.count()

    response = seably_deliver(body)

    assert response.status_code in (200, 400), response.content
    answer = response.json()
    if response.status_code == 200:
        assert answer["status"] in ("accepted", "duplicate")
        event = WebhookEvent.objects.get(pk=answer["event_id"])
        assert event.status in ("processed", "failed")
        # The payload is stored from the text received, not serialized again: it must read back as parsed.
        text = body if isinstance(body, str) else json.dumps(body) if not isinstance(body, bytes) else body.decode()
        # (PostgreSQL keeps numbers as exact decimals: 1e16 reads back as an int.)
        assert _numbers_as_floats(event.payload) == _numbers_as_floats(json.loads(text.removeprefix("\ufeff")))
    else:
        assert set(answer) == {"error"}
        assert WebhookEvent.objects.filter(status="invalid").exists()
    assert WebhookEvent.objects.count() in (before, before + 1)


def _numbers_as_floats(value):
    if isinstance(value, dict):
        return {key: _numbers_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


@settings(max_examples=300, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_a_streamed_fingerprint_equals_the_one_piece_fingerprint(payload):
    try:
        json.dumps(payload, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        assume(False)  # lone surrogates: parse_body refuses them before fingerprinting
    assert fingerprint(payload, size=STREAMED_FINGERPRINT_SIZE + 1) == fingerprint(payload)


def test_a_big_body_is_fingerprinted_streamed_and_alike():
    small = {"event": "a.b", "payload": {"data": {"notes": "x" * 10}}}
    big = {"event": "a.b", "payload": {"data": {"notes": "é" * (STREAMED_FINGERPRINT_SIZE * 3)}}}
    reordered = {"payload": {"data": {"notes": "é" * (STREAMED_FINGERPRINT_SIZE * 3)}}, "event": "a.b"}

    assert parse_body(json.dumps(big).encode()).fingerprint == fingerprint(big)
    assert fingerprint(big, size=10**7) == fingerprint(reordered, size=10**7) != fingerprint(small, size=10**7)


def test_a_bytearray_body_is_emptied_once_decoded():
    raw = bytearray(b'{"event": "a.b"}')

    body = parse_body(raw)

    assert body.is_valid
    assert raw == bytearray()
    assert body.text == '{"event": "a.b"}'


def test_an_undecodable_bytearray_is_kept_exactly():
    raw = bytearray(b'{"event": "\xff"}')

    body = parse_body(raw)

    assert body.raw == b'{"event": "\xff"}'
    assert isinstance(body.raw, bytes)
