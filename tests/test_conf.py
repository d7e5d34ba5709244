from __future__ import annotations

import copy
import datetime

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.test import override_settings

from django_seably.certificates import extract_fields
from django_seably.conf import DEFAULT_CERTIFICATE_FIELDS, DEFAULTS, PROCESSING_MODES, seably_settings


class TestDefaults:
    def test_defaults_when_setting_is_absent(self, settings):
        del settings.SEABLY

        assert seably_settings.PROCESSING == "inline"
        assert seably_settings.MAX_BODY_SIZE == 1024 * 1024
        assert seably_settings.CERTIFICATE_FIELDS == DEFAULT_CERTIFICATE_FIELDS

    def test_defaults_when_setting_is_empty(self, settings):
        settings.SEABLY = {}

        assert seably_settings.PROCESSING == "inline"
        assert seably_settings.MAX_BODY_SIZE == 1_048_576
        assert seably_settings.CERTIFICATE_FIELDS == DEFAULT_CERTIFICATE_FIELDS

    def test_documented_defaults(self):
        assert {
            "PROCESSING": "inline",
            "MAX_BODY_SIZE": 1_048_576,
            "CERTIFICATE_FIELDS": {},
            "API_PERMISSION_CLASSES": ["django_seably.api.permissions.ModelPermissions"],
            "LINK_USERS": False,
            "LINKABLE_USERS": "django_seably.linking.active_users",
            "HEALTH_MAX_PENDING_AGE": datetime.timedelta(hours=1),
            "HEALTH_MAX_FAILED": None,
            "HEALTH_MAX_SILENCE": None,
        } == DEFAULTS
        assert PROCESSING_MODES == ("inline", "tasks")

    def test_default_certificate_fields_cover_every_column(self):
        assert list(DEFAULT_CERTIFICATE_FIELDS) == [
            "learner_email",
            "learner_name",
            "course_name",
            "issued_at",
            "expires_on",
            "url",
        ]
        assert DEFAULT_CERTIFICATE_FIELDS["learner_name"] == [
            "attributes.learner_name",
            "user.name",
            ["user.first_name", "user.last_name"],
            "learner_name",
        ]


class TestReadUntilChanged:
    def test_is_read_once_until_setting_changed_says_it_changed(self, settings):
        settings.SEABLY = {"MAX_BODY_SIZE": 10}
        assert seably_settings.MAX_BODY_SIZE == 10
        # Replaced behind Django's back (no setting_changed): still the value read.
        django_settings.SEABLY = {"MAX_BODY_SIZE": 20}
        assert seably_settings.MAX_BODY_SIZE == 10

        setting_changed.send(sender=None, setting="SEABLY", value=None, enter=True)

        assert seably_settings.MAX_BODY_SIZE == 20

    def test_deleting_it_with_the_settings_fixture_is_seen(self, settings):
        settings.SEABLY = {"MAX_BODY_SIZE": 10, "CERTIFICATE_FIELDS": {"url": ["link"]}}
        assert seably_settings.MAX_BODY_SIZE == 10
        assert extract_fields({"link": "https://e.x/c"})["url"] == "https://e.x/c"

        del settings.SEABLY  # pytest-django sends no setting_changed for this

        assert seably_settings.MAX_BODY_SIZE == 1_048_576
        assert extract_fields({"link": "https://e.x/c"})["url"] == ""

    def test_each_change_is_seen(self, settings):
        settings.SEABLY = {"PROCESSING": "tasks", "MAX_BODY_SIZE": 10}
        assert seably_settings.PROCESSING == "tasks"
        assert seably_settings.MAX_BODY_SIZE == 10

        settings.SEABLY = {"PROCESSING": "inline", "MAX_BODY_SIZE": 20}
        assert seably_settings.PROCESSING == "inline"
        assert seably_settings.MAX_BODY_SIZE == 20

    def test_override_settings_applies_and_is_undone(self):
        with override_settings(SEABLY={"MAX_BODY_SIZE": 5}):
            assert seably_settings.MAX_BODY_SIZE == 5

        assert seably_settings.MAX_BODY_SIZE == 1_048_576

    @override_settings(SEABLY={"PROCESSING": "tasks"})
    def test_override_settings_decorator_applies(self):
        assert seably_settings.PROCESSING == "tasks"
        assert seably_settings.MAX_BODY_SIZE == 1_048_576

    def test_changing_the_dict_in_place_is_seen(self, settings):
        settings.SEABLY = {}
        settings.SEABLY["MAX_BODY_SIZE"] = 7

        assert seably_settings.MAX_BODY_SIZE == 7


class TestCertificateFields:
    def test_override_replaces_only_its_column(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_email": ["contact.mail"]}}

        fields = seably_settings.CERTIFICATE_FIELDS

        assert fields["learner_email"] == ["contact.mail"]
        assert {column: paths for column, paths in fields.items() if column != "learner_email"} == {
            column: paths for column, paths in DEFAULT_CERTIFICATE_FIELDS.items() if column != "learner_email"
        }

    def test_override_with_an_empty_list_disables_the_column(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"url": []}}

        assert seably_settings.CERTIFICATE_FIELDS["url"] == []

    def test_override_does_not_change_the_defaults(self, settings):
        before = copy.deepcopy(DEFAULT_CERTIFICATE_FIELDS)
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"course_name": ["training.title"], "url": ["link"]}}

        assert seably_settings.CERTIFICATE_FIELDS["course_name"] == ["training.title"]
        assert before == DEFAULT_CERTIFICATE_FIELDS

        settings.SEABLY = {}
        assert before == seably_settings.CERTIFICATE_FIELDS

    def test_other_keys_leave_certificate_fields_at_default(self, settings):
        settings.SEABLY = {"PROCESSING": "tasks"}

        assert seably_settings.CERTIFICATE_FIELDS == DEFAULT_CERTIFICATE_FIELDS
