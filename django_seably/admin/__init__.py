"""The admin an operator runs the integration from: events, certificates, endpoints, an overview.

One module per page or job; importing them registers the ModelAdmins. Every page
answers as fast with a million events as with ten (docs/admin.md; the statement
counts are pinned in tests/test_admin_queries.py).
"""

from __future__ import annotations

from django_seably.admin.certificates import CertificateAdmin
from django_seably.admin.endpoints import EndpointAdmin
from django_seably.admin.events import WebhookEventAdmin
from django_seably.admin.overview import EventOverviewAdmin

__all__ = ["CertificateAdmin", "EndpointAdmin", "EventOverviewAdmin", "WebhookEventAdmin"]
