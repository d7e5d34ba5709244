"""The REST API (``django_seably.api``): routes, filters, pagination, permissions, reprocessing, secrets."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authentication import BasicAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.test import APIClient

from django_seably.api.filters import CertificateFilter, WebhookEventFilter, parse_moment
from django_seably.api.views import CertificateViewSet
from django_seably.conf import seably_settings
from django_seably.models import Certificate, WebhookEvent
from django_seably.signals import webhook_received
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
CERTIFICATES = "django_seably_api:certificate-list"
EVENTS = "django_seably_api:event-list"
MINE = "django_seably_api:my-certificate-list"
MOMENT_ERROR = (
    "Enter a date (2024-01-31) or a date and time with its offset (2024-01-31T12:00:00Z, 2024-01-31T13:00:00+01:00); "
    "in a URL, write + as %2B."
)


def url(name, *args):
    return reverse(name, args=args)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def with_permissions(user, *codenames):
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="django_seably", codename=codename))
    return user


@pytest.fixture
def staff(django_user_model):
    """A staff user with the permissions the API asks for: read events and certificates, reprocess events."""
    user = django_user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    return with_permissions(user, "view_certificate", "view_webhookevent", "change_webhookevent")


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("member", "member@example.com", "pw")


@pytest.fixture
def api(staff):
    """A client authenticated as a user with the API's permissions (the default: ModelPermissions)."""
    client = APIClient()
    client.force_authenticate(staff)
    return client


