from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    """The audit trail and the append-only rows it and the ledger are made of: the lowest app,
    it imports none of the others (the models it audits are named in ``audit.registry``)."""

    name = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from audit import trail

        trail.install()
