from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.db.models import CharField
from django.test import override_settings

from django_seably.certificates import extract_fields
from django_seably.models import Certificate, WebhookEvent
from tests.conftest import load_payload

UTC = datetime.UTC

EMPTY = {
    "learner_email": "",
    "learner_name": "",
    "course_name": "",
    "issued_at": None,
    "expires_on": None,
    "url": "",
}

FLAT_FIELDS = {
    "learner_email": "ingrid.solberg@example.com",
    "learner_name": "Ingrid Solberg",
    "course_name": "Enclosed Space Entry",
    "issued_at": datetime.datetime(2026, 11, 2, 9, 14, 5, tzinfo=UTC),
    "expires_on": datetime.date(2028, 11, 2),
    "url": "https://www.seably.com/certificates/SB-00000042",
}

JSONAPI_FIELDS = {
    "learner_email": "asa.lindqvist@example.se",
    "learner_name": "Åsa Lindqvist-Nyström",
    "course_name": "Ballastvattenhantering — grundkurs",
    "issued_at": datetime.datetime(2026, 11, 20, 15, 1, 44, tzinfo=UTC),
    "expires_on": None,
    "url": "https://www.seably.com/certificates/SB-00000107.pdf",
}


def certificate_data(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(load_payload(name))["payload"]["data"]
    return data


def extract(**data: Any) -> dict[str, Any]:
    return extract_fields({"type": "certificate", "id": "SB-1", **data})


class TestSamples:
    def test_flat_sample(self):
        fields = extract_fields(certificate_data("certificate_created_flat.json"))

        assert fields == FLAT_FIELDS
        assert fields["issued_at"].utcoffset() == datetime.timedelta(0)

    def test_jsonapi_sample(self):
        fields = extract_fields(certificate_data("certificate_created_jsonapi.json"))

        assert fields == JSONAPI_FIELDS
        # The offset Seably sent is kept; the instant is what compares equal.
        assert fields["issued_at"].utcoffset() == datetime.timedelta(hours=1)
        assert fields["issued_at"].isoformat() == "2026-11-20T16:01:44+01:00"

    def test_minimal_sample_gives_empty_columns(self):
        assert extract_fields(certificate_data("certificate_created_minimal.json")) == EMPTY

    def test_empty_data_gives_empty_columns(self):
        assert extract_fields({}) == EMPTY

    def test_extract_does_not_change_the_data(self):
        data = certificate_data("certificate_created_flat.json")
        before = json.loads(json.dumps(data))

        extract_fields(data)

        assert data == before


class TestPaths:
    def test_first_path_with_a_value_wins(self):
        fields = extract(attributes={"learner_email": "first@example.com"}, user={"email": "second@example.com"})

        assert fields["learner_email"] == "first@example.com"

    def test_later_path_used_when_earlier_ones_are_missing_null_or_empty(self):
        fields = extract(attributes={"learner_email": None}, user={"email": ""}, learner_email="third@example.com")

        assert fields["learner_email"] == "third@example.com"

    def test_full_name_wins_over_first_and_last_name(self):
        fields = extract(user={"name": "I. Solberg", "first_name": "Ingrid", "last_name": "Solberg"})

        assert fields["learner_name"] == "I. Solberg"

    def test_first_and_last_name_are_joined_with_a_space(self):
        fields = extract(user={"first_name": "  Ingrid ", "last_name": " Solberg  "})

        assert fields["learner_name"] == "Ingrid Solberg"

    @pytest.mark.parametrize(
        ("user", "expected"),
        [
            ({"first_name": "Ingrid"}, "Ingrid"),
            ({"last_name": "Solberg"}, "Solberg"),
            ({"first_name": 7, "last_name": "Solberg"}, "Solberg"),
            ({"first_name": "Ingrid", "last_name": ["Solberg"]}, "Ingrid"),
            ({"first_name": "  ", "last_name": "Solberg"}, "Solberg"),
            ({"first_name": "", "last_name": ""}, ""),
            ({"first_name": None, "last_name": None}, ""),
        ],
    )
    def test_joined_name_skips_missing_or_malformed_parts(self, user, expected):
        assert extract(user=user)["learner_name"] == expected

    def test_joined_name_falls_through_to_the_next_path_when_empty(self):
        fields = extract(user={"first_name": "", "last_name": None}, learner_name="Ingrid Solberg")

        assert fields["learner_name"] == "Ingrid Solberg"

    def test_course_title_and_top_level_names(self):
        assert extract(course={"title": "Fire Safety"})["course_name"] == "Fire Safety"
        assert extract(course_name="Fire Safety")["course_name"] == "Fire Safety"

    def test_issue_date_falls_back_to_created_at(self):
        assert extract(issued_at="2026-01-02T03:04:05Z")["issued_at"] == datetime.datetime(
            2026, 1, 2, 3, 4, 5, tzinfo=UTC
        )
        assert extract(created_at="2026-01-02T03:04:05Z")["issued_at"] == datetime.datetime(
            2026, 1, 2, 3, 4, 5, tzinfo=UTC
        )

    def test_expiry_paths(self):
        assert extract(attributes={"expires_at": "2030-05-06"})["expires_on"] == datetime.date(2030, 5, 6)
        assert extract(expires_at="2030-05-06")["expires_on"] == datetime.date(2030, 5, 6)

    def test_certificate_url_paths(self):
        assert extract(certificate_url="https://example.com/c.pdf")["url"] == "https://example.com/c.pdf"


class TestMalformedValues:
    @pytest.mark.parametrize("value", [42, 4.2, True, ["a@example.com"], {"email": "a@example.com"}])
    def test_text_column_of_wrong_type_is_empty(self, value):
        fields = extract(learner_email=value, learner_name=value, course_name=value, url=value)

        assert (fields["learner_email"], fields["learner_name"], fields["course_name"], fields["url"]) == (
            "",
            "",
            "",
            "",
        )

    @pytest.mark.parametrize("value", ["not-an-email", "  ", "example.com"])
    def test_email_without_at_sign_is_empty(self, value):
        assert extract(learner_email=value)["learner_email"] == ""

    @pytest.mark.parametrize(
        "value", ["  a@example.com\n", " a@example.com", "a@example.com\u00a0", "\u3000a@example.com", "a @example.com"]
    )
    def test_email_is_kept_as_sent(self, value):
        # Never trimmed: linking compares the address as sent, and the column shows it as received.
        assert extract(learner_email=value)["learner_email"] == value

    def test_other_text_columns_are_stripped(self):
        fields = extract(learner_name="  Ada Lovelace\n", course_name="\tFire safety ")

        assert (fields["learner_name"], fields["course_name"]) == ("Ada Lovelace", "Fire safety")

    @pytest.mark.parametrize(
        ("column", "key"),
        [
            ("learner_email", "learner_email"),
            ("learner_name", "learner_name"),
            ("course_name", "course_name"),
            ("url", "url"),
        ],
    )
    def test_text_longer_than_its_column_is_empty(self, column, key):
        field = Certificate._meta.get_field(column)
        assert isinstance(field, CharField) and field.max_length is not None
        limit = field.max_length
        fitting = "a@" + "x" * (limit - 2)
        too_long = "a@" + "x" * (limit - 1)

        assert extract(**{key: fitting})[column] == fitting
        assert extract(**{key: too_long})[column] == ""

    def test_length_is_measured_after_stripping(self):
        name = "n" * 255

        assert extract(learner_name=f"  {name}  ")["learner_name"] == name

    @pytest.mark.parametrize(
        "value",
        [
            "2026-02-31",
            "2026-02-31T10:00:00Z",
            "2026-13-01",
            "2026-11-02T25:00:00Z",
            "yesterday",
            "",
            "   ",
            "02/11/2026",
            "2026-11",
            1_700_000_000,
            1.5,
            True,
            ["2026-11-02"],
            {"date": "2026-11-02"},
        ],
    )
    def test_bad_dates_give_none(self, value):
        fields = extract(issued_at=value, valid_until=value)

        assert (fields["issued_at"], fields["expires_on"]) == (None, None)

    def test_date_only_issue_date_is_midnight_utc(self):
        assert extract(issued_at="2026-11-02")["issued_at"] == datetime.datetime(2026, 11, 2, tzinfo=UTC)

    def test_naive_issue_datetime_is_taken_as_utc(self):
        issued_at = extract(issued_at="2026-11-02T09:14:05")["issued_at"]

        assert issued_at == datetime.datetime(2026, 11, 2, 9, 14, 5, tzinfo=UTC)
        assert issued_at.tzinfo is UTC

    def test_expiry_given_as_datetime_keeps_its_date(self):
        assert extract(valid_until="2028-11-02T23:30:00-05:00")["expires_on"] == datetime.date(2028, 11, 2)

    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    @override_settings(USE_TZ=False)
    def test_datetime_out_of_range_in_utc_gives_none_without_time_zone_support(self, value):
        assert extract(issued_at=value)["issued_at"] is None

    @pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    def test_datetime_out_of_range_in_utc_gives_none(self, value):
        assert extract(issued_at=value)["issued_at"] is None

    def test_malformed_containers_never_raise(self):
        fields = extract_fields(
            {
                "attributes": "not a dict",
                "user": ["not", "a", "dict"],
                "course": None,
                "learner_email": {"nested": True},
            }
        )

        assert fields == EMPTY


class TestOverride:
    def test_override_changes_one_column(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_name": ["user.first_name"]}}

        fields = extract_fields(certificate_data("certificate_created_flat.json"))

        assert fields == {**FLAT_FIELDS, "learner_name": "Ingrid"}

    def test_override_can_join_paths(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"course_name": [["course.name", "user.last_name"]]}}

        fields = extract_fields(certificate_data("certificate_created_flat.json"))

        assert fields["course_name"] == "Enclosed Space Entry Solberg"

    def test_override_with_no_paths_empties_the_column(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"url": []}}

        fields = extract_fields(certificate_data("certificate_created_flat.json"))

        assert fields == {**FLAT_FIELDS, "url": ""}

    def test_override_to_a_missing_path_empties_the_column(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"issued_at": ["finished_at"]}}

        assert extract_fields(certificate_data("certificate_created_flat.json"))["issued_at"] is None


