"""The linking rule (``django_seably.linking``): the same address ignoring ASCII case, nothing else.

Every path that links is tried with each look-alike address: processing,
``seably_link_users``, and the check made when a user is saved. On PostgreSQL,
run these under a cluster whose collation folds more than ASCII too
(``SEABLY_PG_LOCALE=icu:en-US scripts/with-postgres ...``):
``test_the_cluster_folds_case_as_its_locale_says`` proves the cluster is one.
"""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_delete, post_init, post_save
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_seably import linking
from django_seably.expressions import AsciiLower
from django_seably.linking import email_key, matching_user_pk
from django_seably.models import Certificate
from tests.factories import CertificateFactory, certificate_body

pytestmark = pytest.mark.django_db

#: (user's email, learner's email): each pair differs by more than the case of ASCII letters.
LOOK_ALIKES = [
    pytest.param("alıce@example.com", "alice@example.com", id="dotless-i"),
    pytest.param("ALİCE@example.com", "alice@example.com", id="dotted-capital-I"),
    pytest.param("ſam@example.com", "sam@example.com", id="long-s"),
    pytest.param("\u212aate@example.com", "kate@example.com", id="kelvin-sign"),
    pytest.param("straße@example.com", "strasse@example.com", id="sharp-s"),
    pytest.param("STRASSE@example.com", "straße@example.com", id="sharp-s-upper"),
    pytest.param("ａda@example.com", "ada@example.com", id="full-width"),
    pytest.param(" ada@example.com", "ada@example.com", id="leading-space"),
    pytest.param("ada@example.com ", "ada@example.com", id="trailing-space"),
    pytest.param("JOSÉ@example.com", "josé@example.com", id="non-ascii-case"),
    pytest.param("alice@example.com", "alıce@example.com", id="dotless-i-learner"),
    pytest.param("sam@example.com", "ſam@example.com", id="long-s-learner"),
]

#: (user's email, learner's email): the same address, ASCII case aside.
MATCHES = [
    pytest.param("Ada@Example.COM", "ada@example.com", id="ascii-case"),
    pytest.param("ada@example.com", "ADA@EXAMPLE.COM", id="ascii-case-learner"),
    pytest.param("josé@example.com", "josé@example.com", id="non-ascii-identical"),
    pytest.param("JOSé@example.com", "josé@example.com", id="ascii-case-beside-non-ascii"),
]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def on(settings):
    settings.SEABLY = {"LINK_USERS": True}


def user(django_user_model, email, username=None, **extra):
    """Create a user with exactly ``email``: create_user() would strip its spaces and lower-case its domain."""
    created = django_user_model.objects.create_user(username or f"u{django_user_model.objects.count()}", email, **extra)
    if created.email != email:
        created.email = email
        created.save(update_fields=["email"])
    return created


def owner_of(certificate):
    return Certificate.objects.values_list("user", flat=True).get(pk=certificate.pk)


def staff_only():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True, is_staff=True)


class TestEmailKey:
    def test_folds_ascii_letters_only(self):
        assert email_key("Ada.LOVELACE@Example.COM") == "ada.lovelace@example.com"

    @pytest.mark.parametrize("email", ["ALİCE", "\u212a", "ſ", "ẞ", "ＡＤＡ", "É", " A "])
    def test_leaves_everything_else_as_it_is(self, email):
        assert email_key(email) == "".join(c.lower() if c.isascii() else c for c in email)

    def test_empty_or_none(self):
        assert email_key("") == email_key(None) == ""


#: (user's email, learner's email as sent): an address with whitespace of any kind links nothing.
WHITESPACE = [
    pytest.param("alice@example.com", " alice@example.com", id="leading-space"),
    pytest.param("alice@example.com", "alice@example.com ", id="trailing-space"),
    pytest.param("alice@example.com", "alice@example.com\u00a0", id="trailing-no-break-space"),
    pytest.param("alice@example.com", "\u3000alice@example.com", id="leading-ideographic-space"),
    pytest.param("alice@example.com", "alice@example.com\n", id="trailing-newline"),
    pytest.param("alice@example.com", "\talice@example.com", id="leading-tab"),
    pytest.param("alice@example.com", "al ice@example.com", id="inner-space"),
    pytest.param("alice@example.com", "alice@example.com\u200b", id="trailing-zero-width-space"),
    pytest.param("alice@example.com", "\ufeffalice@example.com", id="leading-bom"),
    # The very same string on both sides links nothing either.
    pytest.param(" alice@example.com", " alice@example.com", id="identical-leading-space"),
    pytest.param("alice@example.com\u00a0", "alice@example.com\u00a0", id="identical-no-break-space"),
    pytest.param("al ice@example.com", "AL ICE@example.com", id="identical-inner-space-ascii-case"),
]


