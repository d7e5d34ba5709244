"""Hostile bodies, generated: whatever is sent, the answer is never a 5xx and nothing valid is lost."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_seably.models import WebhookEvent

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
def test_no_body_gives_a_server_error(post_webhook, body):
    before = WebhookEvent.objects.count()

    response = post_webhook(body)

    assert response.status_code in (200, 400), response.content
    answer = response.json()
    if response.status_code == 200:
        assert answer["status"] in ("accepted", "duplicate")
        event = WebhookEvent.objects.get(pk=answer["event_id"])
        assert event.status in ("processed", "failed")
    else:
        assert set(answer) == {"error"}
        assert WebhookEvent.objects.filter(status="invalid").exists()
    assert WebhookEvent.objects.count() in (before, before + 1)
