from __future__ import annotations

from django.urls import path

from django_seably.views import WebhookView

app_name = "django_seably"

urlpatterns = [
    path("<str:token>/", WebhookView.as_view(), name="webhook"),
    # The same URL without its slash: APPEND_SLASH cannot redirect a POST.
    path("<str:token>", WebhookView.as_view()),
]