class TestWithoutTimeZoneSupport:
    @override_settings(USE_TZ=False)
    def test_issued_at_is_naive_utc(self):
        fields = extract_fields(certificate_data("certificate_created_jsonapi.json"))

        assert fields["issued_at"] == datetime.datetime(2026, 11, 20, 15, 1, 44)
        assert fields["issued_at"].tzinfo is None

    @override_settings(USE_TZ=False, TIME_ZONE="Europe/Oslo")
    def test_issued_at_is_naive_in_the_projects_time_zone(self):
        flat = extract_fields(certificate_data("certificate_created_flat.json"))
        jsonapi = extract_fields(certificate_data("certificate_created_jsonapi.json"))

        assert flat["issued_at"] == datetime.datetime(2026, 11, 2, 10, 14, 5)
        assert jsonapi["issued_at"] == datetime.datetime(2026, 11, 20, 16, 1, 44)

    @override_settings(USE_TZ=False)
    def test_other_columns_do_not_change(self):
        fields = extract_fields(certificate_data("certificate_created_flat.json"))

        assert {k: v for k, v in fields.items() if k != "issued_at"} == {
            k: v for k, v in FLAT_FIELDS.items() if k != "issued_at"
        }
        assert fields["expires_on"] == datetime.date(2028, 11, 2)


