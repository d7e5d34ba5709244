"""No admin page is a token oracle: no URL lookup, search or ordering reveals anything of a token.

Django's ModelAdmin.lookup_allowed accepts any lookup on a model's own field, so
``/admin/django_seably/endpoint/?token__startswith=C3B`` would tell a view-only user,
one character at a time, whether a token starts so. Every such lookup is refused with
400 Bad Request (DisallowedModelAdminLookup), for every user, right guess or wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_seably.admin.lookups import reaches_secret
from django_seably.models import Certificate, Endpoint, WebhookEvent
from tests.factories import CertificateFactory, EndpointFactory, WebhookEventFactory

pytestmark = pytest.mark.django_db

#: Every lookup a guess could use, and its case-insensitive form where there is one.
LOOKUPS = [
    "",
    "exact",
    "iexact",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "contains",
    "icontains",
    "regex",
    "iregex",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "range",
    "isnull",
]

#: The paths to an endpoint's token from each list.
PATHS = {
    "endpoint": ["token", "events__endpoint__token"],
    "webhookevent": ["endpoint__token"],
    "certificate": ["event__endpoint__token"],
}


def guesses(lookup: str, token: str) -> tuple[str, str]:
    """A right guess at ``token`` for ``lookup`` and a wrong one."""
    wrong = ("A" if token[0] != "A" else "B") + token[1:]
    match lookup:
        case "" | "exact" | "iexact" | "in":
            return token, wrong
        case "startswith" | "istartswith":
            return token[:3], wrong[:3]
        case "endswith" | "iendswith":
            return token[-3:], "." * 3
        case "contains" | "icontains":
            return token[5:9], "...."
        case "regex" | "iregex":
            return f"^{token[:3]}", f"^{wrong[:3]}"
        case "gt" | "gte":
            return token[:2], "~"
        case "lt" | "lte":
            return "~", token[:2]
        case "range":
            return f"{token[:1]},~", "~,~~"
        case "isnull":
            return "false", "true"
    raise AssertionError(lookup)


def viewer() -> Client:
    """A staff user who may only view the app's models."""
    user = User.objects.create_user("viewer", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_seably",
            codename__in=["view_endpoint", "view_webhookevent", "view_certificate"],
        )
    )
    client = Client()
    client.force_login(user)
    return client


def superuser() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", password=None))
    return client


@pytest.fixture
def endpoint() -> Endpoint:
    endpoint = EndpointFactory.create(name="production")
    event = WebhookEventFactory.create(endpoint=endpoint, processed=True)
    CertificateFactory.create(event=event)
    return endpoint


def answer(client: Client, model: str, query: dict[str, str]) -> tuple[int, bytes]:
    response = client.get(reverse(f"admin:django_seably_{model}_changelist"), query)
    return response.status_code, response.content


@pytest.mark.parametrize("who", ["viewer", "superuser"])
@pytest.mark.parametrize("lookup", LOOKUPS)
@pytest.mark.parametrize(("model", "path"), [(model, path) for model, paths in PATHS.items() for path in paths])
def test_a_lookup_on_the_token_is_refused_right_or_wrong(endpoint, who, lookup, model, path):
    client = viewer() if who == "viewer" else superuser()
    right, wrong = guesses(lookup, endpoint.token)
    parameter = f"{path}__{lookup}" if lookup else path

    assert answer(client, model, {parameter: right}) == answer(client, model, {parameter: wrong})
    status, content = answer(client, model, {parameter: right})
    assert status == 400
    assert endpoint.token.encode() not in content


def test_the_guesses_would_tell_without_the_refusal(endpoint):
    # The oracle this module closes: the same guesses against a field any admin may filter
    # on tell right from wrong (here: the endpoint's name, a plain local field).
    client = viewer()

    assert answer(client, "endpoint", {"name__startswith": "pro"}) != answer(
        client, "endpoint", {"name__startswith": "xyz"}
    )


def test_other_lookups_still_work(endpoint):
    client = viewer()
    events = reverse("admin:django_seably_webhookevent_changelist")

    assert client.get(reverse("admin:django_seably_endpoint_changelist"), {"is_active__exact": "1"}).status_code == 200
    assert client.get(events, {"endpoint__id__exact": str(endpoint.pk)}).status_code == 200
    assert client.get(events, {"status__exact": "processed"}).status_code == 200


@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_the_token_is_no_to_field(endpoint, who):
    client = viewer() if who == "viewer" else superuser()

    assert answer(client, "endpoint", {"_to_field": "token"})[0] == 400


@pytest.mark.parametrize("model", ["endpoint", "webhookevent", "certificate"])
def test_search_does_not_reach_the_token(endpoint, model):
    client = viewer()

    for guess in (endpoint.token, endpoint.token[:4], endpoint.token[-8:]):
        response = client.get(reverse(f"admin:django_seably_{model}_changelist"), {"q": guess})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [], guess


@pytest.mark.parametrize("model", ["endpoint", "webhookevent", "certificate"])
def test_no_column_orders_by_the_token(endpoint, model):
    client = viewer()
    admin = client.get(reverse(f"admin:django_seably_{model}_changelist")).context["cl"].model_admin
    for index in range(len(admin.list_display) + 2):
        for direction in ("", "-"):
            response = client.get(reverse(f"admin:django_seably_{model}_changelist"), {"o": f"{direction}{index}"})
            assert response.status_code == 200
            ordering = [str(part) for part in response.context["cl"].queryset.query.order_by]
            assert not [part for part in ordering if "token" in part], (index, ordering)


@pytest.mark.parametrize(
    ("model", "lookup", "secret"),
    [
        (Endpoint, "token", True),
        (Endpoint, "token__startswith", True),
        (Endpoint, "events__endpoint__token__in", True),
        (WebhookEvent, "endpoint__token", True),
        (Certificate, "event__endpoint__token__regex", True),
        (Endpoint, "name__startswith", False),
        (Endpoint, "events__object_id", False),
        (WebhookEvent, "endpoint__id__exact", False),
        (WebhookEvent, "token", False),  # no such field: the admin ignores it
        (Certificate, "data__token", False),  # a key of the certificate's JSON, shown on its page
    ],
)
def test_reaches_secret(model: Any, lookup: str, secret: bool):
    assert reaches_secret(model, lookup) is secret


def test_every_list_of_the_app_refuses_secret_lookups():
    from django.contrib import admin

    from django_seably.admin.lookups import SecretLookupsRefused
    from django_seably.models import EventOverview

    lists = {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "django_seably"
    }

    assert set(lists) == {Endpoint, WebhookEvent, Certificate, EventOverview}
    assert all(isinstance(lists[model], SecretLookupsRefused) for model in (Endpoint, WebhookEvent, Certificate))