#: Every pair that must link nothing: look-alikes and whitespace.
LINKS_NOTHING = LOOK_ALIKES + WHITESPACE


class TestLookAlikesLinkNothing:
    @pytest.mark.parametrize(("user_email", "learner_email"), LINKS_NOTHING)
    def test_at_processing(self, seably_deliver, on, django_user_model, user_email, learner_email):
        user(django_user_model, user_email)

        seably_deliver(certificate_body("SB-1", learner_email=learner_email))

        certificate = Certificate.objects.get()
        assert certificate.user is None
        assert certificate.learner_email == learner_email  # shown as it was received

    @pytest.mark.parametrize(("user_email", "learner_email"), LINKS_NOTHING)
    def test_with_the_command(self, on, django_user_model, user_email, learner_email):
        user(django_user_model, user_email)
        certificate = CertificateFactory.create(learner_email=learner_email)

        call_command("seably_link_users", stdout=io.StringIO())
        call_command("seably_link_users", "--recheck", stdout=io.StringIO())

        assert owner_of(certificate) is None

    @pytest.mark.parametrize(("user_email", "learner_email"), LINKS_NOTHING)
    def test_when_a_user_takes_the_address(self, on, django_user_model, user_email, learner_email):
        certificate = CertificateFactory.create(learner_email=learner_email)
        someone = user(django_user_model, "someone@example.com")

        someone.email = user_email
        someone.save()

        assert owner_of(certificate) is None

    @pytest.mark.parametrize(("user_email", "learner_email"), LINKS_NOTHING)
    def test_matching_user_pk(self, django_user_model, user_email, learner_email):
        user(django_user_model, user_email)

        assert matching_user_pk(learner_email) is None

    @pytest.mark.parametrize(("user_email", "learner_email"), LOOK_ALIKES)
    def test_a_look_alike_does_not_make_an_address_shared(self, on, django_user_model, user_email, learner_email):
        owner = user(django_user_model, learner_email)
        user(django_user_model, user_email)

        assert matching_user_pk(learner_email) == owner.pk


@pytest.mark.parametrize("email", ["", "ada\x00@example.com"])
def test_an_empty_address_or_one_with_nul_matches_no_one_without_a_query(django_user_model, email):
    user(django_user_model, "")

    with CaptureQueriesContext(connection) as queries:
        assert matching_user_pk(email) is None
        assert linking.relink_emails([email]) == 0

    assert len(queries) == 0


class TestWhitespaceLinksNothing:
    """The address is compared as sent: never trimmed, and whitespace anywhere links nobody.

    The processing, command, email-change and lookup cases run in TestLookAlikesLinkNothing.
    """

    def test_a_stale_link_is_undone_by_recheck(self, on, django_user_model):
        # Linked by a version that trimmed the address before comparing it.
        alice = user(django_user_model, "alice@example.com")
        certificate = CertificateFactory.create(learner_email="alice@example.com\u00a0", user=alice)

        call_command("seably_link_users", "--recheck", stdout=io.StringIO())

        assert owner_of(certificate) is None

    @pytest.mark.parametrize(
        ("email", "linkable"),
        [("ada@example.com", True), ("", False), (" ada@example.com", False), ("ada@example.com\u2028", False)],
    )
    def test_is_linkable_address(self, email, linkable):
        assert linking.is_linkable_address(email) is linkable


class TestUserModelSignals:
    """Nothing of the app runs when the project loads or saves a user while linking is off."""

    SIGNALS = (post_init, post_save, post_delete)

    def test_nothing_is_connected_while_linking_is_off(self, django_user_model):
        assert not any(signal.has_listeners(django_user_model) for signal in self.SIGNALS)

        user(django_user_model, "ada@example.com")
        loaded = django_user_model.objects.get()

        assert "_seably_loaded_email" not in loaded.__dict__

    def test_connected_while_on_and_disconnected_after(self, django_user_model):
        with override_settings(SEABLY={"LINK_USERS": True}):
            assert all(signal.has_listeners(django_user_model) for signal in self.SIGNALS)
            user(django_user_model, "ada@example.com")
            assert "_seably_loaded_email" in django_user_model.objects.get().__dict__

        assert not any(signal.has_listeners(django_user_model) for signal in self.SIGNALS)

    def test_switching_twice_connects_once(self, django_user_model, settings):
        settings.SEABLY = {"LINK_USERS": True}
        settings.SEABLY = {"LINK_USERS": True, "HEALTH_MAX_FAILED": 3}
        linking.connect_signals()

        assert len(post_save._live_receivers(django_user_model)[0]) == 1