@pytest.fixture
def superuser_api(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def anonymous():
    return APIClient()


@pytest.fixture
def as_member(member):
    client = APIClient()
    client.force_authenticate(member)
    return client


@pytest.fixture
def linking(settings):
    settings.SEABLY = {"LINK_USERS": True}


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def seably_ids(response):
    assert response.status_code == 200, response.content
    return [row["seably_id"] for row in response.json()["results"]]


# --- mounting ----------------------------------------------------------------------------


class TestRoutes:
    def test_names_and_paths(self):
        assert url(CERTIFICATES) == "/api/seably/certificates/"
        assert url("django_seably_api:certificate-detail", 7) == "/api/seably/certificates/7/"
        assert url(EVENTS) == "/api/seably/events/"
        assert url("django_seably_api:event-detail", 7) == "/api/seably/events/7/"
        assert url("django_seably_api:event-reprocess", 7) == "/api/seably/events/7/reprocess/"
        assert url(MINE) == "/api/seably/me/certificates/"
        assert url("django_seably_api:schema") == "/api/seably/schema/"

    @pytest.mark.parametrize(
        ("method", "name", "args"),
        [
            ("post", CERTIFICATES, ()),
            ("put", "django_seably_api:certificate-detail", (1,)),
            ("patch", "django_seably_api:certificate-detail", (1,)),
            ("delete", "django_seably_api:certificate-detail", (1,)),
            ("post", EVENTS, ()),
            ("delete", "django_seably_api:event-detail", (1,)),
            ("get", "django_seably_api:event-reprocess", (1,)),
            ("post", MINE, ()),
        ],
    )
    def test_read_only_except_reprocess(self, api, method, name, args):
        response = getattr(api, method)(url(name, *args))

        assert response.status_code == 405

    def test_browsable_api_renders_for_a_browser(self, api):
        CertificateFactory.create()

        response = api.get(url(CERTIFICATES), HTTP_ACCEPT="text/html")

        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")


# --- permissions ---------------------------------------------------------------------------

#: (method, route name, the object whose pk the route takes)
ADMIN_ROUTES = [
    ("get", CERTIFICATES, None),
    ("get", "django_seably_api:certificate-detail", "certificate"),
    ("get", EVENTS, None),
    ("get", "django_seably_api:event-detail", "event"),
    ("post", "django_seably_api:event-reprocess", "event"),
]


class OnlyMember(BasePermission):
    """A project's own permission class, named in SEABLY["API_PERMISSION_CLASSES"] by the tests."""

    def has_permission(self, request, view):
        return request.user.username == "member"


class TestPermissions:
    @pytest.fixture(autouse=True)
    def objects(self):
        self.event = WebhookEventFactory.create(failed=True)
        self.certificate = CertificateFactory.create(event=self.event)

    def route(self, name, takes):
        return url(name) if takes is None else url(name, getattr(self, takes).pk)

    @pytest.mark.parametrize(("method", "name", "takes"), ADMIN_ROUTES)
    def test_anonymous_is_refused(self, anonymous, method, name, takes):
        response = getattr(anonymous, method)(self.route(name, takes))

        # 403, not 401: DRF's first default authentication class (sessions) sends no challenge.
        assert response.status_code == 403
        assert response.json() == {"detail": "Authentication credentials were not provided."}

    @pytest.mark.parametrize(("method", "name", "takes"), ADMIN_ROUTES)
    def test_non_staff_user_is_refused(self, as_member, method, name, takes):
        response = getattr(as_member, method)(self.route(name, takes))

        assert response.status_code == 403
        assert response.json() == {"detail": "You do not have permission to perform this action."}

    @pytest.mark.parametrize(("method", "name", "takes"), ADMIN_ROUTES)
    def test_staff_user_is_allowed(self, api, method, name, takes):
        response = getattr(api, method)(self.route(name, takes))

        assert response.status_code == 200

    def test_reprocess_refused_to_non_staff_does_nothing(self, as_member):
        as_member.post(url("django_seably_api:event-reprocess", self.event.pk))

        self.event.refresh_from_db()
        assert self.event.status == "failed"

    @pytest.mark.parametrize(("method", "name", "takes"), ADMIN_ROUTES)
    def test_configured_classes_replace_the_default(self, settings, as_member, api, method, name, takes):
        settings.SEABLY = {"API_PERMISSION_CLASSES": ["tests.test_api.OnlyMember"]}

        assert getattr(as_member, method)(self.route(name, takes)).status_code == 200
        assert getattr(api, method)(self.route(name, takes)).status_code == 403

    def test_configured_classes_may_open_the_api(self, settings, anonymous):
        settings.SEABLY = {"API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}

        assert anonymous.get(url(CERTIFICATES)).status_code == 200

    def test_every_configured_class_must_allow(self, settings, staff, member):
        settings.SEABLY = {
            "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "tests.test_api.OnlyMember"]
        }
        staff_client, member_client = APIClient(), APIClient()
        staff_client.force_authenticate(staff)
        member_client.force_authenticate(member)

        assert member_client.get(url(EVENTS)).status_code == 200
        assert staff_client.get(url(EVENTS)).status_code == 403
        assert APIClient().get(url(EVENTS)).status_code == 403

    def test_basic_authentication_answers_401_with_a_challenge(self, monkeypatch, anonymous):
        # What a project whose first DEFAULT_AUTHENTICATION_CLASSES is BasicAuthentication gets
        # (DRF reads that setting once, when the view class is created).
        monkeypatch.setattr(CertificateViewSet, "authentication_classes", [BasicAuthentication])

        response = anonymous.get(url(CERTIFICATES))

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="api"'

    def client_with(self, django_user_model, *codenames, is_staff=True, username="someone"):
        user = django_user_model.objects.create_user(username, f"{username}@example.com", is_staff=is_staff)
        client = APIClient()
        client.force_authenticate(with_permissions(user, *codenames))
        return client

    @pytest.mark.parametrize(("method", "name", "takes"), [*ADMIN_ROUTES, ("get", "django_seably_api:schema", None)])
    def test_staff_without_permissions_is_refused_everywhere(self, django_user_model, method, name, takes):
        client = self.client_with(django_user_model)

        response = getattr(client, method)(self.route(name, takes))

        assert response.status_code == 403
        assert b"You do not have permission to perform this action." in response.content
        self.event.refresh_from_db()
        assert self.event.status == "failed"

    @pytest.mark.parametrize("method", ["options", "head", "post", "delete"])
    def test_staff_without_permissions_learns_nothing_from_other_methods(self, django_user_model, method):
        client = self.client_with(django_user_model)

        assert getattr(client, method)(url(CERTIFICATES)).status_code == 403
        assert getattr(client, method)(url("django_seably_api:event-detail", self.event.pk)).status_code == 403

    def test_a_malformed_filter_is_refused_before_it_is_parsed(self, django_user_model):
        client = self.client_with(django_user_model)

        assert client.get(url(EVENTS), {"status": "nonsense"}).status_code == 403

    def test_view_permissions_read_but_do_not_reprocess(self, django_user_model):
        client = self.client_with(django_user_model, "view_certificate", "view_webhookevent")

        assert client.get(url(CERTIFICATES)).status_code == 200
        assert client.get(url("django_seably_api:certificate-detail", self.certificate.pk)).status_code == 200
        assert client.get(url(EVENTS)).status_code == 200
        assert client.get(url("django_seably_api:event-detail", self.event.pk)).status_code == 200
        assert client.get(url("django_seably_api:schema")).status_code == 200
        assert client.post(url("django_seably_api:event-reprocess", self.event.pk)).status_code == 403
        self.event.refresh_from_db()
        assert self.event.status == "failed"

    def test_each_model_needs_its_own_view_permission(self, django_user_model):
        client = self.client_with(django_user_model, "view_certificate")

        assert client.get(url(CERTIFICATES)).status_code == 200
        assert client.get(url(EVENTS)).status_code == 403
        assert client.get(url("django_seably_api:event-detail", self.event.pk)).status_code == 403

    def test_view_endpoint_alone_reads_nothing(self, django_user_model):
        client = self.client_with(django_user_model, "view_endpoint", "change_endpoint")

        assert client.get(url(CERTIFICATES)).status_code == 403
        assert client.get(url(EVENTS)).status_code == 403

    def test_change_webhookevent_reprocesses_and_reads_events_as_in_the_admin(self, django_user_model):
        client = self.client_with(django_user_model, "change_webhookevent")

        assert client.get(url(EVENTS)).status_code == 200
        response = client.post(url("django_seably_api:event-reprocess", self.event.pk))

        assert response.status_code == 200
        assert response.json()["outcome"] in {"processed", "failed"}
        assert client.get(url(CERTIFICATES)).status_code == 403

    def test_permissions_matter_not_staff_status(self, django_user_model):
        client = self.client_with(django_user_model, "view_certificate", is_staff=False)

        assert client.get(url(CERTIFICATES)).status_code == 200

    def test_permissions_through_a_group(self, django_user_model):
        from django.contrib.auth.models import Group

        group = Group.objects.create(name="auditors")
        group.permissions.add(Permission.objects.get(codename="view_webhookevent"))
        user = django_user_model.objects.create_user("auditor")
        user.groups.add(group)
        client = APIClient()
        client.force_authenticate(user)

        assert client.get(url(EVENTS)).status_code == 200

    @pytest.mark.parametrize(("method", "name", "takes"), [*ADMIN_ROUTES, ("get", "django_seably_api:schema", None)])
    def test_superuser_may_do_everything(self, superuser_api, method, name, takes):
        assert getattr(superuser_api, method)(self.route(name, takes)).status_code == 200

    def test_an_inactive_superuser_is_refused(self, django_user_model):
        user = django_user_model.objects.create_superuser("gone", "gone@example.com", is_active=False)
        client = APIClient()
        client.force_authenticate(user)

        assert client.get(url(EVENTS)).status_code == 403

    def test_session_login_works_and_reprocess_needs_the_csrf_token(self, staff):
        client = APIClient(enforce_csrf_checks=True)
        client.login(username="staff", password="pw")

        assert client.get(url(CERTIFICATES)).status_code == 200
        response = client.post(url("django_seably_api:event-reprocess", self.event.pk))

        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        self.event.refresh_from_db()
        assert self.event.status == "failed"


# --- certificates ---------------------------------------------------------------------------


def certificate(seably_id, **fields):
    return CertificateFactory.create(seably_id=seably_id, **fields)


class TestCertificateList:
    def test_newest_first_with_every_field(self, api, member):
        old = certificate("SB-1", learner_email="ada@example.com", learner_name="Ada")
        new = certificate(
            "SB-2",
            learner_email="grace@example.com",
            learner_name="Grace Hopper",
            course_name="Sea Survival",
            issued_at=datetime.datetime(2024, 3, 1, 12, tzinfo=UTC),
            expires_on=datetime.date(2026, 3, 1),
            url="https://seably.example/c/2",
            user=member,
        )

        response = api.get(url(CERTIFICATES))

        body = response.json()
        assert body["next"] is None and body["previous"] is None
        assert [row["id"] for row in body["results"]] == [new.pk, old.pk]
        assert body["results"][0] == {
            "id": new.pk,
            "seably_id": "SB-2",
            "learner_email": "grace@example.com",
            "learner_name": "Grace Hopper",
            "course_name": "Sea Survival",
            "issued_at": "2024-03-01T12:00:00Z",
            "expires_on": "2026-03-01",
            "url": "https://seably.example/c/2",
            "user": member.pk,
            "event": new.event_id,
            "data": {"type": "certificate", "id": "SB-2"},
            "created_at": new.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": new.updated_at.isoformat().replace("+00:00", "Z"),
        }

    def test_learner_email_is_case_insensitive_and_whole(self, api):
        certificate("SB-1", learner_email="Ada.Lovelace@Example.com")
        certificate("SB-2", learner_email="ada.lovelace@example.org")
        certificate("SB-3", learner_email="lovelace@example.com")

        assert seably_ids(api.get(url(CERTIFICATES), {"learner_email": "ADA.LOVELACE@EXAMPLE.COM"})) == ["SB-1"]
        assert seably_ids(api.get(url(CERTIFICATES), {"learner_email": "example.com"})) == []

    def test_course_is_exact(self, api):
        certificate("SB-1", course_name="Sea Survival")
        certificate("SB-2", course_name="Sea Survival Advanced")
        certificate("SB-3", course_name="sea survival")

        assert seably_ids(api.get(url(CERTIFICATES), {"course": "Sea Survival"})) == ["SB-1"]

    def test_issued_range_takes_whole_days(self, api):
        for n, day in enumerate([datetime.datetime(2024, 1, 31, 23, 59), datetime.datetime(2024, 2, 1, 0, 0)]):
            certificate(f"SB-{n}", issued_at=day.replace(tzinfo=UTC))
        certificate("SB-2", issued_at=datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC))
        certificate("SB-3", issued_at=datetime.datetime(2024, 3, 1, tzinfo=UTC))
        certificate("SB-none", issued_at=None)

        response = api.get(url(CERTIFICATES), {"issued_from": "2024-02-01", "issued_to": "2024-02-29"})

        assert seably_ids(response) == ["SB-2", "SB-1"]
        assert seably_ids(api.get(url(CERTIFICATES), {"issued_to": "2024-01-31"})) == ["SB-0"]
        assert seably_ids(api.get(url(CERTIFICATES), {"issued_from": "2024-03-01"})) == ["SB-3"]

    def test_issued_range_takes_date_times_with_offsets(self, api):
        certificate("SB-1", issued_at=datetime.datetime(2024, 2, 1, 10, 0, tzinfo=UTC))
        certificate("SB-2", issued_at=datetime.datetime(2024, 2, 1, 12, 0, tzinfo=UTC))

        # 12:30+02:00 is 10:30Z; + must be sent as %2B (APIClient encodes it).
        assert seably_ids(api.get(url(CERTIFICATES), {"issued_from": "2024-02-01T12:30:00+02:00"})) == ["SB-2"]
        assert seably_ids(api.get(url(CERTIFICATES), {"issued_to": "2024-02-01T10:00:00Z"})) == ["SB-1"]
        assert seably_ids(api.get(url(CERTIFICATES), {"issued_to": "2024-02-01T09:59:59.999999z"})) == []

    def test_dates_are_days_in_the_current_time_zone(self, api, settings):
        settings.TIME_ZONE = "Europe/Amsterdam"
        certificate("SB-1", issued_at=datetime.datetime(2024, 1, 31, 23, 30, tzinfo=UTC))  # Feb 1st, 00:30 there

        assert seably_ids(api.get(url(CERTIFICATES), {"issued_from": "2024-02-01"})) == ["SB-1"]
        assert seably_ids(api.get(url(CERTIFICATES), {"issued_to": "2024-01-31"})) == []

    @pytest.mark.parametrize(
        ("validity", "expected"),
        [("valid", ["SB-none", "SB-today", "SB-tomorrow"]), ("expired", ["SB-yesterday"]), ("no_expiry", ["SB-none"])],
    )
    def test_validity(self, api, validity, expected):
        today = datetime.date.today()
        certificate("SB-yesterday", expires_on=today - datetime.timedelta(days=1))
        certificate("SB-today", expires_on=today)
        certificate("SB-tomorrow", expires_on=today + datetime.timedelta(days=1))
        certificate("SB-none", expires_on=None)

        assert sorted(seably_ids(api.get(url(CERTIFICATES), {"validity": validity}))) == expected

    @pytest.mark.parametrize(
        ("term", "expected"),
        [
            ("GRACE@example.com", ["SB-2"]),
            ("SB-1", ["SB-1"]),
            ("SB-", []),
            ("hopp", ["SB-2"]),
            ("navig", ["SB-3", "SB-1"]),
            ("  ", ["SB-3", "SB-2", "SB-1"]),
        ],
    )
    def test_search(self, api, term, expected):
        certificate("SB-1", learner_name="Ada Lovelace", course_name="Navigation")
        certificate("SB-2", learner_name="Grace Hopper", learner_email="grace@example.com")
        certificate("SB-3", course_name="Celestial navigation")

        assert seably_ids(api.get(url(CERTIFICATES), {"search": term})) == expected

    def test_filters_combine(self, api):
        certificate("SB-1", course_name="Navigation", learner_email="ada@example.com", expires_on=None)
        certificate(
            "SB-2", course_name="Navigation", learner_email="ada@example.com", expires_on=datetime.date(2000, 1, 1)
        )
        certificate("SB-3", course_name="Radio", learner_email="ada@example.com", expires_on=None)

        response = api.get(
            url(CERTIFICATES), {"course": "Navigation", "learner_email": "ADA@example.com", "validity": "valid"}
        )

        assert seably_ids(response) == ["SB-1"]

    def test_empty_free_text_means_no_filter(self, api):
        certificate("SB-1", course_name="Radio")

        response = api.get(url(CERTIFICATES), {"course": "", "learner_email": "", "search": ""})

        assert seably_ids(response) == ["SB-1"]

    @pytest.mark.parametrize("name", ["course", "learner_email", "search"])
    def test_nul_matches_nothing(self, api, name):
        certificate("SB-1", course_name="Radio", learner_email="a@example.com")

        assert seably_ids(api.get(url(CERTIFICATES), {name: "Radio\x00"})) == []

    def test_unknown_parameters_are_ignored(self, api):
        certificate("SB-1")

        assert seably_ids(api.get(url(CERTIFICATES), {"ordering": "seably_id", "colour": "blue"})) == ["SB-1"]

    @pytest.mark.parametrize(
        ("params", "errors"),
        [
            ({"issued_from": "yesterday"}, {"issued_from": [MOMENT_ERROR]}),
            ({"issued_from": "2024-02-30"}, {"issued_from": [MOMENT_ERROR]}),
            ({"issued_to": "2024-01-01T10:00:00"}, {"issued_to": [MOMENT_ERROR]}),
            ({"issued_to": "2024-01-01T10:00:00 01:00"}, {"issued_to": [MOMENT_ERROR]}),
            ({"issued_to": "2024-01-01T24:00:00Z"}, {"issued_to": [MOMENT_ERROR]}),
            ({"issued_to": "2024-01-01T10:00:00+24:00"}, {"issued_to": [MOMENT_ERROR]}),
            ({"issued_to": "20240101"}, {"issued_to": [MOMENT_ERROR]}),
            ({"issued_to": ""}, {"issued_to": [MOMENT_ERROR]}),
            (
                {"validity": "forever"},
                {"validity": ["Unknown validity 'forever': use one of valid, expired, no_expiry."]},
            ),
            ({"validity": ""}, {"validity": ["Unknown validity '': use one of valid, expired, no_expiry."]}),
            (
                {"issued_from": "soon", "validity": "VALID"},
                {
                    "issued_from": [MOMENT_ERROR],
                    "validity": ["Unknown validity 'VALID': use one of valid, expired, no_expiry."],
                },
            ),
        ],
    )
    def test_malformed_values_are_a_400_naming_each_parameter(self, api, params, errors):
        response = api.get(url(CERTIFICATES), params)

        assert response.status_code == 400
        assert response.json() == errors

    def test_filters_do_not_apply_to_the_detail(self, api):
        row = certificate("SB-1", course_name="Radio")

        response = api.get(url("django_seably_api:certificate-detail", row.pk), {"course": "Other", "validity": "x"})

        assert response.status_code == 200
        assert response.json()["seably_id"] == "SB-1"


class TestCertificateDetail:
    def test_shows_one_certificate(self, api):
        row = certificate("SB-1", learner_name="Ada", data={"type": "certificate", "id": "SB-1", "extra": [1, 2]})

        response = api.get(url("django_seably_api:certificate-detail", row.pk))

        assert response.status_code == 200
        assert response.json()["learner_name"] == "Ada"
        assert response.json()["data"] == {"type": "certificate", "id": "SB-1", "extra": [1, 2]}

    @pytest.mark.parametrize(
        ("pk", "detail"),
        [
            ("999", "No Certificate matches the given query."),
            ("-1", "No Certificate matches the given query."),
            (str(2**70), "No Certificate matches the given query."),  # beyond any integer column
            ("abc", "Not found."),
            ("1.5", "Not found."),
        ],
    )
    def test_unknown_or_malformed_id_is_a_json_404(self, api, pk, detail):
        response = api.get(f"/api/seably/certificates/{pk}/")

        assert response.status_code == 404
        assert response.json() == {"detail": detail}


# --- pagination -----------------------------------------------------------------------------


class TestPagination:
    def test_cursor_pages_cover_every_row_once_newest_first(self, api):
        rows = [certificate(f"SB-{n}") for n in range(7)]
        seen, page = [], api.get(url(CERTIFICATES), {"page_size": 3})

        while True:
            seen += ids(page)
            next_url = page.json()["next"]
            if next_url is None:
                break
            page = api.get(next_url)

        assert seen == [row.pk for row in reversed(rows)]

    def test_rows_arriving_while_paging_do_not_shift_pages(self, api):
        rows = [certificate(f"SB-{n}") for n in range(4)]
        first = api.get(url(CERTIFICATES), {"page_size": 2})
        certificate("SB-new")

        second = api.get(first.json()["next"])

        assert ids(second) == [rows[1].pk, rows[0].pk]

    def test_previous_goes_back(self, api):
        rows = [certificate(f"SB-{n}") for n in range(4)]
        second = api.get(api.get(url(CERTIFICATES), {"page_size": 2}).json()["next"])

        first = api.get(second.json()["previous"])

        assert ids(first) == [rows[3].pk, rows[2].pk]

    def test_default_page_size_is_50(self, api):
        CertificateFactory.create_batch(51)

        response = api.get(url(CERTIFICATES))

        assert len(ids(response)) == 50
        assert response.json()["next"] is not None

    def test_filters_carry_over_to_the_next_page(self, api):
        for n in range(3):
            certificate(f"SB-radio-{n}", course_name="Radio")
            certificate(f"SB-other-{n}", course_name="Other")

        first = api.get(url(CERTIFICATES), {"course": "Radio", "page_size": 2})
        second = api.get(first.json()["next"])

        assert seably_ids(first) + seably_ids(second) == ["SB-radio-2", "SB-radio-1", "SB-radio-0"]

    @pytest.mark.parametrize("size", ["0", "201", "-1", "abc", "1.5", "", " 5", "٣", "9" * 5000])
    def test_malformed_page_size_is_a_400(self, api, size):
        response = api.get(url(CERTIFICATES), {"page_size": size})

        assert response.status_code == 400
        assert response.json() == {"page_size": ["Enter a whole number from 1 to 200."]}

    def test_largest_page_size(self, api):
        CertificateFactory.create_batch(3)

        assert len(ids(api.get(url(CERTIFICATES), {"page_size": "200"}))) == 3

    def test_malformed_cursor_is_a_404(self, api):
        response = api.get(url(CERTIFICATES), {"cursor": "not-a-cursor"})

        assert response.status_code == 404
        assert response.json() == {"detail": "Invalid cursor"}


# --- events ----------------------------------------------------------------------------------


class TestEventList:
    def test_newest_first_without_contents(self, api):
        endpoint = EndpointFactory.create(name="production")
        old = WebhookEventFactory.create(endpoint=endpoint)
        new = WebhookEventFactory.create(endpoint=endpoint, failed=True, delivery_count=2)

        response = api.get(url(EVENTS))

        assert ids(response) == [new.pk, old.pk]
        assert response.json()["results"][0] == {
            "id": new.pk,
            "endpoint": "production",
            "event_type": "certificate.created",
            "object_type": "certificate",
            "object_id": new.object_id,
            "status": "failed",
            "delivery_count": 2,
            "attempts": 1,
            "received_at": new.received_at.isoformat().replace("+00:00", "Z"),
            "processed_at": None,
        }

    @pytest.mark.parametrize("status", ["pending", "processed", "failed", "invalid"])
    def test_status(self, api, status):
        events = {
            value: WebhookEventFactory.create(status=value) for value in ["pending", "processed", "failed", "invalid"]
        }

        assert ids(api.get(url(EVENTS), {"status": status})) == [events[status].pk]

    def test_event_type_is_exact(self, api):
        wanted = WebhookEventFactory.create(event_type="user.invited")
        WebhookEventFactory.create(event_type="certificate.created")
        WebhookEventFactory.create(event_type="user.invited.again")

        assert ids(api.get(url(EVENTS), {"event_type": "user.invited"})) == [wanted.pk]

    def test_endpoint_by_name(self, api):
        wanted = WebhookEventFactory.create(endpoint=EndpointFactory.create(name="staging"))
        WebhookEventFactory.create(endpoint=EndpointFactory.create(name="production"))

        assert ids(api.get(url(EVENTS), {"endpoint": "staging"})) == [wanted.pk]
        assert ids(api.get(url(EVENTS), {"endpoint": "nowhere"})) == []

    def test_object_id(self, api):
        wanted = WebhookEventFactory.create(object_id="SB-42")
        WebhookEventFactory.create(object_id="SB-420")

        assert ids(api.get(url(EVENTS), {"object_id": "SB-42"})) == [wanted.pk]

    def test_received_range(self, api):
        def received(*args):
            return WebhookEventFactory.create(received_at=datetime.datetime(*args).replace(tzinfo=UTC))

        received(2024, 5, 31, 23, 59, 59)
        inside = [received(2024, 6, 1), received(2024, 6, 30, 23, 59, 59)]
        received(2024, 7, 1)

        response = api.get(url(EVENTS), {"received_from": "2024-06-01", "received_to": "2024-06-30"})

        assert ids(response) == [inside[1].pk, inside[0].pk]
        response = api.get(
            url(EVENTS), {"received_from": "2024-06-30T23:59:59Z", "received_to": "2024-07-01T00:00:00Z"}
        )
        assert len(ids(response)) == 2

    @pytest.mark.parametrize(
        ("params", "errors"),
        [
            (
                {"status": "done"},
                {"status": ["Unknown status 'done': use one of pending, processed, failed, invalid."]},
            ),
            (
                {"status": "FAILED"},
                {"status": ["Unknown status 'FAILED': use one of pending, processed, failed, invalid."]},
            ),
            ({"received_from": "2024-06"}, {"received_from": [MOMENT_ERROR]}),
            ({"received_to": "31/06/2024"}, {"received_to": [MOMENT_ERROR]}),
            ({"page_size": "1000"}, {"page_size": ["Enter a whole number from 1 to 200."]}),
        ],
    )
    def test_malformed_values_are_a_400(self, api, params, errors):
        response = api.get(url(EVENTS), params)

        assert response.status_code == 400
        assert response.json() == errors


class TestNoFilterReadsATokenOrAHeader:
    @pytest.mark.parametrize("filterset", [CertificateFilter, WebhookEventFilter])
    def test_no_filter_is_declared_on_a_secret(self, filterset):
        for name, declared in filterset.base_filters.items():
            for secret in ("token", "headers", "fingerprint", "raw_body"):
                assert secret not in name, name
                assert secret not in (declared.field_name or ""), (name, declared.field_name)

    @pytest.mark.parametrize(
        "spelling",
        [
            "token",
            "endpoint__token",
            "endpoint__token__startswith",
            "endpoint__token__exact",
            "endpoint__token__regex",
            "endpoint.token",
            "endpoint_token",
            "endpoint__token__iexact",
        ],
    )
    def test_a_lookup_on_the_token_is_ignored(self, api, spelling):
        wanted, other = EndpointFactory.create(name="wanted"), EndpointFactory.create(name="other")
        events = [WebhookEventFactory.create(endpoint=wanted), WebhookEventFactory.create(endpoint=other)]
        every = [event.pk for event in reversed(events)]

        for value in (wanted.token, wanted.token[:1], "no-such-token"):
            response = api.get(url(EVENTS), {spelling: value})
            assert response.status_code == 200
            assert ids(response) == every, (spelling, value)

    def test_the_endpoint_filter_takes_a_name_never_a_token(self, api):
        endpoint = EndpointFactory.create(name="production")
        WebhookEventFactory.create(endpoint=endpoint)

        assert ids(api.get(url(EVENTS), {"endpoint": endpoint.token})) == []


def invalid_event(**fields):
    return WebhookEventFactory.create(
        status="invalid",
        payload=None,
        body="{oops",
        event_type="",
        object_type=None,
        object_id=None,
        fingerprint="f" * 64,
        **fields,
    )


class TestEventDetail:
    def test_shows_the_contents(self, api):
        event = WebhookEventFactory.create(endpoint=EndpointFactory.create(name="production"), failed=True)

        response = api.get(url("django_seably_api:event-detail", event.pk))

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {
            "id",
            "endpoint",
            "event_type",
            "object_type",
            "object_id",
            "status",
            "delivery_count",
            "attempts",
            "received_at",
            "processed_at",
            "payload",
            "body",
            "last_error",
        }
        assert body["endpoint"] == "production"
        assert body["payload"] == event.payload
        assert body["body"] == event.body
        assert body["last_error"] == "Traceback: boom"

    def test_invalid_event_has_no_payload(self, api):
        event = invalid_event(last_error="Not JSON")

        body = api.get(url("django_seably_api:event-detail", event.pk)).json()

        assert (body["payload"], body["body"], body["last_error"]) == (None, "{oops", "Not JSON")

    def test_unknown_id_is_a_404(self, api):
        response = api.get(url("django_seably_api:event-detail", 999))

        assert response.status_code == 404
        assert response.json() == {"detail": "No WebhookEvent matches the given query."}


class TestReprocess:
    def reprocess(self, api, event):
        return api.post(url("django_seably_api:event-reprocess", event.pk))

    def test_failed_event_is_processed(self, api):
        event = WebhookEventFactory.create(failed=True, payload=certificate_body("SB-7"))

        response = self.reprocess(api, event)

        assert response.status_code == 200
        assert response.json() == {"id": event.pk, "outcome": "processed", "status": "processed"}
        assert Certificate.objects.get().seably_id == "SB-7"
        event.refresh_from_db()
        assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")

    def test_processed_event_is_skipped(self, api):
        event = WebhookEventFactory.create(processed=True)

        response = self.reprocess(api, event)

        assert response.json() == {"id": event.pk, "outcome": "skipped", "status": "processed"}
        assert not Certificate.objects.exists()

    def test_invalid_body_stays_invalid(self, api):
        event = invalid_event()

        response = self.reprocess(api, event)

        assert response.json() == {"id": event.pk, "outcome": "invalid", "status": "invalid"}

    def test_failing_receiver_answers_failed(self, api):
        event = WebhookEventFactory.create(status="pending")

        def receiver(sender, **kwargs):
            raise RuntimeError("still broken")

        webhook_received.connect(receiver, weak=False)
        try:
            response = self.reprocess(api, event)
        finally:
            webhook_received.disconnect(receiver)

        assert response.status_code == 200
        assert response.json() == {"id": event.pk, "outcome": "failed", "status": "failed"}
        event.refresh_from_db()
        assert "RuntimeError: still broken" in event.last_error

    def test_status_is_read_back_from_the_database(self, api, monkeypatch):
        event = WebhookEventFactory.create(status="pending")

        def processed_elsewhere(event):
            WebhookEvent.objects.filter(pk=event.pk).update(status="processed")
            return "skipped"

        monkeypatch.setattr("django_seably.api.views.process_event", processed_elsewhere)

        assert self.reprocess(api, event).json() == {"id": event.pk, "outcome": "skipped", "status": "processed"}

    def test_unknown_event_is_a_404(self, api):
        response = api.post(url("django_seably_api:event-reprocess", 999))

        assert response.status_code == 404
        assert response.json() == {"detail": "No WebhookEvent matches the given query."}


# --- secrets -----------------------------------------------------------------------------------


def test_token_and_headers_never_appear_in_any_response(api, linking, staff):
    endpoint = EndpointFactory.create(name="production")
    header_secret = "header-secret-Zq81"
    event = WebhookEventFactory.create(
        endpoint=endpoint,
        failed=True,
        payload=certificate_body("SB-1", learner_email="staff@example.com"),
        headers={"User-Agent": "Seably", "X-Forwarded-For": header_secret},
        raw_body=b"\xff raw-body-secret",
    )
    CertificateFactory.create(event=event, user=staff)
    requests = [
        ("get", url(CERTIFICATES)),
        ("get", url("django_seably_api:certificate-detail", Certificate.objects.get().pk)),
        ("get", url(EVENTS)),
        ("get", url("django_seably_api:event-detail", event.pk)),
        ("post", url("django_seably_api:event-reprocess", event.pk)),
        ("get", url(MINE)),
        ("get", url("django_seably_api:schema") + "?format=json"),
    ]

    for method, path in requests:
        response = getattr(api, method)(path)
        assert response.status_code == 200, path
        text = response.content.decode()
        for secret in (endpoint.token, endpoint.token[:12], header_secret, "raw-body-secret", event.fingerprint):
            assert secret not in text, (path, secret)
        for field in ('"headers"', '"token"', '"raw_body"', '"fingerprint"'):
            assert field not in text, (path, field)


# --- my certificates ----------------------------------------------------------------------------


class TestMyCertificates:
    @pytest.fixture
    def others(self, django_user_model, linking):
        alice = django_user_model.objects.create_user("alice", "alice@example.com", "pw")
        bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
        certificates = {
            "alice": [certificate("SB-a1", user=alice, learner_email="alice@example.com")],
            "bob": [certificate("SB-b1", user=bob), certificate("SB-b2", user=bob, course_name="Radio")],
        }
        certificate("SB-unlinked", user=None, learner_email="alice@example.com")
        return alice, bob, certificates

    def client_for(self, user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    def test_each_user_sees_exactly_their_own(self, others, staff):
        alice, bob, _ = others

        assert seably_ids(self.client_for(alice).get(url(MINE))) == ["SB-a1"]
        assert seably_ids(self.client_for(bob).get(url(MINE))) == ["SB-b2", "SB-b1"]
        assert seably_ids(self.client_for(staff).get(url(MINE))) == []

    def test_filters_and_pages_stay_within_the_user(self, others):
        _, bob, _ = others
        client = self.client_for(bob)

        assert seably_ids(client.get(url(MINE), {"course": "Radio"})) == ["SB-b2"]
        assert seably_ids(client.get(url(MINE), {"learner_email": "alice@example.com"})) == []
        assert seably_ids(client.get(url(MINE), {"search": "SB-a1"})) == []
        first = client.get(url(MINE), {"page_size": 1})
        assert seably_ids(first) == ["SB-b2"]
        assert seably_ids(client.get(first.json()["next"])) == ["SB-b1"]

    def test_a_cursor_from_another_user_shows_nothing_of_theirs(self, others):
        alice, bob, _ = others
        bobs_next = self.client_for(bob).get(url(MINE), {"page_size": 1}).json()["next"]

        # A cursor is only a position in the id order: applied for alice, it pages through alice's rows.
        assert seably_ids(self.client_for(alice).get(bobs_next)) == ["SB-a1"]

    def test_any_logged_in_user_whatever_the_api_permissions(self, others, settings):
        alice, _, _ = others
        settings.SEABLY = {**settings.SEABLY, "API_PERMISSION_CLASSES": ["tests.test_api.OnlyMember"]}

        assert seably_ids(self.client_for(alice).get(url(MINE))) == ["SB-a1"]

    def test_anonymous_is_refused_even_when_the_api_is_open(self, others, settings, anonymous):
        settings.SEABLY = {**settings.SEABLY, "API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}

        response = anonymous.get(url(MINE))

        assert response.status_code == 403
        assert response.json() == {"detail": "Authentication credentials were not provided."}

    def test_inactive_user_is_refused(self, others):
        alice, _, _ = others
        alice.is_active = False
        alice.save()
        client = APIClient()

        assert client.login(username="alice", password="pw") is False
        assert client.get(url(MINE)).status_code == 403

    def test_404_while_linking_is_off(self, as_member, member, settings):
        settings.SEABLY = {}
        CertificateFactory.create(user=member)

        response = as_member.get(url(MINE))

        assert response.status_code == 404
        assert response.json() == {"detail": 'Certificates are not linked to users here (SEABLY["LINK_USERS"] is off).'}

    def test_malformed_filter_is_a_400(self, as_member, linking):
        response = as_member.get(url(MINE), {"validity": "sometimes"})

        assert response.status_code == 400


# --- query counts ------------------------------------------------------------------------------


class TestQueryCounts:
    """One query per page whatever its size (force_authenticate: no session or user lookups)."""

    def count(self, client, path, **params):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, params)
        assert response.status_code == 200, response.content
        return len(queries), len(response.json()["results"])

    @pytest.mark.parametrize(
        ("name", "filters"),
        [(CERTIFICATES, {"validity": "valid", "issued_from": "2000-01-01"}), (EVENTS, {"status": "processed"})],
    )
    def test_lists(self, superuser_api, staff, name, filters):
        # Each certificate with its own event, each event with its own endpoint.
        CertificateFactory.create_batch(50, user=staff, issued_at=datetime.datetime(2024, 1, 1, tzinfo=UTC))
        api = superuser_api  # a superuser's permissions cost no query

        assert self.count(api, url(name), page_size=5) == (1, 5)
        assert self.count(api, url(name), page_size=50) == (1, 50)
        assert self.count(api, url(name), page_size=50, **filters) == (1, 50)

    def test_my_certificates(self, api, staff, linking):
        CertificateFactory.create_batch(50, user=staff)

        assert self.count(api, url(MINE), page_size=5) == (1, 5)
        assert self.count(api, url(MINE), page_size=50) == (1, 50)

    def test_session_authentication_and_permissions_add_a_constant_four(self, staff):
        CertificateFactory.create_batch(50)
        client = APIClient()
        client.login(username="staff", password="pw")

        # The session, the user, and the user's permissions (its own, its groups').
        assert self.count(client, url(CERTIFICATES), page_size=5) == (5, 5)
        assert self.count(client, url(CERTIFICATES), page_size=50) == (5, 50)


# --- the API's own pieces ---------------------------------------------------------------------


class TestSettings:
    def test_defaults(self, settings):
        settings.SEABLY = {}

        assert seably_settings.API_PERMISSION_CLASSES == ["django_seably.api.permissions.ModelPermissions"]
        assert seably_settings.LINK_USERS is False

    def test_read_fresh(self, settings):
        settings.SEABLY = {"API_PERMISSION_CLASSES": ("a.B", "c.D"), "LINK_USERS": True}

        assert seably_settings.API_PERMISSION_CLASSES == ["a.B", "c.D"]
        assert seably_settings.LINK_USERS is True

    def test_the_default_list_cannot_be_changed_through_the_property(self, settings):
        settings.SEABLY = {}

        seably_settings.API_PERMISSION_CLASSES.append("rest_framework.permissions.AllowAny")

        assert seably_settings.API_PERMISSION_CLASSES == ["django_seably.api.permissions.ModelPermissions"]


class TestParseMoment:
    def test_clamps_at_the_ends_of_the_calendar(self, settings):
        settings.TIME_ZONE = "Asia/Tokyo"  # +09:18:59 in year 1: its first day starts before UTC can say

        assert parse_moment("0001-01-01") == datetime.datetime.min.replace(tzinfo=UTC)
        assert parse_moment("9999-12-31T23:00:00-05:00") == datetime.datetime.max.replace(tzinfo=UTC)
        assert parse_moment("9999-12-31", end_of_day=True).year == 9999

    def test_keeps_microseconds_and_drops_finer_digits(self):
        assert parse_moment("2024-01-01T00:00:00.1234567Z").microsecond == 123456
        assert parse_moment("2024-01-01T00:00:00.5Z").microsecond == 500000


@pytest.mark.parametrize(
    ("missing", "needed"),
    [(["rest_framework", "drf_spectacular"], "Django REST framework"), (["django_filters"], "django-filter")],
)
def test_django_seably_works_without_the_api_extra(missing, needed):
    """Only django_seably.api needs DRF and django-filter: the rest imports, checks and migrates without them."""
    # An import of each missing module now raises ImportError.
    script = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in missing)
    script += textwrap.dedent(
        """
        import django
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django_seably"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            ROOT_URLCONF="project_urls",
            SEABLY={"LINK_USERS": True},
        )
        django.setup()
        import types

        from django.core.management import call_command
        from django.urls import include, path

        sys.modules["project_urls"] = types.ModuleType("project_urls")
        sys.modules["project_urls"].urlpatterns = [path("seably/", include("django_seably.urls"))]

        import django_seably.processing, django_seably.views  # noqa: F401
        call_command("check")
        call_command("migrate", verbosity=0)
        try:
            import django_seably.api  # noqa: F401
        except ImportError as error:
            print("api:", error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        f'api: django_seably.api needs {needed}: pip install "django-seably[api]".'
    )


def test_no_schema_route_without_drf_spectacular():
    script = textwrap.dedent(
        """
        import sys

        sys.modules["drf_spectacular"] = None
        import django
        from django.conf import settings

        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "django_seably"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        )
        django.setup()
        from django_seably.api.urls import urlpatterns

        print(sorted(p.name for p in urlpatterns))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout.strip().replace("'", '"'))
    assert names == [
        "certificate-detail",
        "certificate-list",
        "event-detail",
        "event-list",
        "event-reprocess",
        "my-certificate-list",
    ]
