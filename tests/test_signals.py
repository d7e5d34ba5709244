"""django_seably.signals: one signal per event type, the same object on every call, built once."""

from __future__ import annotations

import uuid
from unittest import mock

from django_seably import signals
from django_seably.signals import certificate_created, connected_signal_for, has_receivers, signal_for


def test_certificate_created_is_the_signal_of_its_type():
    assert signal_for("certificate.created") is certificate_created
    assert connected_signal_for("certificate.created") is certificate_created


def test_a_new_type_gets_one_signal_for_good():
    event_type = f"user.invited.{uuid.uuid4().hex}"
    assert connected_signal_for(event_type) is None

    first = signal_for(event_type)

    assert signal_for(event_type) is first
    assert connected_signal_for(event_type) is first


def test_asking_again_builds_no_signal():
    event_type = f"course.updated.{uuid.uuid4().hex}"
    signal_for(event_type)

    with mock.patch.object(signals, "Signal", side_effect=AssertionError("a Signal was built")):
        signal_for(event_type)
        signal_for("certificate.created")


def test_has_receivers_only_once_the_project_connects_one():
    from django_seably.models import WebhookEvent

    event_type = f"user.removed.{uuid.uuid4().hex}"
    assert not has_receivers(event_type)
    assert connected_signal_for(event_type) is None  # asking built no signal

    def receiver(sender: object, **kwargs: object) -> None:
        pass

    signal_for(event_type).connect(receiver, sender=WebhookEvent)
    assert has_receivers(event_type)
    signal_for(event_type).disconnect(receiver, sender=WebhookEvent)
    assert not has_receivers(event_type)