class TestMatchesLink:
    @pytest.mark.parametrize(("user_email", "learner_email"), MATCHES)
    def test_at_processing(self, seably_deliver, on, django_user_model, user_email, learner_email):
        owner = user(django_user_model, user_email)

        seably_deliver(certificate_body("SB-1", learner_email=learner_email))

        assert Certificate.objects.get().user == owner

    @pytest.mark.parametrize(("user_email", "learner_email"), MATCHES)
    def test_with_the_command(self, django_user_model, user_email, learner_email):
        owner = user(django_user_model, user_email)
        certificate = CertificateFactory.create(learner_email=learner_email)

        call_command("seably_link_users", stdout=io.StringIO())

        assert owner_of(certificate) == owner.pk


@pytest.mark.postgres
def test_the_cluster_folds_case_as_its_locale_says():
    """Under a non-C cluster the database itself confuses the look-alikes, so the tests above prove something.

    scripts/with-postgres passes SEABLY_PG_LOCALE to initdb: C (the default) folds
    ASCII only; an ICU or libc locale such as icu:en-US folds ı to I and ſ to S.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT UPPER(%s) = UPPER(%s), UPPER(%s) = UPPER(%s)",
            ["alıce@example.com", "alice@example.com", "ſam@example.com", "sam@example.com"],
        )
        folds = cursor.fetchone()
    beyond_ascii = os.environ.get("SEABLY_PG_LOCALE", "C") not in ("C", "POSIX")

    assert folds == (beyond_ascii, beyond_ascii)


class TestLinkableUsers:
    def test_inactive_users_are_not_linked(self, seably_deliver, on, django_user_model):
        user(django_user_model, "ada@example.com", is_active=False)

        seably_deliver(certificate_body("SB-1", learner_email="ada@example.com"))

        assert Certificate.objects.get().user is None

    def test_an_inactive_user_does_not_make_an_address_shared(self, seably_deliver, on, django_user_model):
        user(django_user_model, "ada@example.com", is_active=False)
        active = user(django_user_model, "ADA@example.com")

        seably_deliver(certificate_body("SB-1", learner_email="ada@example.com"))

        assert Certificate.objects.get().user == active

    def test_a_project_callable_limits_linking(self, seably_deliver, settings, django_user_model):
        settings.SEABLY = {"LINK_USERS": True, "LINKABLE_USERS": "tests.test_linking.staff_only"}
        user(django_user_model, "ada@example.com")
        verified = user(django_user_model, "grace@example.com", is_staff=True)

        seably_deliver(certificate_body("SB-1", learner_email="ada@example.com"))
        seably_deliver(certificate_body("SB-2", learner_email="grace@example.com"))

        assert dict(Certificate.objects.values_list("seably_id", "user")) == {"SB-1": None, "SB-2": verified.pk}

    def test_the_command_keeps_to_them(self, settings, django_user_model):
        settings.SEABLY = {"LINKABLE_USERS": "tests.test_linking.staff_only"}
        user(django_user_model, "ada@example.com")
        certificate = CertificateFactory.create(learner_email="ada@example.com")

        call_command("seably_link_users", stdout=io.StringIO())

        assert owner_of(certificate) is None

    def test_an_address_several_linkable_users_share_links_none(self, on, django_user_model):
        user(django_user_model, "ada@example.com")
        user(django_user_model, "Ada@Example.com")

        assert matching_user_pk("ada@example.com") is None


class TestLinksCheckedWhenAUserChanges:
    def test_changing_the_email_away_unlinks_at_once(self, on, django_user_model):
        ada = user(django_user_model, "ada@example.com")
        certificate = CertificateFactory.create(learner_email="ada@example.com", user=ada)

        ada.email = "alıce@example.com"
        ada.save()

        assert owner_of(certificate) is None

    def test_changing_the_email_to_the_learners_links_at_once(self, on, django_user_model):
        certificate = CertificateFactory.create(learner_email="ada@example.com")
        ada = user(django_user_model, "ada@old.example")

        ada.email = "ADA@example.com"
        ada.save(update_fields=["email"])

        assert owner_of(certificate) == ada.pk

    def test_the_certificates_go_to_the_user_who_now_matches(self, on, django_user_model):
        ada = user(django_user_model, "ada@example.com")
        twin = user(django_user_model, "Ada@example.com")  # shared: nobody is linked
        certificate = CertificateFactory.create(learner_email="ada@example.com")
        assert matching_user_pk("ada@example.com") is None

        ada.email = "ada@elsewhere.example"
        ada.save()

        assert owner_of(certificate) == twin.pk

    def test_taking_an_address_someone_has_unlinks_both(self, on, django_user_model):
        owner = user(django_user_model, "ada@example.com")
        certificate = CertificateFactory.create(learner_email="ada@example.com", user=owner)
        other = user(django_user_model, "other@example.com")

        other.email = "ada@example.com"
        other.save()

        assert owner_of(certificate) is None

    def test_a_new_user_with_the_address_is_linked(self, on, django_user_model):
        certificate = CertificateFactory.create(learner_email="ada@example.com")

        ada = user(django_user_model, "ada@example.com")

        assert owner_of(certificate) == ada.pk

    def test_deactivating_unlinks(self, on, django_user_model):
        ada = user(django_user_model, "ada@example.com")
        certificate = CertificateFactory.create(learner_email="ada@example.com", user=ada)

        ada.is_active = False
        ada.save(update_fields=["is_active"])

        assert owner_of(certificate) is None

    def test_deleting_one_of_two_users_links_the_other(self, on, django_user_model):
        ada = user(django_user_model, "ada@example.com")
        twin = user(django_user_model, "ada@example.com")
        certificate = CertificateFactory.create(learner_email="ada@example.com")

        ada.delete()

        assert owner_of(certificate) == twin.pk

    def test_a_login_costs_no_query(self, on, django_user_model):
        ada = user(django_user_model, "ada@example.com")

        with CaptureQueriesContext(connection) as queries:
            ada.save(update_fields=["last_login"])

        assert len(queries) == 1  # the UPDATE itself

    def test_a_save_costs_three_queries(self, on, django_user_model):
        ada = user(django_user_model, "ada@example.com")
        CertificateFactory.create(learner_email="ada@example.com", user=ada)

        with CaptureQueriesContext(connection) as queries:
            ada.save()

        # The UPDATE; the user's certificates; the users with those addresses; the certificates with them.
        assert len(queries) == 4

    def test_nothing_happens_while_linking_is_off(self, django_user_model):
        ada = user(django_user_model, "ada@example.com")
        certificate = CertificateFactory.create(learner_email="ada@example.com", user=ada)

        with CaptureQueriesContext(connection) as queries:
            ada.email = "alıce@example.com"
            ada.save()

        assert len(queries) == 1
        assert owner_of(certificate) == ada.pk

    def test_fixtures_are_loaded_without_linking(self, on, django_user_model, tmp_path):
        certificate = CertificateFactory.create(learner_email="ada@example.com")
        fixture = tmp_path / "users.json"
        fixture.write_text(
            '[{"model": "auth.user", "pk": 99, "fields": {"username": "ada", "email": "ada@example.com",'
            ' "password": "", "is_active": true}}]'
        )

        call_command("loaddata", str(fixture), verbosity=0)

        assert owner_of(certificate) is None
        assert linking.relink_user(django_user_model.objects.get(pk=99)) == 1
        assert owner_of(certificate) == 99


class TestRecheckCommand:
    def run(self, *args):
        out = io.StringIO()
        call_command("seably_link_users", *args, stdout=out)
        return out.getvalue()

    def test_recheck_repairs_links_made_by_the_databases_case_folding(self, on, django_user_model):
        impostor = user(django_user_model, "alıce@example.com")
        alice = user(django_user_model, "alice@example.com", username="alice")
        sam = user(django_user_model, "SAM@example.com")
        # As linked by a version that compared UPPER(email) under an ICU collation.
        wrong = CertificateFactory.create(learner_email="alice@example.com", user=impostor)
        right = CertificateFactory.create(learner_email="sam@example.com", user=sam)
        orphan = CertificateFactory.create(learner_email="ſam@example.com", user=sam)

        assert self.run("--recheck", "--batch-size", "2") == "Checked 3 certificates; changed the user of 2.\n"

        assert (owner_of(wrong), owner_of(right), owner_of(orphan)) == (alice.pk, sam.pk, None)

    def test_without_recheck_linked_certificates_are_left_alone(self, on, django_user_model):
        impostor = user(django_user_model, "alıce@example.com")
        wrong = CertificateFactory.create(learner_email="alice@example.com", user=impostor)

        assert self.run().startswith("Linked 0 of 0 certificates")
        assert owner_of(wrong) == impostor.pk


class TestIndexes:
    """The queries linking makes can use an index on ``AsciiLower`` (the expression, not just the function)."""

    def create_index(self, model, name, field):
        from django.db.models import Index

        statement = Index(AsciiLower(field), name=name).create_sql(model, connection.schema_editor())
        with connection.cursor() as cursor:
            cursor.execute(str(statement))
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL enable_seqscan = off")

    def test_certificates_by_address(self):
        """The model's own index (in the migration) serves them."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
        candidates = (
            Certificate.objects.alias(key=AsciiLower("learner_email")).filter(key__in=["a@example.com"]).order_by()
        )

        assert "seably_cert_email_key" in candidates.explain()

    def test_users_by_address(self, django_user_model):
        self.create_index(django_user_model, "test_user_email_key", "email")
        candidates = django_user_model.objects.alias(key=AsciiLower("email")).filter(key__in=["a@example.com"])

        assert "test_user_email_key" in candidates.explain()

    def test_the_model_declares_the_certificate_index(self):
        names = {index.name for index in Certificate._meta.indexes}

        assert "seably_cert_email_key" in names
