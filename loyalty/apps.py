from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty processing")

    def ready(self) -> None:
        from loyalty.api.auth import connect_signals

        connect_signals()
