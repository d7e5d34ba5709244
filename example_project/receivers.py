"""Receivers of django_seably's signals: where a project puts its reaction to Seably events.

They run inside the event's database transaction. A receiver that raises rolls the
processing back and leaves the event ``failed`` (retry: ``manage.py seably_reprocess
--failed``), so it must not have done anything that cannot be rolled back by then.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

from django_seably.models import Certificate, WebhookEvent

logger = logging.getLogger(__name__)


def on_certificate_created(
    sender: type[WebhookEvent], event: WebhookEvent, certificate: Certificate, **kwargs: Any
) -> None:
    """Sent once per new certificate, not for a re-delivery: the place for one-off actions."""
    logger.info(
        "Certificate %s for %s (%s)",
        certificate.seably_id,
        certificate.learner_email or "no email",
        certificate.course_name or "no course",
    )
    # Email, API calls, ...: only once the certificate is committed, as a later receiver may
    # still roll it back. robust=True: a failing email must not turn the stored event into a 500.
    transaction.on_commit(partial(email_learner, certificate.seably_id, certificate.learner_email), robust=True)


def email_learner(seably_id: str, email: str) -> None:
    """Run after the commit, so a rolled-back certificate never sends an email."""
    # e.g. django.core.mail.send_mail("Your certificate", f"...{seably_id}", None, [email])
    logger.info("Committed: would email %s about certificate %s", email or "nobody", seably_id)


def on_user_invited(sender: type[WebhookEvent], event: WebhookEvent, **kwargs: Any) -> None:
    """An event type django_seably does not model: the receiver reads ``event.payload`` itself."""
    logger.info("Seably event %s: %s %s", event.event_type, event.object_type, event.object_id)
