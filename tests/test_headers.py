"""Which request headers are stored with an event (``django_seably.headers``)."""

from __future__ import annotations

import json

import pytest

from django_seably.headers import (
    MASKED_VALUE,
    MAX_STORED_HEADER_LENGTH,
    MAX_STORED_HEADERS,
    is_secret_header,
    storable_headers,
)
from django_seably.models import WebhookEvent
from tests.factories import certificate_body

TOKEN = "goVSq1w2e3r4t5y6u7i8o9p0-abcdefghijklmnopqrs"
OTHER = "Q9vXk2LmN4pR6sT8uV0wY1zA3bC5dE7fG_hJ-iKoMnP"


class TestStorableHeaders:
    def test_ordinary_headers_are_kept(self):
        headers = {"User-Agent": "Seably/1.0", "Content-Type": "application/json", "Keep-Alive": "5"}

        assert storable_headers(headers, TOKEN) == headers

    @pytest.mark.parametrize("name", ["Authorization", "Cookie", "Proxy-Authorization", "COOKIE", "authorization"])
    def test_credentials_are_left_out(self, name):
        assert storable_headers({name: "Bearer x", "Accept": "*/*"}, TOKEN) == {"Accept": "*/*"}

    @pytest.mark.parametrize(
        "name",
        [
            "X-Api-Key",
            "X-Auth-Token",
            "X-API-KEY",
            "Api-Secret",
            "X-Client-Secret",
            "X-Password",
            "X-Session-Id",
            "X-Authenticated-As",
            "x-csrftoken",
            "Idempotency-Key",
        ],
    )
    def test_secret_looking_values_are_masked(self, name):
        stored = storable_headers({name: "s3cr3t-value-1234567890"}, TOKEN)

        assert stored == {name: MASKED_VALUE}

    def test_an_empty_secret_stays_empty(self):
        assert storable_headers({"X-Api-Key": ""}, TOKEN) == {"X-Api-Key": ""}

    @pytest.mark.parametrize(
        "name", ["X-Seably-Signature", "Stripe-Signature", "X-Hub-Signature-256", "X-Signature-Key", "SIGNATURE"]
    )
    def test_signature_headers_are_kept_as_they_are(self, name):
        value = "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"

        assert storable_headers({name: value}, TOKEN) == {name: value}

    def test_the_token_is_masked_wherever_it_appears(self):
        stored = storable_headers(
            {"X-Original-Uri": f"/seably/{TOKEN}/", "Referer": f"https://a.example/seably/{TOKEN}/?x={TOKEN}"}, TOKEN
        )

        assert stored == {
            "X-Original-Uri": "/seably/goVS…/",
            "Referer": "https://a.example/seably/goVS…/?x=goVS…",
        }

    @pytest.mark.parametrize(
        ("name", "value", "stored"),
        [
            ("Referer", "https://a.example/seably/%67" + TOKEN[1:] + "/", "https://a.example/seably/%67o…/"),
            ("X-Original-Uri", "/seably/" + "".join(f"%{ord(c):02X}" for c in TOKEN) + "/", "/seably/%67%…/"),
            ("X-Original-Uri", "/old-prefix/" + "".join(f"%{ord(c):02x}" for c in TOKEN), "/old-prefix/%67%…"),
            ("X-Forwarded-Host", f"{OTHER}.example", f"{OTHER[:4]}….example"),
            ("Referer", f"https://a.example/seably/'{OTHER}'", "https://a.example/seably/'Q9vX…'"),
        ],
    )
    def test_any_spelling_of_a_token_is_masked(self, name, value, stored):
        # Percent-encoded, or another endpoint's: masked by the same rule as the logs.
        assert storable_headers({name: value}, TOKEN) == {name: stored}

    @pytest.mark.parametrize(
        "value",
        [
            "https://shop.example/blog/how-to-configure-django-logging-in-production/",
            "https://shop.example/orders/550e8400-e29b-41d4-a716-446655440000/",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ],
    )
    def test_other_values_are_stored_as_they_came(self, value):
        assert storable_headers({"Referer": value}, TOKEN) == {"Referer": value}

    def test_a_token_in_a_header_name_is_masked(self):
        assert storable_headers({f"X-{TOKEN}": "1"}, TOKEN) == {"X-goVS…": "1"}

    def test_nul_is_replaced(self):
        assert storable_headers({"X-Note": "a\x00b"}, TOKEN) == {"X-Note": "a\ufffdb"}

    def test_count_and_length_are_bounded(self):
        headers = {f"X-Pad-{i}": "v" * 5000 for i in range(80)}

        stored = storable_headers(headers, TOKEN)

        assert list(stored) == [f"X-Pad-{i}" for i in range(MAX_STORED_HEADERS)]
        assert {len(value) for value in stored.values()} == {MAX_STORED_HEADER_LENGTH}
        assert all(value.endswith("…") for value in stored.values())

    def test_the_token_is_masked_before_a_value_is_cut(self):
        # Cut first, a token straddling the limit would leave its first part in clear.
        value = "x" * (MAX_STORED_HEADER_LENGTH - 10) + TOKEN

        stored = storable_headers({"X-Long": value}, TOKEN)["X-Long"]

        assert TOKEN[:10] not in stored
        assert len(stored) <= MAX_STORED_HEADER_LENGTH

    def test_left_out_headers_do_not_count_towards_the_bound(self):
        headers = {"Cookie": "a", "Authorization": "b", **{f"X-{i}": "v" for i in range(MAX_STORED_HEADERS)}}

        assert len(storable_headers(headers, TOKEN)) == MAX_STORED_HEADERS

    def test_an_empty_token_masks_nothing(self):
        assert storable_headers({"X-Note": "abc"}, "") == {"X-Note": "abc"}

    @pytest.mark.parametrize(
        ("name", "secret"),
        [("X-Api-Key", True), ("X-Seably-Signature", False), ("Keep-Alive", False), ("X-Request-Id", False)],
    )
    def test_is_secret_header(self, name, secret):
        assert is_secret_header(name) is secret


@pytest.mark.django_db
def test_the_view_stores_headers_by_these_rules(seably_deliver, seably_endpoint):
    seably_deliver(
        certificate_body(),
        headers={
            "X-Api-Key": "live_key_123456",
            "X-Auth-Token": "tok_abcdef",
            "X-Seably-Signature": "sha256=abc",
            "Authorization": "Bearer secret",
            "User-Agent": "Seably/1.0",
            "X-Original-Uri": seably_endpoint.webhook_path,
        },
    )

    headers = WebhookEvent.objects.get().headers
    assert headers["X-Api-Key"] == MASKED_VALUE
    assert headers["X-Auth-Token"] == MASKED_VALUE
    assert headers["X-Seably-Signature"] == "sha256=abc"
    assert headers["User-Agent"] == "Seably/1.0"
    assert "Authorization" not in headers
    text = json.dumps(headers)
    assert "live_key_123456" not in text
    assert "tok_abcdef" not in text
    assert seably_endpoint.token not in text
