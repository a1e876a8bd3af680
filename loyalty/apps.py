from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty processing")

    def ready(self) -> None:
        from crm.signals import customer_anonymising
        from loyalty import audit
        from loyalty.api.auth import connect_signals
        from loyalty.services.card_operations import on_customer_anonymising

        connect_signals()
        audit.install()
        customer_anonymising.connect(on_customer_anonymising, dispatch_uid="loyalty-anonymise")
