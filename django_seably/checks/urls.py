"""The system check that the webhook's URLs are included: without them no endpoint has a URL to show."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error
from django.urls import NoReverseMatch, reverse

#: What is missing, said by the check and by the commands that print an endpoint's URL.
MISSING_INCLUDE = 'The URLconf (ROOT_URLCONF) has no include("django_seably.urls")'

#: How to fix it.
FIX = 'Add path("seably/", include("django_seably.urls")) to your urlpatterns.'


def webhook_urls_included() -> bool:
    """Whether ``reverse("django_seably:webhook")`` works: the one thing every endpoint's URL needs."""
    try:
        reverse("django_seably:webhook", kwargs={"token": "x" * 43})
    except (NoReverseMatch, AttributeError):  # AttributeError: no ROOT_URLCONF at all
        return False
    return True


def check_urls(**kwargs: Any) -> list[CheckMessage]:
    """Return an error when ``django_seably.urls`` is not included anywhere in the project's URLconf."""
    try:
        included = webhook_urls_included()
    except Exception:
        return []  # a URLconf that cannot be imported: Django's own check (urls.E...) says why
    if included:
        return []
    return [
        Error(
            f"{MISSING_INCLUDE}: Seably has no URL to post to, and no endpoint has a URL to show.",
            hint=FIX,
            id="django_seably.E033",
        )
    ]
