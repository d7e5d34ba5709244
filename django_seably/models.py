from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_seably.exceptions import EndpointNotFound
from django_seably.linking import AsciiLower
from django_seably.redact import mask_token
from django_seably.upsert import PreparedUpsert, json_value


def generate_token() -> str:
    """Return a new endpoint token: 32 random bytes, url-safe (43 characters)."""
    return secrets.token_urlsafe(32)


class EndpointQuerySet(models.QuerySet["Endpoint"]):
    def active(self) -> EndpointQuerySet:
        return self.filter(is_active=True)

    def get_active(self, token: str) -> Endpoint | None:
        """Return the active endpoint with ``token`` (only its id, token and is_active loaded), or None.

        Every delivery starts here, so it is one raw, indexed query of the id:
        building and compiling it with the ORM costs several times the query itself.
        """
        connection = connections[self.db]
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {quote('id')} FROM {quote(self.model._meta.db_table)} "
            f"WHERE {quote('token')} = %s AND {quote('is_active')} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [token, True])
            row = cursor.fetchone()
        if row is None:
            return None
        return self.model.from_db(self.db, ["id", "token", "is_active"], [row[0], token, True])


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


class WebhookEventQuerySet(models.QuerySet["WebhookEvent"]):
    def record_delivery(self, event: WebhookEvent) -> bool:
        """Insert ``event``, or count one more delivery of the event with its fingerprint.

        Return True when ``event`` was inserted. Either way ``event.pk``,
        ``event.endpoint_id`` and ``event.delivery_count`` are those of the stored
        row. One statement, safe under concurrent deliveries: the unique
        fingerprint decides, not a prior read. The same statement reads the
        endpoint by ``event.endpoint``'s token, so an endpoint deactivated or given
        a new token since it was looked up gets nothing: ``EndpointNotFound``.
        """
        return self.prepare_delivery(event)()

    def prepare_delivery(self, event: WebhookEvent, *, payload_json: str | None = None) -> Callable[[], bool]:
        """Return ``record_delivery(event)`` prepared, to call later (in a transaction).

        ``payload_json`` is the JSON text ``event.payload`` was parsed from: stored
        as it is where the database allows, rather than serialized again.
        """
        db_values = {}
        if payload_json is not None:
            payload = json_value(payload_json, connections[router.db_for_write(WebhookEvent)])
            if payload is not None:
                db_values["payload"] = payload
        statement = PreparedUpsert(
            event,
            conflict="fingerprint",
            increment=["delivery_count"],
            returning=["delivery_count", "endpoint"],
            parent=("endpoint", {"token": event.endpoint.token, "is_active": True}),
            db_values=db_values,
        )

        def record() -> bool:
            upserted = statement.execute()
            if upserted is None:
                raise EndpointNotFound("Not found.")
            event.endpoint_id = upserted.row["endpoint_id"]
            event.delivery_count = int(upserted.row["delivery_count"])
            return event.delivery_count == 1

        return record

    def count_delivery(self, fingerprint: str, *, token: str) -> WebhookEvent | None:
        """Count one more delivery of the stored event with ``fingerprint``; return it, or None if there is none.

        For a delivery that is most likely a duplicate: one small UPDATE, without
        building the event's row. It counts nothing unless ``token`` is an active
        endpoint's (as ``record_delivery`` checks). The event is returned with
        only its id, endpoint and ``delivery_count`` loaded (the rest on access).
        None also where the database cannot return updated rows (SQLite < 3.35).
        """
        connection = connections[router.db_for_write(WebhookEvent)]
        if not connection.features.can_return_columns_from_insert:
            return None
        with connection.cursor() as cursor:
            cursor.execute(_count_delivery_sql(connection.alias), [fingerprint, token, True])
            row = cursor.fetchone()
        if row is None:
            return None
        return WebhookEvent.from_db(connection.alias, ["id", "endpoint_id", "delivery_count"], list(row))

    def claim(self, event: WebhookEvent, *, only_pending: bool = False) -> bool:
        """Mark ``event`` processed, its attempt counted, if it is still to be processed; True if this call did.

        Pending or failed events can be claimed (only pending ones with
        ``only_pending``); a processed or invalid one cannot. One conditional
        UPDATE, so of two concurrent callers only one claims the event. Raw and
        built once: reprocessing a backlog runs it for every event.
        """
        connection = connections[self.db]
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                _claim_sql(self.db, only_pending),
                [connection.ops.adapt_datetimefield_value(now), event.pk],
            )
            claimed: bool = cursor.rowcount == 1
        if claimed:
            event.status, event.processed_at, event.last_error = WebhookEvent.Status.PROCESSED, now, ""
        return claimed

    def claimable(self, event: WebhookEvent, *, only_pending: bool = False) -> models.QuerySet[WebhookEvent]:
        """``event``'s row, while ``claim`` (with the same ``only_pending``) would still claim it."""
        rows = self.filter(pk=event.pk)
        if only_pending:
            return rows.filter(status=WebhookEvent.Status.PENDING)
        return rows.exclude(status__in=_NEVER_CLAIMED)


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
        indexes = [
            models.Index(fields=["status", "id"], name="seably_event_status"),
            models.Index(fields=["event_type", "id"], name="seably_event_type"),
            models.Index(fields=["object_id"], name="seably_event_object_id"),
            models.Index(fields=["received_at"], name="seably_event_received_at"),
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
        ``user`` unless ``certificate`` has one, and loads the stored row into
        ``certificate``.
        """
        return self.prepare_upsert(certificate)()

    def prepare_upsert(self, certificate: Certificate) -> Callable[[], bool]:
        """Return ``upsert(certificate)`` prepared, to call later; ``certificate.event`` may be set until then."""
        # Linking found no user (or is off): keep the user linked before, by an
        # earlier delivery or by seably_link_users.
        overwrite, returning = _upsert_columns(keep_user=certificate.user_id is None)
        statement = PreparedUpsert(certificate, conflict="seably_id", overwrite=overwrite, returning=returning)

        def upsert() -> bool:
            upserted = statement.execute()
            assert upserted is not None  # no parent lookup: always a row
            # Only the insert branch stores the attempted row's own creation time and
            # event; concurrent inserts from other events differ at least in the event.
            inserted = (
                upserted.row["event_id"] == certificate.event_id
                and upserted.value(certificate, "created_at") == certificate.created_at
            )
            if not inserted:
                upserted.load(certificate)
            return bool(inserted)

        return upsert


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
        indexes = [
            # Emails are matched case-insensitively (iexact): this index serves them on PostgreSQL.
            models.Index(Upper("learner_email"), name="seably_cert_email_upper"),
            # Linking matches emails ignoring ASCII case only (django_seably.linking): this serves it.
            models.Index(AsciiLower("learner_email"), name="seably_cert_email_key"),
            models.Index(fields=["course_name"], name="seably_cert_course_name"),
            # With the id, "expired" (a range) ordered by id is answered from the index alone.
            models.Index(fields=["expires_on", "id"], name="seably_cert_expiry"),
            models.Index(fields=["issued_at"], name="seably_cert_issued_at"),
            # Most certificates are linked to no user: they need no entry here.
            models.Index(fields=["user"], name="seably_cert_user", condition=models.Q(user__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.seably_id


@functools.cache
def _count_delivery_sql(using: str) -> str:
    quote = connections[using].ops.quote_name
    events, endpoints = quote(WebhookEvent._meta.db_table), quote(Endpoint._meta.db_table)
    count = quote("delivery_count")
    return (
        f"UPDATE {events} SET {count} = {count} + 1 WHERE {quote('fingerprint')} = %s "
        f"AND EXISTS (SELECT 1 FROM {endpoints} WHERE {quote('token')} = %s AND {quote('is_active')} = %s) "
        f"RETURNING {quote('id')}, {quote('endpoint_id')}, {count}"
    )


#: Statuses a claim never takes: the event is done, or has nothing to process.
_NEVER_CLAIMED = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.INVALID)


@functools.cache
def _claim_sql(using: str, only_pending: bool) -> str:
    quote = connections[using].ops.quote_name
    status = quote("status")
    Status = WebhookEvent.Status
    final = ", ".join(f"'{value}'" for value in _NEVER_CLAIMED)
    condition = f"{status} = '{Status.PENDING}'" if only_pending else f"{status} NOT IN ({final})"
    return (
        f"UPDATE {quote(WebhookEvent._meta.db_table)} SET {status} = '{Status.PROCESSED}', "
        f"{quote('processed_at')} = %s, {quote('attempts')} = {quote('attempts')} + 1, {quote('last_error')} = '' "
        f"WHERE {quote('id')} = %s AND {condition}"
    )


@functools.cache
def _upsert_columns(*, keep_user: bool) -> tuple[list[str], list[str]]:
    """Return the fields a certificate upsert overwrites, and those it keeps and returns."""
    kept = {"id", "seably_id", "event", "created_at"} | ({"user"} if keep_user else set())
    fields = Certificate._meta.concrete_fields
    # The overwritten columns hold the certificate's own values: only the kept ones can differ.
    return [f.name for f in fields if f.name not in kept], [
        f.name for f in fields if f.name in kept and not f.primary_key
    ]
