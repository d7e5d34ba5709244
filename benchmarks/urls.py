from __future__ import annotations

from django.urls import include, path

from benchmarks.reference.views import receive

urlpatterns = [
    path("seably/", include("django_seably.urls")),
    path("reference/<str:token>/", receive, name="reference"),
]
