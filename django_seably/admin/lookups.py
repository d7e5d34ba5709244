"""No list filter in the URL may reach a secret: the admin must not be a token oracle.

Django's ``ModelAdmin.lookup_allowed`` accepts any lookup on a model's own fields,
so ``/admin/django_seably/endpoint/?token__startswith=C3B`` would tell whoever may
view endpoints, one character at a time, whether a token starts so. Every admin of
the app refuses a lookup whose path reaches a secret field, for every user; Django
answers a refused lookup with 400 Bad Request (``DisallowedModelAdminLookup``),
whether the guess was right or wrong.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from django_seably.models import Endpoint

#: Fields no URL lookup may reach, on any path (``token``, ``endpoint__token``, ``event__endpoint__token``).
SECRET_FIELDS: frozenset[Any] = frozenset({Endpoint._meta.get_field("token")})


def reaches_secret(model: type[Model], lookup: str) -> bool:
    """Return True when the field path of ``lookup`` on ``model`` goes through a secret field."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False  # the rest are lookups and transforms of the last field
        if field in SECRET_FIELDS:
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
    return False


class SecretLookupsRefused(admin.ModelAdmin):  # type: ignore[type-arg]
    """Refuse every URL lookup that reaches a secret field, whoever asks."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if reaches_secret(self.model, lookup):
            return False
        return bool(super().lookup_allowed(lookup, value, request))  # type: ignore[arg-type]
