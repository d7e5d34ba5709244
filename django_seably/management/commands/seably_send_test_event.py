from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_seably.redact import redact_text
from django_seably.testing import certificate_body


class Command(BaseCommand):
    help = (
        "POST a realistic certificate.created (or the body in --file) to a webhook URL and print the answer, "
        "to test a deployed endpoint end to end."
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
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise CommandError(f"{redact_text(url)!r} is not an http(s) URL.")
        if options["file"]:
            try:
                body = options["file"].read_bytes()
            except OSError as error:
                raise CommandError(f"Cannot read {options['file']}: {error.strerror}.") from error
        else:
            body = json.dumps(_test_certificate(), indent=2).encode()
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "django-seably"},
        )
        shown_url = redact_text(url)
        self.stdout.write(f"POST {shown_url} ({len(body)} bytes)")
        try:
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CommandError(f"Could not reach {shown_url}: {reason}") from error
        self.stdout.write(f"{status} {answer.decode('utf-8', errors='replace')}")
        if not 200 <= status < 300:
            raise CommandError(f"The endpoint answered {status}.")


def _test_certificate() -> dict[str, Any]:
    """A realistic body (django_seably.testing's), recognisable as a test in the admin."""
    return certificate_body(
        f"SB-TEST-{secrets.token_hex(4).upper()}",
        learner_email="test.learner@example.com",
        learner_name="Test Learner",
        course_title="django-seably test course",
    )
