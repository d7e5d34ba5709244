"""``seably_send_test_event URL``: POST a realistic body to a deployed endpoint and say what it answered.

The URL holds the endpoint's token, its only secret: every line this command
prints, errors included, shows it masked. A redirect is never followed (urllib
would resend the POST as a GET without its body, to wherever it points): it is
reported, and the command fails.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_seably.batching import Progress
from django_seably.redact import VISIBLE_CHARACTERS, mask_token, redact_text
from django_seably.testing import certificate_body


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Leave a 3xx to the caller, as an HTTPError, instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class Command(BaseCommand):
    help = (
        "POST a realistic certificate.created (or the body in --file) to a webhook URL and print the answer, "
        "to test a deployed endpoint end to end. Redirects are reported, never followed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="The full webhook URL, e.g. https://example.com/seably/<token>/")
        parser.add_argument("--file", type=Path, help="Send this file's bytes as the body instead.")
        parser.add_argument(
            "--timeout",
            type=float,
            default=10.0,
            help="Seconds to wait for the answer (10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url: str = options["url"]
        mask = _masker(url)
        try:
            parts = urlsplit(url)
            is_http = parts.scheme in ("http", "https") and bool(parts.netloc)
        except ValueError:  # e.g. an unclosed "[" in the host
            is_http = False
        if not is_http:
            raise CommandError(f"{mask(url)!r} is not an http(s) URL.")
        if options["file"]:
            try:
                body = options["file"].read_bytes()
            except OSError as error:
                raise CommandError(f"Cannot read {options['file']}: {error.strerror}.") from None
        else:
            body = json.dumps(_test_certificate(), indent=2).encode()
        report = Progress.of(self, options)
        shown_url = mask(url)
        report.summary(f"POST {shown_url} ({len(body)} bytes)")
        try:
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "django-seably"},
            )
            with _OPENER.open(request, timeout=options["timeout"]) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
            if 300 <= status < 400:
                location = error.headers.get("Location") or "nowhere (no Location header)"
                report.summary(f"{status} redirected to {mask(location)}")
                raise CommandError(
                    f"The endpoint answered {status}, a redirect to {mask(location)}: not followed (it would resend "
                    "the POST as a GET without its body). Send to the URL it points to, and register that one on "
                    "Seably."
                ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            # Errors about a malformed URL quote its path, token included: masked here, and chained to nothing.
            reason = getattr(error, "reason", None) or error
            raise CommandError(f"Could not reach {shown_url}: {mask(str(reason))}") from None
        report.summary(f"{status} {mask(answer.decode('utf-8', errors='replace'))}")
        if not 200 <= status < 300:
            raise CommandError(f"The endpoint answered {status}.")


def _masker(url: str) -> Callable[[str], str]:
    """Return a function masking, in any text, the URL's token (its last path segment) and token-like runs.

    The last segment is masked however it is spelled (with a space, say, which the
    token-like rule would split in two), so no error can quote it whole.
    """
    path = url.split("://", 1)[-1].partition("/")[2]
    segments = [segment for segment in re.split(r"[?#]", path, maxsplit=1)[0].split("/") if segment]
    secret = segments[-1] if segments else ""

    def mask(text: str) -> str:
        if len(secret) > VISIBLE_CHARACTERS:
            text = text.replace(secret, mask_token(secret))
        return redact_text(text)

    return mask


def _test_certificate() -> dict[str, Any]:
    """A realistic body (django_seably.testing's), recognisable as a test in the admin."""
    return certificate_body(
        f"SB-TEST-{secrets.token_hex(4).upper()}",
        learner_email="test.learner@example.com",
        learner_name="Test Learner",
        course_title="django-seably test course",
    )
