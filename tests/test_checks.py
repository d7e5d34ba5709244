from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_seably.checks import check_settings

VALID_KEYS_HINT = (
    "Valid keys: API_PERMISSION_CLASSES, CERTIFICATE_FIELDS, HEALTH_MAX_FAILED, HEALTH_MAX_PENDING_AGE, "
    "HEALTH_MAX_SILENCE, LINKABLE_USERS, LINK_USERS, MAX_BODY_SIZE, PROCESSING."
)
VALID_COLUMNS_HINT = "Valid columns: learner_email, learner_name, course_name, issued_at, expires_on, url."


def check_error_codes() -> list[str]:
    return [str(error.id) for error in check_settings()]


class TestValidConfigurations:
    def test_absent_setting_gives_no_errors(self, settings):
        del settings.SEABLY

        assert check_settings() == []

    def test_empty_dict_gives_no_errors(self, settings):
        settings.SEABLY = {}

        assert check_settings() == []

    def test_default_values_give_no_errors(self, settings):
        settings.SEABLY = {"PROCESSING": "inline", "MAX_BODY_SIZE": 1024 * 1024, "CERTIFICATE_FIELDS": {}}

        assert check_settings() == []

    def test_full_valid_dict_gives_no_errors(self, settings):
        settings.SEABLY = {
            "PROCESSING": "tasks",
            "MAX_BODY_SIZE": 1,
            "CERTIFICATE_FIELDS": {
                "learner_email": ["user.email", "email"],
                "learner_name": [["user.first_name", "user.last_name"], "user.name"],
                "course_name": ["course.name"],
                "issued_at": ["created_at"],
                "expires_on": ["valid_until"],
                "url": ["links.self.href"],
            },
        }

        assert check_settings() == []

    def test_empty_path_list_is_valid(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"url": []}}

        assert check_settings() == []


class TestNotADict:
    @pytest.mark.parametrize(
        ("value", "type_name"), [([], "list"), (None, "NoneType"), ("inline", "str"), ((("PROCESSING", "x"),), "tuple")]
    )
    def test_seably_not_a_dict_is_e001(self, settings, value, type_name):
        settings.SEABLY = value

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E001"]
        assert errors[0].msg == f"SEABLY must be a dict, not {type_name}."
        assert errors[0].hint == "Set SEABLY = {} or remove it to use the defaults."
        assert errors[0].level == checks.ERROR


class TestUnknownKey:
    def test_unknown_key_is_e002_naming_the_key(self, settings):
        settings.SEABLY = {"MAX_BODY": 100}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E002"]
        assert errors[0].msg == "SEABLY has unknown key 'MAX_BODY'."
        assert errors[0].hint == VALID_KEYS_HINT

    def test_lowercase_key_is_unknown(self, settings):
        settings.SEABLY = {"processing": "inline"}

        errors = check_settings()

        assert [error.msg for error in errors] == ["SEABLY has unknown key 'processing'."]

    def test_each_unknown_key_gets_its_own_error(self, settings):
        settings.SEABLY = {"A": 1, "B": 2, "PROCESSING": "inline"}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E002", "django_seably.E002"]
        assert [error.msg for error in errors] == ["SEABLY has unknown key 'A'.", "SEABLY has unknown key 'B'."]


class TestProcessing:
    @pytest.mark.parametrize("value", ["celery", "INLINE", "", None, 1, ["inline"]])
    def test_processing_not_inline_or_tasks_is_e003(self, settings, value):
        settings.SEABLY = {"PROCESSING": value}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E003"]
        assert errors[0].msg == f'SEABLY["PROCESSING"] must be "inline" or "tasks", not {value!r}.'

    @pytest.mark.parametrize("value", ["inline", "tasks"])
    def test_processing_modes_are_valid(self, settings, value):
        settings.SEABLY = {"PROCESSING": value}

        assert check_error_codes() == []


class TestMaxBodySize:
    @pytest.mark.parametrize("value", [True, False, 0, -1, "1", 1.5, None, 10.0])
    def test_max_body_size_not_a_positive_int_is_e004(self, settings, value):
        settings.SEABLY = {"MAX_BODY_SIZE": value}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E004"]
        assert errors[0].msg == f'SEABLY["MAX_BODY_SIZE"] must be a positive int (bytes), not {value!r}.'

    @pytest.mark.parametrize("value", [1, 100, 50 * 1024 * 1024])
    def test_positive_int_is_valid(self, settings, value):
        settings.SEABLY = {"MAX_BODY_SIZE": value}

        assert check_error_codes() == []


