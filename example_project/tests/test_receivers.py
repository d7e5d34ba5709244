"""The example project's receivers, tested the way a project tests its own: with django_seably.testing.

Run: python -m pytest example_project/tests --ds=example_project.settings
(the fixtures seably_endpoint and seably_deliver come with django-seably).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.test import TestCase

from django_seably.models import Certificate, WebhookEvent
from django_seably.testing import certificate_body, deliver

#: The seably_deliver fixture: django_seably.testing.deliver bound to the seably_endpoint fixture.
Deliver = Callable[..., Any]


def test_a_new_certificate_is_logged_and_the_learner_emailed_after_the_commit(
    seably_deliver: Deliver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="example_project")

    response = seably_deliver(certificate_body("SB-00000001", learner_email="ann@example.com", course_title="Fire"))

    assert response.status_code == 200
    assert Certificate.objects.get().seably_id == "SB-00000001"
    assert [record.getMessage() for record in caplog.records if record.name == "example_project.receivers"] == [
        "Certificate SB-00000001 for ann@example.com (Fire)",
        "Committed: would email ann@example.com about certificate SB-00000001",
    ]


def test_a_redelivery_emails_nobody_again(seably_deliver: Deliver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="example_project")
    body = certificate_body()
    seably_deliver(body)
    caplog.clear()

    assert seably_deliver(body).json()["status"] == "duplicate"
    assert not [record for record in caplog.records if record.name == "example_project.receivers"]


def test_an_event_type_without_a_handler_reaches_its_receiver(
    seably_deliver: Deliver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="example_project")

    seably_deliver({"event": "user.invited", "payload": {"data": {"type": "user", "id": "U-1"}}})

    assert "Seably event user.invited: user U-1" in caplog.text
    assert WebhookEvent.objects.get().status == "processed"


@pytest.mark.django_db(transaction=True)
def test_in_a_transactional_test(seably_deliver: Deliver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="example_project")

    seably_deliver(certificate_body("SB-2", learner_email="bo@example.com"))

    assert "Committed: would email bo@example.com about certificate SB-2" in caplog.text


class ReceiverTests(TestCase):
    def test_with_django_testcase(self) -> None:
        with self.assertLogs("example_project.receivers", level="INFO") as logs:
            deliver(certificate_body("SB-3", learner_email="cy@example.com"))

        self.assertEqual(
            [record.getMessage() for record in logs.records][-1],
            "Committed: would email cy@example.com about certificate SB-3",
        )
