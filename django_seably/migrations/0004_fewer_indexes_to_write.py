"""Indexes that cost every delivery a page to write and served no query.

- ``WebhookEvent.endpoint``'s own index: ``seably_event_endpoint`` (endpoint, id)
  serves every lookup by endpoint already.
- ``seably_cert_learner_email``: emails are matched case-insensitively, which
  ``seably_cert_email_upper`` serves.
- ``Certificate.user``'s index becomes partial: only linked certificates.

Dropping an index is quick on both databases; the foreign keys' own indexes are
dropped by name (Django's name for them, the same on SQLite and PostgreSQL)
rather than by altering the fields, which on SQLite would copy the whole table.
"""

from django.conf import settings
from django.db import migrations, models

EVENT_ENDPOINT_INDEX = "django_seably_webhookevent_endpoint_id_80fc544b"
CERTIFICATE_USER_INDEX = "django_seably_certificate_user_id_93fa856d"


class Migration(migrations.Migration):
    dependencies = [
        ("django_seably", "0003_index_certificate_expiry_with_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookevent",
                    name="endpoint",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=models.deletion.PROTECT,
                        related_name="events",
                        to="django_seably.endpoint",
                        verbose_name="endpoint",
                    ),
                ),
                migrations.AlterField(
                    model_name="certificate",
                    name="user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text='The local user with the learner\'s email, when SEABLY["LINK_USERS"] is on.',
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="seably_certificates",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{EVENT_ENDPOINT_INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX "{EVENT_ENDPOINT_INDEX}" ON "django_seably_webhookevent" ("endpoint_id")'
                    ),
                ),
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{CERTIFICATE_USER_INDEX}"',
                    reverse_sql=f'CREATE INDEX "{CERTIFICATE_USER_INDEX}" ON "django_seably_certificate" ("user_id")',
                ),
            ],
        ),
        migrations.RemoveIndex(
            model_name="certificate",
            name="seably_cert_learner_email",
        ),
        migrations.AddIndex(
            model_name="certificate",
            index=models.Index(
                condition=models.Q(("user__isnull", False)),
                fields=["user"],
                name="seably_cert_user",
            ),
        ),
    ]