class TestCertificateFields:
    @pytest.mark.parametrize(("value", "type_name"), [([], "list"), (None, "NoneType"), ("user.email", "str")])
    def test_certificate_fields_not_a_dict_is_e005(self, settings, value, type_name):
        settings.SEABLY = {"CERTIFICATE_FIELDS": value}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E005"]
        assert errors[0].msg == f'SEABLY["CERTIFICATE_FIELDS"] must be a dict, not {type_name}.'
        assert errors[0].hint == 'Map a column name to a list of paths, e.g. {"learner_email": ["user.email"]}.'

    def test_unknown_column_is_e006_naming_the_column(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"score": ["score"]}}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E006"]
        assert errors[0].msg == "SEABLY[\"CERTIFICATE_FIELDS\"] has unknown column 'score'."
        assert errors[0].hint == VALID_COLUMNS_HINT

    @pytest.mark.parametrize(
        "paths",
        [
            [""],
            ["a..b"],
            [".a"],
            ["a."],
            ["user.email", ""],
            "user.email",
            None,
            {"user.email": 1},
            [1, 2],
            ["user.email", 3],
            [[]],
            [["user.first_name", ""]],
            [["user.first_name", 1]],
            [["user.first_name", ["user.last_name"]]],
            [None],
        ],
    )
    def test_bad_path_list_is_e005(self, settings, paths):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"learner_name": paths}}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E005"]
        assert errors[0].msg == (
            "SEABLY[\"CERTIFICATE_FIELDS\"]['learner_name'] must be a list of dotted paths "
            f"(a path may itself be a list of paths to join), not {paths!r}."
        )

    def test_every_bad_column_gets_its_own_error(self, settings):
        settings.SEABLY = {"CERTIFICATE_FIELDS": {"url": [""], "nope": ["x"], "learner_email": ["ok"], "course": []}}

        assert check_error_codes() == ["django_seably.E005", "django_seably.E006", "django_seably.E006"]


def test_all_problems_are_reported_together(settings):
    settings.SEABLY = {
        "EXTRA": 1,
        "PROCESSING": "celery",
        "MAX_BODY_SIZE": 0,
        "CERTIFICATE_FIELDS": {"url": "url", "score": []},
    }

    assert check_error_codes() == [
        "django_seably.E002",
        "django_seably.E003",
        "django_seably.E004",
        "django_seably.E005",
        "django_seably.E006",
    ]


@pytest.mark.django_db  # Django 6's check command opens a connection
class TestRegistered:
    @override_settings(SEABLY={"PROCESSING": "celery"})
    def test_check_command_fails_on_a_bad_setting(self):
        with pytest.raises(SystemCheckError) as raised:
            call_command("check")

        assert "django_seably.E003" in str(raised.value)
        assert 'SEABLY["PROCESSING"] must be "inline" or "tasks", not \'celery\'.' in str(raised.value)

    @override_settings(SEABLY={"MAX_BODY_SIZE": "1"})
    def test_check_command_names_the_key(self):
        with pytest.raises(SystemCheckError) as raised:
            call_command("check")

        assert "SEABLY[\"MAX_BODY_SIZE\"] must be a positive int (bytes), not '1'." in str(raised.value)

    @override_settings(SEABLY={"PROCESSING": "inline"})
    def test_check_command_passes_on_a_good_setting(self, capsys):
        call_command("check")

        assert "System check identified no issues" in capsys.readouterr().out

    def test_check_is_registered(self):
        assert check_settings in list(checks.registry.registry.get_checks())  # type: ignore[comparison-overlap]


class TestApiSettings:
    @pytest.mark.parametrize("value", ["rest_framework.permissions.IsAdminUser", [None], [""], {"a": 1}, None])
    def test_permission_classes_of_the_wrong_shape_are_e020(self, settings, value):
        settings.SEABLY = {"API_PERMISSION_CLASSES": value}

        assert check_error_codes() == ["django_seably.E020"]

    def test_permission_class_that_cannot_be_imported_is_e021(self, settings):
        settings.SEABLY = {"API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUsr"]}

        assert check_error_codes() == ["django_seably.E021"]

    @pytest.mark.parametrize("path", ["django_seably.models.Certificate", "django_seably.conf.DEFAULTS"])
    def test_a_name_that_is_no_permission_class_is_e022(self, settings, path):
        settings.SEABLY = {"API_PERMISSION_CLASSES": [path]}

        assert check_error_codes() == ["django_seably.E022"]

    @pytest.mark.parametrize(
        "value",
        [["rest_framework.permissions.IsAdminUser"], ("rest_framework.permissions.IsAuthenticated",), []],
    )
    def test_valid_permission_classes(self, settings, value):
        settings.SEABLY = {"API_PERMISSION_CLASSES": value}

        assert check_error_codes() == []

    @pytest.mark.parametrize("value", [1, "yes", None])
    def test_link_users_not_a_bool_is_e023(self, settings, value):
        settings.SEABLY = {"LINK_USERS": value}

        assert check_error_codes() == ["django_seably.E023"]

    def test_link_users_without_an_email_field_is_e024(self, settings, monkeypatch):
        from django.contrib.auth import get_user_model

        monkeypatch.setattr(get_user_model(), "EMAIL_FIELD", "no_such_field")
        settings.SEABLY = {"LINK_USERS": True}

        assert check_error_codes() == ["django_seably.E024"]

    def test_link_users_on_with_the_default_user_model_is_fine(self, settings):
        settings.SEABLY = {"LINK_USERS": True}

        assert check_error_codes() == []


