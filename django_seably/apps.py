from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class SeablyConfig(AppConfig):
    name = "django_seably"
    verbose_name = _("Seably")
    # Pinned, so a project's DEFAULT_AUTO_FIELD can never create migrations in this app.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from django_seably.checks import check_database, check_deployment, check_settings, check_urls
        from django_seably.linking import connect_signals, settings_changed
        from django_seably.redact import install_log_filters

        checks.register(check_settings)
        checks.register(check_database)
        checks.register(check_urls, checks.Tags.urls)
        checks.register(check_deployment, deploy=True)
        install_log_filters()
        connect_signals()
        # override_settings (tests) switches linking too; Django's own caches listen the same way.
        setting_changed.connect(settings_changed, dispatch_uid="django_seably.linking.settings_changed")
        # With prometheus_client installed, the counters and the gauges' collector join its
        # default registry now, before any request: a scrape shows them from the start.
        import django_seably.metrics  # noqa: F401
