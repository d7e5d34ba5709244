"""Who may use the API: the permission classes named in ``SEABLY["API_PERMISSION_CLASSES"]``."""

from __future__ import annotations

from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission

from django_seably.conf import seably_settings


def api_permissions() -> list[BasePermission]:
    """Return an instance of each configured permission class; a request needs all of them.

    Read on every request, like every setting of the app, so ``override_settings``
    works; importing an already imported class costs a dictionary lookup. A path
    may also name a composition such as ``IsAdminUser | MyPermission`` bound to a
    module-level name: anything that DRF can call to get a permission.
    """
    return [import_string(path)() for path in seably_settings.API_PERMISSION_CLASSES]
