"""A read-only REST API over events and certificates (Django REST framework and django-filter: the ``api`` extra).

Mount it with ``path("api/seably/", include("django_seably.api.urls"))``. Only this
package needs them; the rest of the app works without.
"""

from __future__ import annotations

try:
    import rest_framework  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by tests/test_api.py
    raise ImportError('django_seably.api needs Django REST framework: pip install "django-seably[api]".') from error
try:
    import django_filters  # type: ignore[import-untyped]  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by tests/test_api.py
    raise ImportError('django_seably.api needs django-filter: pip install "django-seably[api]".') from error
