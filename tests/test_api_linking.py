"""Linking certificates to local users by email: at processing time and with ``seably_link_users``.

The matching rule itself, and links checked again when a user changes, are in tests/test_linking.py.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_seably.certificates import extract_fields
from django_seably.linking import matching_user_pk
from django_seably.models import Certificate
from tests.factories import CertificateFactory, WebhookEventFactory, certificate_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def linking(settings):
    settings.SEABLY = {"LINK_USERS": True}


@pytest.fixture
def ada(django_user_model):
    return django_user_model.objects.create_user("ada", "ada@example.com")


def body(seably_id="SB-1", email="Ada@Example.COM", **data):
    return certificate_body(seably_id, learner_email=email, **data)


def user_queries(queries):
    return [q["sql"] for q in queries.captured_queries if "auth_user" in q["sql"]]


class TestAtProcessing:
    def test_links_the_user_with_the_email_case_insensitively(self, seably_deliver, linking, ada, created):
        seably_deliver(body(email="ADA@example.com"))

        certificate = Certificate.objects.get()
        assert certificate.user == ada
        # Receivers see the link too.
        assert created.call_args.kwargs["certificate"].user_id == ada.pk

    def test_costs_one_query_when_on(self, seably_deliver, linking, ada):
        with CaptureQueriesContext(connection) as queries:
            seably_deliver(body())

        assert len(user_queries(queries)) == 1

    def test_the_query_is_the_only_extra_statement(self, seably_deliver, settings, ada):
        def statements(seably_id):
            with CaptureQueriesContext(connection) as queries:
                seably_deliver(body(seably_id))
            return len(queries)

        statements("SB-0")  # the endpoint's first delivery looks it up; the next ones do not
        off = statements("SB-1")
        settings.SEABLY = {"LINK_USERS": True}

        assert statements("SB-2") == off + 1

    def test_costs_nothing_when_off(self, seably_deliver, ada):
        with CaptureQueriesContext(connection) as queries:
            seably_deliver(body())

        assert user_queries(queries) == []
        assert Certificate.objects.get().user is None

    def test_no_email_costs_nothing(self, seably_deliver, linking, ada):
        with CaptureQueriesContext(connection) as queries:
            seably_deliver(certificate_body("SB-1", learner_email=None))

        assert user_queries(queries) == []
        assert Certificate.objects.get().user is None

    def test_no_user_with_the_email(self, seably_deliver, linking, ada):
        seably_deliver(body(email="grace@example.com"))

        assert Certificate.objects.get().user is None

    def test_an_address_several_users_share_links_none(self, seably_deliver, linking, ada, django_user_model):
        django_user_model.objects.create_user("ada2", "ADA@EXAMPLE.COM")

        seably_deliver(body())

        assert Certificate.objects.get().user is None

    def test_only_the_whole_address_matches(self, seably_deliver, linking, django_user_model):
        django_user_model.objects.create_user("someone", "xada@example.com")
        django_user_model.objects.create_user("percent", "%@example.com")

        seably_deliver(body(email="ada@example.com"))
        seably_deliver(body("SB-2", email="_@example.com"))

        assert list(Certificate.objects.values_list("user", flat=True)) == [None, None]

    def test_non_ascii_address(self, seably_deliver, linking, django_user_model):
        josé = django_user_model.objects.create_user("jose", "josé@example.com")

        seably_deliver(body(email="josé@example.com"))

        assert Certificate.objects.get().user == josé

    def test_a_user_whose_email_changed_is_unlinked_and_a_later_delivery_does_not_relink(
        self, seably_deliver, linking, ada
    ):
        seably_deliver(body(learner_name="Ada"))
        ada.email = "ada@elsewhere.example"
        ada.save()
        assert Certificate.objects.get().user is None

        seably_deliver(body(learner_name="Ada Lovelace"))

        certificate = Certificate.objects.get()
        assert (certificate.learner_name, certificate.user) == ("Ada Lovelace", None)

    def test_a_later_delivery_keeps_a_user_linked_while_linking_was_off(self, seably_deliver, settings, ada):
        seably_deliver(body(learner_name="Ada"))
        call_command("seably_link_users", stdout=io.StringIO())

        seably_deliver(body(learner_name="Ada L."))

        assert Certificate.objects.get().user == ada

    def test_a_later_delivery_links_the_user_now_matching(self, seably_deliver, linking, ada, django_user_model):
        seably_deliver(body(email="grace@example.com", learner_name="Grace"))
        grace = django_user_model.objects.create_user("grace", "Grace@Example.com")

        seably_deliver(body(email="grace@example.com", learner_name="Grace Hopper"))

        assert Certificate.objects.get().user == grace

    def test_deleting_the_user_unlinks(self, seably_deliver, linking, ada):
        seably_deliver(body())

        ada.delete()

        assert Certificate.objects.get().user is None


class TestUpsertKeepsTheUser:
    def new_certificate(self, event, user=None, **data):
        data = {"type": "certificate", "id": "SB-1", **data}
        return Certificate(seably_id="SB-1", data=data, event=event, user=user, **extract_fields(data))

    def test_update_without_a_user_keeps_the_linked_one(self, ada):
        event = WebhookEventFactory.create()
        assert Certificate.objects.upsert(self.new_certificate(event, user=ada)) is True

        update = self.new_certificate(WebhookEventFactory.create(), learner_name="Ada")
        assert Certificate.objects.upsert(update) is False

        stored = Certificate.objects.get()
        assert (stored.user_id, stored.learner_name) == (ada.pk, "Ada")

    def test_update_with_a_user_replaces_the_linked_one(self, ada, django_user_model):
        grace = django_user_model.objects.create_user("grace", "grace@example.com")
        Certificate.objects.upsert(self.new_certificate(WebhookEventFactory.create(), user=ada))

        update = self.new_certificate(WebhookEventFactory.create(), user=grace)
        Certificate.objects.upsert(update)

        assert update.user_id == grace.pk
        assert Certificate.objects.get().user == grace

    def test_insert_without_a_user(self):
        certificate = self.new_certificate(WebhookEventFactory.create())

        assert Certificate.objects.upsert(certificate) is True
        assert certificate.user_id is None


class TestMatchingUserPk:
    def test_one_query(self, ada):
        with CaptureQueriesContext(connection) as queries:
            assert matching_user_pk("ADA@example.com") == ada.pk

        assert len(queries) == 1

    def test_empty_email_matches_no_one_without_a_query(self, django_user_model):
        django_user_model.objects.create_user("nobody", "")

        with CaptureQueriesContext(connection) as queries:
            assert matching_user_pk("") is None

        assert len(queries) == 0


class TestLinkUsersCommand:
    def run(self, *args):
        out = io.StringIO()
        call_command("seably_link_users", *args, stdout=out)
        return out.getvalue()

    def test_links_unlinked_certificates_in_batches(self, linking, ada, django_user_model):
        grace = django_user_model.objects.create_user("grace", "GRACE@example.com")
        django_user_model.objects.create_user("twin1", "twin@example.com")
        django_user_model.objects.create_user("twin2", "Twin@example.com")
        mine = [CertificateFactory.create(learner_email=email) for email in ["ada@EXAMPLE.com", "ada@example.com"]]
        hers = CertificateFactory.create(learner_email="grace@example.com")
        twin = CertificateFactory.create(learner_email="twin@example.com")
        stranger = CertificateFactory.create(learner_email="stranger@example.com")
        CertificateFactory.create(learner_email="")
        linked_before = CertificateFactory.create(learner_email="grace@example.com", user=ada)

        output = self.run("--batch-size", "2")

        assert output == (
            "Linked 3 of 5 certificates without a user; "
            "2 left unlinked (no user, or several users, with the learner's email).\n"
        )
        users = dict(Certificate.objects.values_list("pk", "user"))
        assert [users[c.pk] for c in mine] == [ada.pk, ada.pk]
        assert users[hers.pk] == grace.pk
        assert users[twin.pk] is None
        assert users[stranger.pk] is None
        assert users[linked_before.pk] == ada.pk  # never changed, though the email is grace's

    def test_running_again_links_nothing_new(self, linking, ada):
        CertificateFactory.create(learner_email="ada@example.com")
        self.run()

        assert self.run().startswith("Linked 0 of 0 certificates without a user")

    def test_a_constant_number_of_queries_per_batch(self, linking, django_user_model):
        for n in range(6):
            user = django_user_model.objects.create_user(f"user{n}", f"user{n}@example.com")
            CertificateFactory.create(learner_email=user.email.upper())

        with CaptureQueriesContext(connection) as queries:
            self.run("--batch-size", "3")

        # The last id (one MAX); per batch: the ids, the certificates' emails, the matching users, one UPDATE;
        # then the empty read.
        assert len(queries) == 1 + 2 * 4 + 1
        assert Certificate.objects.filter(user__isnull=True).count() == 0

    def test_says_when_linking_is_off(self, ada):
        CertificateFactory.create(learner_email="ada@example.com")

        output = self.run()

        assert output.splitlines() == [
            "Linked 1 of 1 certificate without a user; 0 left unlinked (no user, or several users, "
            "with the learner's email).",
            'SEABLY["LINK_USERS"] is off: new certificates are not linked, and the API\'s "my certificates" list '
            "answers 404.",
        ]

    def test_batch_size_must_be_positive(self):
        with pytest.raises(CommandError, match="--batch-size must be 1 or more."):
            self.run("--batch-size", "0")
