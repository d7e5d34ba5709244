"""Create dj-stripe's database and the rows its webhook view needs; print the URL path, secret and statement counts.

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
import time
from typing import Any

import django


def main() -> None:
    django.setup()
    from django.apps import apps
    from django.core.management import call_command

    from benchmarks import bodies, statements
    from benchmarks.djstripe_site.settings import STRIPE_TEST_SECRET_KEY

    # Django's own apps first: the tables dj-stripe's refer to (auth_user) must exist when its own are made.
    call_command("migrate", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)
    accounts, api_keys, endpoints = (
        apps.get_model("djstripe", name)._default_manager for name in ("Account", "APIKey", "WebhookEndpoint")
    )
    account = accounts.create(id="acct_benchmarks", livemode=False)
    api_keys.create(secret=STRIPE_TEST_SECRET_KEY, type="secret", livemode=False, djstripe_owner_account=account)
    endpoint: Any = endpoints.create(
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
    body = bodies.stripe_event("evt_statements")
    result: dict[str, Any] = {"path": path, "secret": endpoint.secret, "statements": {}}
    for name in ("djstripe_new", "djstripe_duplicate"):
        signature = bodies.stripe_signature(endpoint.secret, body, int(time.time()))
        counted = statements.count(statements.post(path, body, {"Stripe-Signature": signature}))
        assert counted["result"]["status"] == 200, counted["result"]
        result["statements"][name] = {"total": counted["total"], "sql": counted["sql"]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
