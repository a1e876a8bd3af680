from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommunicationsConfig(AppConfig):
    name = "communications"
    verbose_name = _("Communications")

    def ready(self) -> None:
        from communications.segment_kinds import register_communication_kinds
        from communications.services import (
            on_contact_verification_started,
            on_coupons_issued,
            on_customer_anonymising,
            on_customers_merging,
            on_occasion_rewarded,
        )
        from crm.signals import contact_verification_started, customer_anonymising
        from loyalty.signals import customers_merging
        from promotions.signals import coupons_issued, occasion_rewarded

        occasion_rewarded.connect(on_occasion_rewarded, dispatch_uid="communications-rewarded")
        coupons_issued.connect(on_coupons_issued, dispatch_uid="communications-coupons")
        customers_merging.connect(on_customers_merging, dispatch_uid="communications-merge")
        customer_anonymising.connect(
            on_customer_anonymising, dispatch_uid="communications-anonymise"
        )
        contact_verification_started.connect(
            on_contact_verification_started, dispatch_uid="communications-verification"
        )
        register_communication_kinds()
