"""Signals sent while an event is processed, inside its database transaction.

Every signal is sent with ``sender=WebhookEvent``. A receiver that raises rolls
the whole processing back and leaves the event ``failed``; put side effects that
must only happen once the data is committed in ``transaction.on_commit``.
"""

from __future__ import annotations

from django.dispatch import Signal

#: Sent for every new WebhookEvent, whatever its type. kwargs: ``event``.
webhook_received = Signal()

#: Sent when a ``certificate.created`` event creates a new Certificate (not when it
#: updates an existing one). kwargs: ``event``, ``certificate``.
certificate_created = Signal()

_signals_by_event_type: dict[str, Signal] = {"certificate.created": certificate_created}


def signal_for(event_type: str) -> Signal:
    """Return the signal sent for ``event_type``, the same object on every call.

    Types Seably adds later get a signal too, so a project can connect to
    ``signal_for("user.invited")`` before this app knows the type. kwargs: ``event``.
    """
    signal = _signals_by_event_type.get(event_type)
    if signal is None:
        # setdefault: of two threads asking at once, both get the one stored.
        signal = _signals_by_event_type.setdefault(event_type, Signal())
    return signal


def connected_signal_for(event_type: str) -> Signal | None:
    """Return the signal for ``event_type`` if anything ever asked for it, else None (nobody listens).

    Processing sends through this: an event type no project code asked
    ``signal_for`` about has no receivers, and a sender cannot grow the table
    of signals by inventing types.
    """
    return _signals_by_event_type.get(event_type)


def has_receivers(event_type: str) -> bool:
    """Return True if the project connected a receiver to ``event_type``'s signal (asking creates no signal)."""
    # Not imported at the top: a project may import this module before the app registry is ready.
    from django_seably.models import WebhookEvent

    signal = _signals_by_event_type.get(event_type)
    return signal is not None and signal.has_listeners(WebhookEvent)


#: Sent after a failed processing attempt has been recorded (the event is ``failed``,
#: its ``attempts`` counted, its traceback in ``last_error``), outside the rolled-back
#: transaction: the place to hook an alert. kwargs: ``event``, ``exception``.
#: A receiver that raises is logged and ignored.
processing_failed = Signal()
