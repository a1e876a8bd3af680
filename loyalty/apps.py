from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty processing")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from audit import trail
        from crm.signals import customer_anonymised, customer_anonymising
        from loyalty.roles import on_post_migrate
        from loyalty.segment_kinds import register_loyalty_kinds
        from loyalty.segment_kinds_behaviour import register_behaviour_kinds
        from loyalty.segmentations import register_segmentations
        from loyalty.services.card_operations import on_customer_anonymising

        customer_anonymised.connect(
            trail.on_customer_anonymised, dispatch_uid="loyalty-audit-anonymised"
        )
        customer_anonymising.connect(on_customer_anonymising, dispatch_uid="loyalty-anonymise")
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="loyalty.roles")
        register_loyalty_kinds()
        register_behaviour_kinds()
        register_segmentations()


class LoyaltyAdminConfig(admin_apps.AdminConfig):
    """Django's admin with the partner-isolating site as ``admin.site`` (named in
    INSTALLED_APPS; not this module's default configuration)."""

    default = False
    default_site = "loyalty.isolation.PartnerAdminSite"

    def ready(self) -> None:
        super().ready()
        from loyalty.admin.columns import install_readable_fields

        install_readable_fields()
