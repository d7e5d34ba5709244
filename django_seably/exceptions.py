"""The app's exceptions. Everything raised on purpose derives from SeablyError."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class SeablyError(Exception):
    """Base class of the errors this app raises."""


class WebhookRejected(SeablyError):
    """A request the webhook view answers with an error status and a JSON body."""

    status_code = 400


class InvalidWebhookBody(WebhookRejected):
    """The body is not a JSON object with a string ``event``; it is stored as ``invalid``."""

    status_code = 400


class EndpointNotFound(WebhookRejected):
    """No active endpoint has the token (any more): answered 404, like an unknown one."""

    status_code = 404


class WebhookBodyTooLarge(WebhookRejected):
    """The body is over ``SEABLY["MAX_BODY_SIZE"]``; it is refused unread and not stored."""

    status_code = 413


class ProcessingError(SeablyError):
    """An event cannot be processed as its type requires (e.g. a certificate without an id)."""


class SeablyConfigurationError(ImproperlyConfigured):
    """The ``SEABLY`` setting cannot work as given."""
