"""The API's OpenAPI schema: it describes every route, filter and answer, and the API keeps to it.

Schemathesis generates requests from the schema the app serves (valid and
invalid ones, within a bounded budget) and checks each answer: no 5xx, a status
the schema documents, a body that matches the schema, invalid input refused.
"""

from __future__ import annotations

import base64
import datetime

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from django_seably.api.filters import CertificateFilter, WebhookEventFilter
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory
from tests.wsgi import application

PASSWORD = "correct horse battery staple"
SCHEMA = "/api/seably/schema/?format=json"


@pytest.fixture
def admin(django_user_model, settings):
    # Every generated request logs in with HTTP Basic: a fast hasher keeps that from dominating the run.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def schema_json(db, admin):
    client = APIClient()
    client.force_authenticate(admin)
    response = client.get(reverse("django_seably_api:schema"), {"format": "json"})
    assert response.status_code == 200, response.content
    return response.json()


def operations(schema):
    return {(method.upper(), path) for path, item in schema["paths"].items() for method in item}


class TestSchema:
    def test_is_openapi_3(self, schema_json):
        assert schema_json["openapi"].startswith("3.")
        assert schema_json["info"]["title"] == "Seably API (django-seably)"

    def test_describes_every_route_and_nothing_else(self, schema_json):
        assert operations(schema_json) == {
            ("GET", "/api/seably/certificates/"),
            ("GET", "/api/seably/certificates/{id}/"),
            ("GET", "/api/seably/events/"),
            ("GET", "/api/seably/events/{id}/"),
            ("POST", "/api/seably/events/{id}/reprocess/"),
            ("GET", "/api/seably/me/certificates/"),
        }

    @pytest.mark.parametrize(
        ("path", "filterset"),
        [
            ("/api/seably/certificates/", CertificateFilter),
            ("/api/seably/me/certificates/", CertificateFilter),
            ("/api/seably/events/", WebhookEventFilter),
        ],
    )
    def test_describes_every_filter_of_a_list(self, schema_json, path, filterset):
        parameters = {p["name"]: p for p in schema_json["paths"][path]["get"]["parameters"]}

        assert set(parameters) == set(filterset.base_filters) | {"cursor", "page_size"}
        for name, declared in filterset.base_filters.items():
            assert parameters[name]["in"] == "query"
            assert parameters[name].get("required", False) is False
            # A closed set of values is listed after the description, each with its meaning.
            assert parameters[name]["description"].startswith(declared.extra["help_text"])
        assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}

    @pytest.mark.parametrize("path", ["/api/seably/certificates/", "/api/seably/events/"])
    def test_gives_each_filter_its_type(self, schema_json, path):
        parameters = {p["name"]: p["schema"] for p in schema_json["paths"][path]["get"]["parameters"]}
        moment = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}

        expected = {
            "/api/seably/certificates/": {
                "learner_email": {"type": "string"},
                "course": {"type": "string"},
                "issued_from": moment,
                "issued_to": moment,
                "validity": {"type": "string", "enum": ["expired", "no_expiry", "valid"]},
                "search": {"type": "string"},
            },
            "/api/seably/events/": {
                "status": {"type": "string", "enum": ["failed", "invalid", "pending", "processed"]},
                "event_type": {"type": "string"},
                "endpoint": {"type": "string"},
                "object_id": {"type": "string"},
                "received_from": moment,
                "received_to": moment,
            },
        }[path]
        assert {name: parameters[name] for name in expected} == expected

    def test_enumerates_closed_values(self, schema_json):
        certificates = {p["name"]: p for p in schema_json["paths"]["/api/seably/certificates/"]["get"]["parameters"]}
        events = {p["name"]: p for p in schema_json["paths"]["/api/seably/events/"]["get"]["parameters"]}

        assert certificates["validity"]["schema"]["enum"] == ["expired", "no_expiry", "valid"]
        assert certificates["validity"]["description"].endswith(
            "\n\n* `valid` - no expiry date, or expiring today or later"
            "\n* `expired` - expiry date before today\n* `no_expiry` - no expiry date"
        )
        assert events["status"]["schema"]["enum"] == ["failed", "invalid", "pending", "processed"]

    def test_documents_every_answer(self, schema_json):
        paths = schema_json["paths"]
        for path in ("/api/seably/certificates/", "/api/seably/events/", "/api/seably/me/certificates/"):
            assert set(paths[path]["get"]["responses"]) == {"200", "400", "401", "403", "404"}, path
        for path in ("/api/seably/certificates/{id}/", "/api/seably/events/{id}/"):
            assert set(paths[path]["get"]["responses"]) == {"200", "401", "403", "404"}, path
        reprocess = paths["/api/seably/events/{id}/reprocess/"]["post"]
        assert set(reprocess["responses"]) == {"200", "401", "403", "404"}
        assert "requestBody" not in reprocess

    def test_describes_the_responses(self, schema_json):
        paths, components = schema_json["paths"], schema_json["components"]["schemas"]

        def body(path, method="get"):
            return paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]

        assert body("/api/seably/certificates/") == "#/components/schemas/PaginatedCertificateList"
        assert body("/api/seably/me/certificates/") == "#/components/schemas/PaginatedCertificateList"
        assert body("/api/seably/certificates/{id}/") == "#/components/schemas/Certificate"
        assert body("/api/seably/events/") == "#/components/schemas/PaginatedWebhookEventList"
        assert body("/api/seably/events/{id}/") == "#/components/schemas/WebhookEventDetail"
        assert body("/api/seably/events/{id}/reprocess/", "post") == "#/components/schemas/ReprocessResult"
        assert set(components["PaginatedCertificateList"]["properties"]) == {"next", "previous", "results"}
        assert set(components["ReprocessResult"]["properties"]) == {"id", "outcome", "status"}
        assert components["OutcomeEnum"]["enum"] == ["processed", "failed", "invalid", "skipped"]

    def test_names_no_secret_field(self, schema_json):
        for name, component in schema_json["components"]["schemas"].items():
            for secret in ("token", "headers", "raw_body", "fingerprint"):
                assert secret not in component.get("properties", {}), (name, secret)

    def test_needs_the_api_permissions(self, db, django_user_model, settings):
        url = reverse("django_seably_api:schema")
        member = django_user_model.objects.create_user("member", "member@example.com", PASSWORD)
        client = APIClient()

        assert client.get(url).status_code == 403
        client.force_authenticate(member)
        assert client.get(url).status_code == 403

        settings.SEABLY = {"API_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]}
        assert APIClient().get(url).status_code == 200

    def test_is_yaml_by_default(self, db, admin):
        client = APIClient()
        client.force_authenticate(admin)

        response = client.get(reverse("django_seably_api:schema"))

        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/vnd.oai.openapi")
        assert response.content.startswith(b"openapi: 3.")


# --- the API keeps to its schema -----------------------------------------------------------

AUTHORIZATION = {"Authorization": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()}
#: Per operation and generation mode: 6 operations x 2 modes x 50 = 600 requests (and the checks' probes).
EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same requests on every run: CI does not fail on a new seed's luck
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Serve requests on the test's own connection (inside its transaction), as Django's test client does.

    A plain WSGI handler closes the connection when a request finishes (``close_old_connections``).
    """
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(db, admin, settings, wsgi_keeps_the_test_connection):
    """The schema as the app serves it, over WSGI, with data for the generated requests to find."""
    settings.SEABLY = {"LINK_USERS": True}
    endpoint = EndpointFactory.create(name="production")
    for status in ("pending", "processed", "failed", "invalid"):
        WebhookEventFactory.create(endpoint=endpoint, status=status, headers={"User-Agent": "Seably"})
    today = datetime.date.today()
    for n in range(3):
        CertificateFactory.create(
            learner_email="admin@example.com",
            course_name="Sea Survival",
            issued_at=datetime.datetime(2024, 1, 1 + n, tzinfo=datetime.UTC),
            expires_on=today + datetime.timedelta(days=n - 1),
            user=admin,
        )
    # Credentials for the schema's basicAuth scheme: schemathesis sends them with every
    # request, drops the random ones it would generate for cookieAuth, and checks that
    # requests without them are refused (its ignored_auth check).
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"basicAuth": {"username": "admin", "password": PASSWORD}}}}
    )
    return schemathesis.openapi.from_wsgi(SCHEMA, application, config=config, headers=AUTHORIZATION)


# Hypothesis is driven directly (``@given`` on each operation's strategy) rather than through
# schemathesis' pytest plugin, which does not run on pytest 9.2 (it sets ``Node._nodeid``).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_keeps_to_its_schema(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @EXAMPLES
        def call(case):
            case.call_and_validate()

        call()
