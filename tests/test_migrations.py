from __future__ import annotations

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_and_migrations_are_in_sync():
    out = io.StringIO()

    # --check exits with SystemExit(1) when a migration is missing. The test settings set
    # DEFAULT_AUTO_FIELD to AutoField, so this also proves the app pins its own auto field.
    call_command("makemigrations", "django_seably", "--check", "--dry-run", stdout=out, stderr=io.StringIO())

    assert out.getvalue() == "No changes detected in app 'django_seably'\n"
