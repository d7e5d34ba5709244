"""Create dj-stripe's database and the rows its webhook view needs; print the endpoint's URL path and secret.

    .venvs/djstripe/bin/python -m benchmarks.djstripe_site.seed   (DJANGO_SETTINGS_MODULE=benchmarks.djstripe_site.settings)

An Account, a test-mode APIKey linked to it (so dj-stripe finds the owner of an
event without asking Stripe) and a WebhookEndpoint with its signing secret:
with these, dj-stripe stores a correctly signed event of a type it has no handler
for without calling Stripe. Models are looked up by name, so that this file
type-checks without dj-stripe installed.
"""

from __future__ import annotations

import json
import secrets

import django


def main() -> None:
    django.setup()
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    account_model = apps.get_model("djstripe", "Account")
    api_key_model = apps.get_model("djstripe", "APIKey")
    endpoint_model = apps.get_model("djstripe", "WebhookEndpoint")
    account = account_model.objects.create(id="acct_benchmarks", livemode=False)
    api_key_model.objects.create(
        secret=settings.STRIPE_TEST_SECRET_KEY, type="secret", livemode=False, djstripe_owner_account=account
    )
    endpoint = endpoint_model.objects.create(
        id="we_benchmarks",
        livemode=False,
        url="http://127.0.0.1/stripe/webhook/",
        enabled_events=["*"],
        status="enabled",
        secret="whsec_" + secrets.token_hex(16),
        api_version="2024-06-20",
        djstripe_owner_account=account,
    )
    path = f"/stripe/webhook/{endpoint.djstripe_uuid}/"
    print(json.dumps({"path": path, "secret": endpoint.secret}))


if __name__ == "__main__":
    main()
