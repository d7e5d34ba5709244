"""Linking certificates to the project's users by email (``SEABLY["LINK_USERS"]``): the whole rule, here.

A certificate is linked to a user only when the user's email equals the
learner's email ignoring the case of ASCII letters, and nothing else: no
Unicode case folding (dotless ı, long ſ, the Kelvin sign), no ß and ss, no
full-width letters, no trimming: an address with whitespace of any kind links
nothing (``is_linkable_address``). An address that several linkable users share
links none of them: a certificate shown to the wrong person is worse than one
shown to nobody. Only the users ``SEABLY["LINKABLE_USERS"]`` returns are linked
(by default the active ones); linking trusts that their emails were verified.

The database's own UPPER/LOWER follow its collation (ICU or libc locales fold
``ı`` to ``I``; a Turkish one folds ``I`` to ``ı``), so they never decide. Each
query narrows with ``AsciiLower``, which on SQLite and PostgreSQL folds ASCII
letters only, and Python confirms every row with ``email_key`` (so a column
with a non-deterministic collation, or another database, can only make the
query return more rows, never link more).

Processing links each new certificate (``matching_user_pk``);
``seably_link_users`` links those stored before (``link_unlinked``, or
``relink_certificates`` to check linked ones again); and whenever a user is
saved with its email (or ``is_active``), or deleted, the certificates of its old
and new addresses are checked again at once (``relink_user``).
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models.signals import post_delete, post_init, post_save
from django.utils.module_loading import import_string

from django_seably.conf import seably_settings
from django_seably.expressions import AsciiLower as AsciiLower  # also importable from here, as before

if TYPE_CHECKING:
    from django_seably.models import Certificate

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def email_key(email: str | None) -> str:
    """Return ``email`` with its ASCII letters lower-cased and nothing else changed.

    Two addresses link when their keys are equal. ``str.lower`` would not do: it
    folds ``K`` (the Kelvin sign) to ``k`` and ``İ`` to ``i̇``.
    """
    return email.translate(_ASCII_LOWER) if email else ""


def active_users() -> models.QuerySet[Any]:
    """Return the active users: the default ``SEABLY["LINKABLE_USERS"]``."""
    user_model = get_user_model()
    users: models.QuerySet[Any] = user_model._default_manager.all()
    try:
        user_model._meta.get_field("is_active")
    except FieldDoesNotExist:  # a custom user model without the field: every user is active
        return users
    return users.filter(is_active=True)


def linkable_users() -> models.QuerySet[Any]:
    """Return the users certificates may be linked to: ``SEABLY["LINKABLE_USERS"]``'s queryset."""
    users: models.QuerySet[Any] = import_string(seably_settings.LINKABLE_USERS)()
    return users


def owners(emails: Iterable[str]) -> dict[str, Any]:
    """Map the key of each of ``emails`` to the pk of the only linkable user with it; one query.

    Keys that no linkable user has, or that several share, are left out.
    """
    keys = _keys(emails)
    if not keys:
        return {}
    field = get_user_model().get_email_field_name()
    rows = (
        linkable_users()
        .alias(_seably_email_key=AsciiLower(field))
        .filter(_seably_email_key__in=keys)
        .values_list("pk", field)
    )
    found: dict[str, set[Any]] = {}
    for pk, email in rows:
        key = email_key(email)
        if key in keys:  # the query may return more (see AsciiLower): only equal keys link
            found.setdefault(key, set()).add(pk)
    return {key: pks.pop() for key, pks in found.items() if len(pks) == 1}


def matching_user_pk(email: str) -> Any:
    """Return the pk of the only linkable user whose email is ``email`` (ASCII case aside), else None.

    One query; none for an empty address.
    """
    key = email_key(email)
    return owners([email]).get(key) if key else None


def link_unlinked(certificates: models.QuerySet[Certificate]) -> int:
    """Link each of ``certificates`` that has no user to its learner's user; return how many were linked.

    Three queries whatever the number of certificates (read, match, one UPDATE),
    so callers pass batches of a size they choose. Certificates linked meanwhile
    (by processing) are left as they are.
    """
    rows = certificates.filter(user__isnull=True).exclude(learner_email="").values_list("pk", "learner_email", "user")
    return _assign(list(rows), only_unlinked=True)


def relink_certificates(certificates: models.QuerySet[Certificate]) -> int:
    """Link each of ``certificates`` to its learner's user, or to nobody; return how many changed.

    Unlike ``link_unlinked``, a certificate linked to a user who no longer
    matches is unlinked (or linked to the user who does): what upgrading from a
    version that matched with the database's case folding needs.
    """
    return _assign(list(certificates.values_list("pk", "learner_email", "user")))


def relink_emails(emails: Iterable[str]) -> int:
    """Check the links of every certificate whose learner has one of ``emails`` again; return how many changed."""
    from django_seably.models import Certificate

    keys = _keys(emails)
    if not keys:
        return 0
    candidates = Certificate.objects.alias(_seably_email_key=AsciiLower("learner_email")).filter(
        _seably_email_key__in=keys
    )
    rows = [row for row in candidates.values_list("pk", "learner_email", "user") if email_key(row[1]) in keys]
    return _assign(rows)


