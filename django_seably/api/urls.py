"""Mount with ``path("api/seably/", include("django_seably.api.urls"))``; the namespace is ``django_seably_api``.

Routes (names in the namespace):

- ``certificates/`` (``certificate-list``), ``certificates/<id>/`` (``certificate-detail``)
- ``events/`` (``event-list``), ``events/<id>/`` (``event-detail``),
  ``POST events/<id>/reprocess/`` (``event-reprocess``)
- ``me/certificates/`` (``my-certificate-list``)
- ``schema/`` (``schema``): the OpenAPI 3 schema, only when drf-spectacular is installed
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from django.urls import path
from rest_framework.routers import SimpleRouter

from django_seably.api.views import CertificateViewSet, MyCertificateViewSet, WebhookEventViewSet

app_name = "django_seably_api"

router = SimpleRouter()
router.register("certificates", CertificateViewSet, basename="certificate")
router.register("events", WebhookEventViewSet, basename="event")
router.register("me/certificates", MyCertificateViewSet, basename="my-certificate")

urlpatterns: list[Any] = [*router.urls]

if find_spec("drf_spectacular") is not None:
    from django_seably.api.schema import SchemaView

    urlpatterns.append(path("schema/", SchemaView.as_view(), name="schema"))
