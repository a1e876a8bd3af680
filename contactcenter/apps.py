from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactcenterConfig(AppConfig):
    name = "contactcenter"
    verbose_name = _("Contact centre")

    def ready(self) -> None:
        from contactcenter.services import on_customer_anonymising
        from crm.signals import customer_anonymising

        customer_anonymising.connect(
            on_customer_anonymising, dispatch_uid="contactcenter-anonymise"
        )
