"""A read-only REST API over events and certificates (Django REST framework, an optional extra).

Mount it with ``path("api/seably/", include("django_seably.api.urls"))``. Only this
package needs Django REST framework; the rest of the app works without it.
"""

from __future__ import annotations

try:
    import rest_framework  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by tests/test_api.py
    raise ImportError('django_seably.api needs Django REST framework: pip install "django-seably[api]".') from error
