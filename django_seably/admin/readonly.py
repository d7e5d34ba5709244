"""The base of the events' and certificates' admins: rows the webhook writes, only viewed by hand."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from django_seably.admin.counting import EstimatedCountPaginator
from django_seably.admin.lookups import SecretLookupsRefused


class ReadOnlyAdmin(SecretLookupsRefused):
    """Viewable; never added, edited or deleted by hand.

    Events are what deduplication remembers (``seably_prune`` empties old ones);
    a certificate deleted here would not come back when Seably resends it
    (erasing a learner goes through ``seably_forget``).
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    class Media:
        css = {"all": ["django_seably/admin.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
