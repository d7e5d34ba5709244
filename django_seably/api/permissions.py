"""Who may use the API: the permission classes named in ``SEABLY["API_PERMISSION_CLASSES"]``.

The default, ``ModelPermissions``, asks what the admin asks: being staff is not
enough, a user needs the model's permissions (a superuser has them all).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.utils.module_loading import import_string
from rest_framework.permissions import SAFE_METHODS, BasePermission, DjangoModelPermissions
from rest_framework.request import Request

from django_seably.conf import seably_settings

_VIEW = "%(app_label)s.view_%(model_name)s"
_CHANGE = "%(app_label)s.change_%(model_name)s"


def api_permissions() -> list[BasePermission]:
    """Return an instance of each configured permission class; a request needs all of them.

    Read on every request, like every setting of the app, so ``override_settings``
    works; importing an already imported class costs a dictionary lookup. A path
    may also name a composition such as ``IsAdminUser | MyPermission`` bound to a
    module-level name: anything that DRF can call to get a permission.
    """
    return [import_string(path)() for path in seably_settings.API_PERMISSION_CLASSES]


class ModelPermissions(DjangoModelPermissions):
    """The admin's rules, for the API: read with the model's view permission, reprocess with change_webhookevent.

    As in the admin, the change permission also allows reading. An action named
    in ``action_perms_map`` needs its own permissions instead of its HTTP
    method's (reprocessing is a POST, but it changes an event; it adds nothing).
    The schema, which belongs to no model, is for users who may see something of
    this app (any of its permissions).
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": [_VIEW],
        "HEAD": [_VIEW],
        "OPTIONS": [_VIEW],
    }
    action_perms_map: dict[str, list[str]] = {"reprocess": [_CHANGE]}

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        model = _model_of(view)
        if model is None:
            return bool(user.has_module_perms("django_seably"))
        action = getattr(view, "action", None)
        if action is None:
            # A method no route handles: those who may read learn that it is a 405, others get a 403.
            return bool(user.has_perms([_VIEW % _names(model)]) or user.has_perms([_CHANGE % _names(model)]))
        if action in self.action_perms_map:
            required = [perm % _names(model) for perm in self.action_perms_map[action]]
            return bool(user.has_perms(required))
        if request.method in SAFE_METHODS and user.has_perms([_CHANGE % _names(model)]):
            return True
        return bool(user.has_perms(self.get_required_permissions(request.method or "", model)))


def _model_of(view: Any) -> type[Model] | None:
    # The class attribute, not get_queryset(): that parses the query's filters,
    # which would answer a malformed one with a 400 before refusing the user.
    queryset = getattr(view, "queryset", None)
    return queryset.model if queryset is not None else None


def _names(model: type[Model]) -> dict[str, str]:
    return {"app_label": model._meta.app_label, "model_name": model._meta.model_name or ""}