def relink_user(user: Any) -> int:
    """Check again the links of ``user``'s certificates and of those with ``user``'s email; return how many changed.

    Certificates that no longer match ``user`` are unlinked, or linked to the user
    who now matches; certificates with ``user``'s address go to ``user`` if it is
    now their only linkable match (or to nobody, if the address is now shared).
    The address ``user`` was loaded with is checked too: a user who shared it
    may now be its only owner.
    """
    from django_seably.models import Certificate

    field = get_user_model().get_email_field_name()
    emails = {getattr(user, field, "") or "", user.__dict__.get(_LOADED_EMAIL) or ""}
    if user.pk is not None:
        emails.update(Certificate.objects.filter(user=user).values_list("learner_email", flat=True))
    return relink_emails(emails)


def is_linkable_address(email: str) -> bool:
    """Whether ``email`` may link at all: not empty, no whitespace of any kind, nothing invisible.

    An address is compared as it was sent, never trimmed: ``" ada@x"``,
    ``"ada@x\u00a0"``, ``"\u3000ada@x"`` and ``"a da@x"`` link nothing, whatever
    the users' emails are. Control and format characters (NUL, which PostgreSQL
    cannot take in a query, a zero-width space, a BOM) are treated alike.
    """
    return bool(email) and not any(
        character.isspace() or unicodedata.category(character) in ("Cc", "Cf") for character in email
    )


def _keys(emails: Iterable[str]) -> set[str]:
    return {key for key in map(email_key, emails) if is_linkable_address(key)}


def _assign(rows: Collection[tuple[Any, str, Any]], *, only_unlinked: bool = False) -> int:
    """Give each certificate row (pk, learner_email, user) the user its email now links to; return how many changed.

    At most two UPDATE statements: one that links (a CASE over the users), one that unlinks.
    """
    from django_seably.models import Certificate

    if not rows:
        return 0
    owner_of = owners(email for _, email, _ in rows)
    to_link: dict[Any, list[Any]] = {}
    to_unlink: list[Any] = []
    for pk, email, user_pk in rows:
        owner = owner_of.get(email_key(email))
        if owner == user_pk:
            continue
        if owner is None:
            to_unlink.append(pk)
        else:
            to_link.setdefault(owner, []).append(pk)
    changed = 0
    if to_unlink:
        changed += Certificate.objects.filter(pk__in=to_unlink).update(user=None)
    if to_link:
        assignment = models.Case(*[models.When(pk__in=pks, then=models.Value(owner)) for owner, pks in to_link.items()])
        linked = Certificate.objects.filter(pk__in=[pk for pks in to_link.values() for pk in pks])
        if only_unlinked:
            linked = linked.filter(user__isnull=True)
        changed += linked.update(user=assignment)
    return changed


#: Where a user instance keeps the email it was loaded (or created) with.
_LOADED_EMAIL = "_seably_loaded_email"


def _user_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Only a loaded value: reading a deferred field here would cost a query per user.
    field = sender.get_email_field_name()
    if field in instance.__dict__:
        instance.__dict__[_LOADED_EMAIL] = instance.__dict__[field]


def _user_saved(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    field = sender.get_email_field_name()
    # A login saves only last_login: nothing linking depends on.
    if raw or (update_fields is not None and not {field, "is_active"} & set(update_fields)):
        return
    if seably_settings.LINK_USERS:
        relink_user(instance)
    _user_loaded(sender, instance)


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The user's certificates were unlinked (SET_NULL); an address it shared may now have one owner.
    if seably_settings.LINK_USERS:
        relink_emails([getattr(instance, sender.get_email_field_name(), "") or ""])


#: What follows the user model while linking is on: (signal, receiver, dispatch_uid).
_RECEIVERS = (
    (post_init, _user_loaded, "django_seably.linking.user_loaded"),
    (post_save, _user_saved, "django_seably.linking.user_saved"),
    (post_delete, _user_deleted, "django_seably.linking.user_deleted"),
)

#: The user model the receivers are connected to; None while linking is off.
_connected_to: Any = None


def connect_signals() -> None:
    """Follow the user model's loads, saves and deletes while ``LINK_USERS`` is on, and only then.

    With linking off, nothing of the app runs when the project loads or saves a
    user. Called when the app is ready and whenever ``SEABLY`` or
    ``AUTH_USER_MODEL`` changes (``settings_changed``).
    """
    global _connected_to
    try:
        on = seably_settings.LINK_USERS
    except AttributeError:  # SEABLY is not a dict: system check E001 says so, and nothing links
        on = False
    user_model = get_user_model() if on else None
    if user_model is _connected_to:
        return
    for signal, receiver, uid in _RECEIVERS:
        if _connected_to is not None:
            signal.disconnect(receiver, sender=_connected_to, dispatch_uid=uid)
        if user_model is not None:
            signal.connect(receiver, sender=user_model, dispatch_uid=uid)
    _connected_to = user_model


def settings_changed(setting: str, **kwargs: Any) -> None:
    """Connect or disconnect the user model's receivers when linking is switched (``setting_changed``)."""
    if setting in ("SEABLY", "AUTH_USER_MODEL"):
        connect_signals()
