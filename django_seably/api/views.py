"""The API's views: certificates and events to read, one event to reprocess, and "my certificates".

The lists' filters are FilterSets (``filters.py``) and apply to lists only; the
project's ``DEFAULT_FILTER_BACKENDS`` are replaced here, since an ordering backend
would break the cursor. Authentication, renderers and throttling are the
project's own DRF settings.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from django_seably.api.filters import CertificateFilter, FilterBackend, WebhookEventFilter
from django_seably.api.pagination import IdCursorPagination
from django_seably.api.permissions import api_permissions
from django_seably.api.serializers import (
    CertificateSerializer,
    ReprocessResultSerializer,
    WebhookEventDetailSerializer,
    WebhookEventSerializer,
)
from django_seably.conf import seably_settings
from django_seably.models import Certificate, WebhookEvent
from django_seably.processing import process_event


class ListFiltersOnly(GenericAPIView[Any]):
    """Filter with the view's FilterSet, in the list only: a detail or an action ignores the list's parameters."""

    filter_backends = [FilterBackend]

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)


class CertificateViewSet(ListFiltersOnly, viewsets.ReadOnlyModelViewSet[Certificate]):
    """Certificates Seably issued, newest first."""

    queryset = Certificate.objects.all()
    serializer_class = CertificateSerializer
    pagination_class = IdCursorPagination
    filterset_class = CertificateFilter
    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers 404 in JSON (not Django's HTML page)

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()


class WebhookEventViewSet(ListFiltersOnly, viewsets.ReadOnlyModelViewSet[WebhookEvent]):
    """Webhook events received from Seably, newest first. Endpoint tokens and request headers are never shown."""

    queryset = WebhookEvent.objects.all()
    pagination_class = IdCursorPagination
    filterset_class = WebhookEventFilter
    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers 404 in JSON (not Django's HTML page)

    def get_permissions(self) -> list[BasePermission]:
        return api_permissions()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "list":
            return WebhookEventSerializer
        if self.action == "reprocess":
            return ReprocessResultSerializer
        return WebhookEventDetailSerializer

    def get_queryset(self) -> QuerySet[WebhookEvent]:
        queryset: QuerySet[WebhookEvent] = WebhookEvent.objects.select_related("endpoint")
        if self.action == "list":
            # Only what the list shows: the body and payload can be large.
            queryset = queryset.defer("body", "raw_body", "payload", "headers", "last_error")
        return queryset

    @action(detail=True, methods=["post"])
    def reprocess(self, request: Request, pk: str | None = None) -> Response:
        """Process the event again (as `seably_reprocess --id` does) and tell what happened.

        Always 200 for an existing event: `outcome` says whether it was processed,
        failed again, is still invalid, or was skipped (already processed).
        """
        event = self.get_object()
        outcome = process_event(event)
        # Read back: when skipped, another process may have changed the status meanwhile.
        event.refresh_from_db(fields=["status"])
        result = {"id": event.pk, "outcome": outcome, "status": event.status}
        return Response(ReprocessResultSerializer(result).data)


class MyCertificateViewSet(ListFiltersOnly, mixins.ListModelMixin, viewsets.GenericViewSet[Certificate]):
    """The certificates linked to the logged-in user (by email), newest first; any logged-in user may list theirs.

    404 while linking is off (`SEABLY["LINK_USERS"]`): no certificate is linked then,
    and an empty list would read as "you have none".
    """

    queryset = Certificate.objects.all()
    serializer_class = CertificateSerializer
    pagination_class = IdCursorPagination
    # Not the API's permission classes: this list only ever shows the user's own certificates.
    permission_classes = [IsAuthenticated]
    filterset_class = CertificateFilter

    def get_queryset(self) -> QuerySet[Certificate]:
        user = self.request.user
        if not user.is_authenticated:  # only while the schema is generated: requests need a login
            return Certificate.objects.none()
        return Certificate.objects.filter(user_id=user.pk)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not seably_settings.LINK_USERS:
            raise NotFound(_('Certificates are not linked to users here (SEABLY["LINK_USERS"] is off).'))
        return super().list(request, *args, **kwargs)
