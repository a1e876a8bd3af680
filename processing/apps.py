from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProcessingConfig(AppConfig):
    """The registers' pipeline: calculate, confirm, refund, cancel and offline uploads over the
    POS API, and the receipt simulator. It orchestrates ``crm``, ``loyalty`` and
    ``promotions``; none of them imports it."""

    name = "processing"
    verbose_name = _("Processing")

    def ready(self) -> None:
        from processing.api.auth import connect_signals

        connect_signals()
