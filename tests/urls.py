from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("seably/", include("django_seably.urls")),
    path("api/seably/", include("django_seably.api.urls")),
]
