"""The API's OpenAPI 3 schema, with drf-spectacular (the optional ``openapi`` extra).

Imported only when drf-spectacular is installed (``urls.py`` checks), so the views
carry no schema code. drf-spectacular's view extensions swap in, while a schema is
generated, each view with ``ApiSchema`` as its inspector: in ``SchemaView`` below
and in a project's own drf-spectacular schema alike, whatever the project's
``DEFAULT_SCHEMA_CLASS`` (``@extend_schema`` would need it to be drf-spectacular's).
Query parameters come from the views' FilterSets (drf-spectacular reads them), so
the schema names every filter there is; the error answers are listed per action.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from django_seably import __version__
from django_seably.api.filters import MOMENT_SCHEMA, CertificateFilter, MomentFilter, WebhookEventFilter
from django_seably.api.permissions import api_permissions
from django_seably.api.views import CertificateViewSet, MyCertificateViewSet, WebhookEventViewSet

_DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
_FIELD_ERRORS = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}

BAD_QUERY = OpenApiResponse(_FIELD_ERRORS, description="Malformed query parameters: each named, with what is wrong.")
NOT_AUTHENTICATED = OpenApiResponse(
    _DETAIL, description="Not authenticated (401 or 403, depending on the first authentication class)."
)
FORBIDDEN = OpenApiResponse(_DETAIL, description="Not authenticated, or not allowed.")
NOT_FOUND = OpenApiResponse(_DETAIL, description="No such object.")
BAD_CURSOR = OpenApiResponse(_DETAIL, description='A malformed cursor (DRF: "Invalid cursor").')
LINKING_OFF = OpenApiResponse(
    _DETAIL, description='Certificates are not linked to users (SEABLY["LINK_USERS"] is off), or a malformed cursor.'
)


class ApiSchemaMixin:
    """Document a view of this API from its own declarations: list filters, request and responses per action."""

    view: Any

    def get_description(self) -> str:
        if self.view.action == "retrieve":
            return f"One {self.view.queryset.model._meta.verbose_name}, by id."
        return super().get_description()  # type: ignore[misc, no-any-return]

    def get_request_serializer(self) -> Any:
        return None  # nothing here takes a body; reprocess is a bare POST

    def get_response_serializers(self) -> Any:
        serializer = self.view.get_serializer_class()
        guarded = {401: NOT_AUTHENTICATED, 403: FORBIDDEN}
        if self.view.action == "list":
            not_found = LINKING_OFF if isinstance(self.view, MyCertificateViewSet) else BAD_CURSOR
            return {200: serializer(many=True), 400: BAD_QUERY, **guarded, 404: not_found}
        return {200: serializer, **guarded, 404: NOT_FOUND}


# A date or a date-time, which no django-filter type says; a schema given whole carries its description.
for _filterset in (CertificateFilter, WebhookEventFilter):
    for _filter in _filterset.base_filters.values():
        if isinstance(_filter, MomentFilter):
            extend_schema_field({**MOMENT_SCHEMA, "description": _filter.extra["help_text"]})(_filter)


def _inspector() -> AutoSchema:
    # On top of the project's own drf-spectacular inspector, if it has one (its tags, hooks...).
    base: Any = api_settings.DEFAULT_SCHEMA_CLASS
    if not (isinstance(base, type) and issubclass(base, AutoSchema)):
        base = AutoSchema
    inspector: AutoSchema = type("ApiSchema", (ApiSchemaMixin, base), {})()
    return inspector


# drf-spectacular's untyped __init_subclass__ registers each extension.
class _Documented(OpenApiViewExtension):  # type: ignore[no-untyped-call]
    def view_replacement(self) -> type[APIView]:
        view: type[APIView] = self.target
        return type(view.__name__, (view,), {"schema": _inspector(), "__module__": view.__module__})


class CertificateViewSetSchema(_Documented):  # type: ignore[no-untyped-call]
    target_class = CertificateViewSet


class WebhookEventViewSetSchema(_Documented):  # type: ignore[no-untyped-call]
    target_class = WebhookEventViewSet


class MyCertificateViewSetSchema(_Documented):  # type: ignore[no-untyped-call]
    target_class = MyCertificateViewSet


def only_this_api(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """Keep the routes of this API (a preprocessing hook): ``SchemaView`` describes nothing else."""
    views = (CertificateViewSet, WebhookEventViewSet, MyCertificateViewSet)
    return [endpoint for endpoint in endpoints if getattr(endpoint[3], "cls", None) in views]


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema of this API (YAML, or JSON with ``?format=json``), behind the API's permissions."""

    custom_settings = {
        "TITLE": "Seably API (django-seably)",
        "DESCRIPTION": "Certificates and webhook events received from Seably.",
        "VERSION": __version__,
        "PREPROCESSING_HOOKS": ["django_seably.api.schema.only_this_api"],
    }

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()