@pytest.mark.django_db
class TestThroughTheWebhook:
    @pytest.mark.parametrize(
        ("sample", "seably_id", "expected"),
        [
            ("certificate_created_flat.json", "SB-00000042", FLAT_FIELDS),
            ("certificate_created_jsonapi.json", "SB-00000107", JSONAPI_FIELDS),
            ("certificate_created_minimal.json", "SB-00000001", EMPTY),
        ],
    )
    def test_stored_certificate_has_the_columns(self, seably_deliver, sample, seably_id, expected):
        body = load_payload(sample)

        response = seably_deliver(body)

        assert response.status_code == 200
        certificate = Certificate.objects.get()
        assert certificate.seably_id == seably_id
        assert certificate.data == json.loads(body)["payload"]["data"]
        assert {column: getattr(certificate, column) for column in expected} == expected
        assert certificate.event == WebhookEvent.objects.get()

    def test_malformed_values_leave_columns_empty_and_the_event_processed(self, seably_deliver):
        data = {
            "type": "certificate",
            "id": "SB-BAD",
            "created_at": "2026-02-31T10:00:00Z",
            "valid_until": "yesterday",
            "url": ["https://example.com"],
            "user": {"email": "nobody", "first_name": 1, "last_name": None},
            "course": {"name": "c" * 256},
        }

        response = seably_deliver({"event": "certificate.created", "payload": {"data": data}})

        assert response.status_code == 200
        assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
        certificate = Certificate.objects.get()
        assert {column: getattr(certificate, column) for column in EMPTY} == EMPTY
        assert certificate.data == data

    def test_override_applies_to_stored_columns(self, seably_deliver, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"course_name": ["course.id"], "learner_name": ["user.last_name"]}}

        seably_deliver(load_payload("certificate_created_flat.json"))

        certificate = Certificate.objects.get()
        assert (certificate.course_name, certificate.learner_name) == ("", "Solberg")

    def test_issue_date_out_of_range_in_utc_leaves_the_column_empty(self, seably_deliver):
        body = {
            "event": "certificate.created",
            "payload": {"data": {"type": "certificate", "id": "SB-Y1", "created_at": "0001-01-01T00:00:00+01:00"}},
        }

        seably_deliver(body)

        assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
        assert Certificate.objects.get().issued_at is None