class TestDatabase:
    def test_sqlite_and_postgresql_are_fine(self):
        from django_seably.checks import check_database

        assert check_database() == []

    def test_a_database_without_on_conflict_is_e030(self, monkeypatch):
        from django.db import connection

        from django_seably.checks import check_database

        monkeypatch.setattr(connection.features, "supports_update_conflicts_with_target", False)
        errors = check_database()

        assert [error.id for error in errors] == ["django_seably.E030"]
        assert errors[0].msg == (
            f"The database 'default' ({connection.display_name}) cannot run INSERT ... ON CONFLICT ... RETURNING, "
            "which django_seably stores every delivery with."
        )
        assert errors[0].hint == "Use PostgreSQL, or SQLite 3.35 or newer."

    def test_it_is_registered(self, monkeypatch):
        from django.core.management import call_command
        from django.core.management.base import SystemCheckError
        from django.db import connection

        monkeypatch.setattr(connection.features, "supports_update_conflicts_with_target", False)
        with pytest.raises(SystemCheckError, match="django_seably.E030"):
            call_command("check")


def staff_users():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_staff=True)


def a_list_of_users():
    return []


def raises():
    raise RuntimeError("boom")


def group_queryset():
    from django.contrib.auth.models import Group

    return Group.objects.all()


NOT_CALLABLE = "users"


class TestLinkableUsers:
    @pytest.mark.parametrize("path", ["django_seably.linking.active_users", "tests.test_checks.staff_users"])
    def test_a_callable_returning_users_is_fine(self, settings, path):
        settings.SEABLY = {"LINK_USERS": True, "LINKABLE_USERS": path}

        assert check_error_codes() == []

    @pytest.mark.parametrize("value", [None, "", 1, ["tests.test_checks.staff_users"], staff_users])
    def test_not_a_dotted_path_is_e025(self, settings, value):
        settings.SEABLY = {"LINKABLE_USERS": value}

        assert check_error_codes() == ["django_seably.E025"]

    @pytest.mark.parametrize("path", ["tests.test_checks.no_such_function", "no_such_module.users", "nodots"])
    def test_not_importable_is_e026(self, settings, path):
        settings.SEABLY = {"LINKABLE_USERS": path}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E026"]
        assert errors[0].msg.startswith(f'SEABLY["LINKABLE_USERS"] names {path!r}, which cannot be imported: ')

    def test_not_callable_is_e027(self, settings):
        settings.SEABLY = {"LINKABLE_USERS": "tests.test_checks.NOT_CALLABLE"}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E027"]
        assert errors[0].msg == (
            "SEABLY[\"LINKABLE_USERS\"] names 'tests.test_checks.NOT_CALLABLE', which is not callable."
        )

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("a_list_of_users", "returns list"),
            ("raises", "raises RuntimeError: boom"),
            ("group_queryset", "returns QuerySet"),
        ],
    )
    def test_not_returning_a_user_queryset_is_e028(self, settings, name, problem):
        settings.SEABLY = {"LINKABLE_USERS": f"tests.test_checks.{name}"}

        errors = check_settings()

        assert [error.id for error in errors] == ["django_seably.E028"]
        assert errors[0].msg == (
            f"SEABLY[\"LINKABLE_USERS\"] names 'tests.test_checks.{name}', which {problem}, not a queryset of auth.User."
        )

    def test_the_check_is_registered(self, settings):
        settings.SEABLY = {"LINKABLE_USERS": "tests.test_checks.NOT_CALLABLE"}

        with pytest.raises(SystemCheckError, match="django_seably.E027"):
            call_command("check")


class TestWebhookUrlsIncluded:
    """django_seably.E033: without include("django_seably.urls") no endpoint has a URL."""

    def test_included_urls_give_no_error(self):
        from django_seably.checks import check_urls

        assert check_urls() == []

    def test_missing_include_is_an_error_naming_it(self, settings):
        from django_seably.checks import check_urls

        settings.ROOT_URLCONF = "tests.urls_without_seably"

        (error,) = check_urls()

        assert (error.id, error.level) == ("django_seably.E033", checks.ERROR)
        assert 'include("django_seably.urls")' in error.msg
        assert error.hint == 'Add path("seably/", include("django_seably.urls")) to your urlpatterns.'

    def test_manage_py_check_reports_it(self, settings):
        settings.ROOT_URLCONF = "tests.urls_without_seably"

        with pytest.raises(SystemCheckError, match=r"django_seably\.E033"):
            call_command("check")

    def test_it_is_registered_under_the_urls_tag(self, settings):
        settings.ROOT_URLCONF = "tests.urls_without_seably"

        with pytest.raises(SystemCheckError, match=r"django_seably\.E033"):
            call_command("check", tags=["urls"])
        call_command("check", tags=["models"])  # other tags do not run it

    def test_a_urlconf_that_cannot_be_imported_is_left_to_django(self, settings):
        from django_seably.checks import check_urls

        settings.ROOT_URLCONF = "tests.no_such_urls_module"

        assert check_urls() == []

    def test_a_project_without_root_urlconf_has_no_webhook_url(self, settings):
        from django_seably.checks import check_urls

        del settings.ROOT_URLCONF

        assert [error.id for error in check_urls()] == ["django_seably.E033"]
