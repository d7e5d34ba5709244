from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.lookups import Exact
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_seably.expressions import AsciiLower
from django_seably.linking import email_key
from django_seably.payloads import is_storable_text
from django_seably.redact import looks_like_token, mask_token
from django_seably.upsert import upsert


def generate_token() -> str:
    """Return a new endpoint token: 32 random bytes, url-safe (43 characters), shaped like a token.

    Redaction masks a token wherever it appears by its shape (``looks_like_token``:
    upper case, lower case and digits mixed). About one draw in 1,500 lacks a
    digit (far fewer a case); such a draw is made again, so every token has the
    shape, at a cost of about 0.001 bit of its 256.
    """
    for _attempt in range(100):  # 100 misses in a row: about (1/1500) ** 100
        token = secrets.token_urlsafe(32)
        if looks_like_token(token):
            return token
    raise RuntimeError("secrets.token_urlsafe gave 100 tokens without digits or without both cases")


class EndpointQuerySet(models.QuerySet["Endpoint"]):
    def with_last_received_at(self) -> EndpointQuerySet:
        """Annotate each endpoint with ``last_received_at``: its newest event's time, or None.

        One index probe per endpoint (its newest event by id), not a MAX over all its events.
        """
        newest = WebhookEvent.objects.filter(endpoint=models.OuterRef("pk")).order_by("-pk").values("received_at")
        return self.annotate(last_received_at=models.Subquery(newest[:1]))


