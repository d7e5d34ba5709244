"""The app's exceptions. Everything raised on purpose derives from SeablyError."""

from __future__ import annotations


class SeablyError(Exception):
    """Base class of the errors this app raises."""


class WebhookRejected(SeablyError):
    """A request the webhook view answers with an error status and a JSON body."""

    status_code = 400


class WebhookBodyTooLarge(WebhookRejected):
    """The body is over ``SEABLY["MAX_BODY_SIZE"]``; it is refused unread and not stored."""

    status_code = 413


class ProcessingError(SeablyError):
    """An event cannot be processed as its type requires (e.g. a certificate without an id)."""
