from __future__ import annotations

from django.urls import include, path

from benchmarks.reference.views import reference_dedup, reference_insert

urlpatterns = [
    path("seably/", include("django_seably.urls")),
    path("reference/", reference_insert, name="reference"),
    path("reference/dedup/", reference_dedup, name="reference-dedup"),
]