class Endpoint(models.Model):
    """A URL registered on Seably; its token is the only secret that guards it."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    token = models.CharField(
        _("token"),
        max_length=64,
        unique=True,
        blank=True,
        editable=False,
        help_text=_("Generated on save. Anyone who knows it can post events."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("An inactive endpoint answers 404, like an unknown one."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        verbose_name = _("endpoint")
        verbose_name_plural = _("endpoints")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.token:
            self.token = generate_token()
        super().save(*args, **kwargs)

    @property
    def masked_token(self) -> str:
        return mask_token(self.token)

    @property
    def webhook_path(self) -> str:
        """Return the path to register on Seably (prefix it with the site's https origin)."""
        return reverse("django_seably:webhook", kwargs={"token": self.token})

    def rotate_token(self) -> None:
        """Give the endpoint a new token now: its old URL answers 404 from the next request on."""
        self.token = generate_token()
        self.save(update_fields=["token"])


class WebhookEventQuerySet(models.QuerySet["WebhookEvent"]):
    def store(self, event: WebhookEvent) -> bool:
        """Insert ``event``, or count one more delivery of the stored event with its fingerprint.

        Return True when ``event`` was inserted. Either way ``event.pk`` and
        ``event.delivery_count`` are the stored row's. One statement, safe under
        concurrent deliveries: the unique fingerprint decides, not a prior read.
        """
        stored = upsert(event, conflict="fingerprint", increment=["delivery_count"], returning=["delivery_count"])
        event.delivery_count = stored["delivery_count"]
        return event.delivery_count == 1

    def oldest(self, status: str) -> WebhookEvent | None:
        """Return the oldest event with ``status`` (only its id, type and time loaded), or None.

        The lowest id on the (status, id) index: ids grow with time.
        """
        return self.filter(status=status).order_by("pk").only("pk", "event_type", "received_at").first()

    def claimable(self, *, only_pending: bool = False) -> WebhookEventQuerySet:
        """The events processing may take: pending ones, and failed ones unless ``only_pending``.

        Processed events are done and invalid ones have nothing to process, so no
        caller can run their receivers again.
        """
        return self.filter(status__in=_claimable_statuses(only_pending))

    def claim(self, event: WebhookEvent, *, only_pending: bool = False) -> bool:
        """Mark ``event`` processed, its attempt counted, if it is still claimable; True if this call did.

        One conditional UPDATE (two when ``event`` was loaded before another
        attempt was counted), meant to run inside the event's processing
        transaction: of two concurrent callers only one claims the event (the
        other waits for the row lock, then finds it processed), and a rollback
        gives the event back. A processed event never changes again, so an
        instance that says so needs no second statement.
        """
        now = timezone.now()
        changes = {"status": WebhookEvent.Status.PROCESSED, "processed_at": now, "last_error": ""}
        statuses = _claimable_statuses(only_pending)
        # Counted from the attempts loaded, as a plain value (Django resolves F("attempts") + 1
        # at a cost per statement); the condition on them keeps the count exact.
        claimed = self.filter(pk=event.pk, status__in=statuses, attempts=event.attempts).update(
            attempts=event.attempts + 1, **changes
        )
        if claimed:
            event.attempts += 1
        elif event.status in statuses:
            # The instance is stale (another attempt was counted since it was loaded): count in the database.
            rows = self.filter(pk=event.pk, status__in=statuses)
            claimed = rows.update(attempts=models.F("attempts") + 1, **changes)
            if claimed:
                event.refresh_from_db(fields=["attempts"])
        if claimed:
            event.status, event.processed_at, event.last_error = WebhookEvent.Status.PROCESSED, now, ""
        return bool(claimed)


def _claimable_statuses(only_pending: bool) -> list[str]:
    if only_pending:
        return [WebhookEvent.Status.PENDING]
    return [WebhookEvent.Status.PENDING, WebhookEvent.Status.FAILED]


class WebhookEvent(models.Model):
    """One delivery from Seably, stored before anything else happens to it."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        PROCESSED = "processed", _("processed")
        FAILED = "failed", _("failed")
        INVALID = "invalid", _("invalid")

    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("endpoint"),
        # seably_event_endpoint (endpoint, id) serves every lookup by endpoint: a
        # second index would only cost every delivery one more page to write.
        db_index=False,
    )
    event_type = models.CharField(_("event type"), max_length=255, blank=True)
    object_type = models.CharField(_("object type"), max_length=255, null=True, blank=True)
    object_id = models.CharField(_("object id"), max_length=255, null=True, blank=True)
    body = models.TextField(_("body"), help_text=_("The text received, exactly."))
    raw_body = models.BinaryField(
        _("raw body"),
        null=True,
        blank=True,
        help_text=_("The exact bytes received, kept only when they are not storable as text."),
    )
    payload = models.JSONField(_("payload"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    delivery_count = models.PositiveIntegerField(_("deliveries"), default=1)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    objects = WebhookEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-id"]
        # Each index names the queries it serves; every other one would cost each delivery a write.
        indexes = [
            # claim / claimable, seably_reprocess --pending/--failed, oldest(), the admin's status filter.
            models.Index(fields=["status", "id"], name="seably_event_status"),
            # The API's ?event_type= and the admin's type filter, newest first.
            models.Index(fields=["event_type", "id"], name="seably_event_type"),
            # The API's ?object_id=, the admin's search by id and a certificate's page (its events).
            models.Index(fields=["object_id"], name="seably_event_object_id"),
            # Time ranges: seably_prune, --older-than, the API's received_from/to, the overview chart.
            models.Index(fields=["received_at"], name="seably_event_received_at"),
            # An endpoint's events: with_last_received_at(), the API's ?endpoint=, PROTECT on delete.
            models.Index(fields=["endpoint", "id"], name="seably_event_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type or _('invalid body')} #{self.pk}"


class EventOverview(WebhookEvent):
    """No data of its own: gives the admin overview page its place in the admin index."""

    class Meta:
        proxy = True
        verbose_name = _("overview")
        verbose_name_plural = _("overview")
        default_permissions = ()


class CertificateQuerySet(models.QuerySet["Certificate"]):
    def upsert(self, certificate: Certificate) -> bool:
        """Insert ``certificate``, or update the row with its Seably id; True when inserted.

        One statement, so concurrent deliveries of one certificate cannot both
        insert it. An update keeps the row's ``event`` and ``created_at``, and its
        ``user`` unless ``certificate`` has one (linking found no user: keep the
        one linked before, by an earlier delivery or by ``seably_link_users``).
        """
        kept = {"id", "seably_id", "event", "created_at"} | ({"user"} if certificate.user_id is None else set())
        overwrite = [field.name for field in Certificate._meta.concrete_fields if field.name not in kept]
        stored = upsert(certificate, conflict="seably_id", overwrite=overwrite, returning=["event", "created_at"])
        # Only an insert stores this instance's own event and creation time; an update
        # keeps the row's (concurrent inserts by other events differ in the event).
        return bool(stored["event_id"] == certificate.event_id and stored["created_at"] == certificate.created_at)

    # Validity: a certificate is valid through its expiry date, in the site's time zone.

    def valid(self) -> CertificateQuerySet:
        """Certificates without an expiry date, or expiring today or later."""
        return self.filter(models.Q(expires_on__gte=timezone.localdate()) | models.Q(expires_on__isnull=True))

    def expired(self) -> CertificateQuerySet:
        """Certificates whose expiry date is before today."""
        return self.filter(expires_on__lt=timezone.localdate())

    def no_expiry(self) -> CertificateQuerySet:
        """Certificates without an expiry date."""
        return self.filter(expires_on__isnull=True)

    def of_learner(self, email: str) -> CertificateQuerySet:
        """Certificates of the learner with ``email``, whole, ignoring the case of ASCII letters.

        The comparison linking makes (``django_seably.linking.email_key``), so one
        index (``seably_cert_email_key``) serves every email lookup, on every database.
        """
        key = email_key(email.strip())
        if not is_storable_text(key):
            return self.none()
        return self.filter(Exact(AsciiLower("learner_email"), key))

    def search(self, term: str) -> CertificateQuerySet:
        """Certificates matching what a person typed: an email (whole), a Seably id, or part of a name or course.

        An email or an exact Seably id is answered by an index; only otherwise are
        learners' and courses' names searched, which reads every row.
        """
        term = term.strip()
        if not term:
            return self
        if not is_storable_text(term):
            return self.none()
        if "@" in term:
            return self.of_learner(term)
        by_id = self.filter(seably_id=term)
        if by_id.exists():
            return by_id
        return self.filter(models.Q(learner_name__icontains=term) | models.Q(course_name__icontains=term))


class Certificate(models.Model):
    """A certificate Seably issued, kept whole in ``data``, with searchable columns."""

    seably_id = models.CharField(_("Seably id"), max_length=255, unique=True)
    data = models.JSONField(_("data"), help_text=_("The certificate object exactly as Seably sent it."))
    event = models.ForeignKey(
        WebhookEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_certificates",
        verbose_name=_("created by event"),
        # Indexed (Django's default for a foreign key): the admin's event page shows the
        # certificate its event created, and deleting an event sets this to NULL.
    )
    learner_email = models.CharField(_("learner email"), max_length=254, blank=True)
    learner_name = models.CharField(_("learner name"), max_length=255, blank=True)
    course_name = models.CharField(_("course"), max_length=255, blank=True)
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    url = models.CharField(_("URL"), max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="seably_certificates",
        verbose_name=_("user"),
        db_index=False,  # seably_cert_user: only linked certificates are indexed
        help_text=_('The local user with the learner\'s email, when SEABLY["LINK_USERS"] is on.'),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-id"]
        # Each index names the queries it serves; every other one would cost each certificate a write.
        indexes = [
            # Every email lookup, ASCII case ignored: of_learner() (the API's ?learner_email=, search
            # by email in the admin and the API) and linking (django_seably.linking).
            models.Index(AsciiLower("learner_email"), name="seably_cert_email_key"),
            # The API's ?course= and the admin's course filter (its values, then the rows).
            models.Index(fields=["course_name"], name="seably_cert_course_name"),
            # valid() / expired() (the API's ?validity=, the admin's filter); with the id, a range
            # ordered by id is answered from the index alone.
            models.Index(fields=["expires_on", "id"], name="seably_cert_expiry"),
            # The API's issued_from / issued_to, and the admin's list sorted by issue date.
            models.Index(fields=["issued_at"], name="seably_cert_issued_at"),
            # me/certificates/ and re-linking a user whose email changed. Most certificates are
            # linked to no user: they need no entry here.
            models.Index(fields=["user"], name="seably_cert_user", condition=models.Q(user__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.seably_id
