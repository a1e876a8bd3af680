from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = _("Promotions")

    def ready(self) -> None:
        from crm.signals import customer_occasion
        from loyalty.signals import customers_merging
        from promotions.lifecycle import on_customer_occasion
        from promotions.merge import on_customers_merging
        from promotions.rules.snapshot import connect_signals
        from promotions.segment_kinds import register_promotion_kinds

        connect_signals()
        customer_occasion.connect(on_customer_occasion, dispatch_uid="promotions-lifecycle")
        customers_merging.connect(on_customers_merging, dispatch_uid="promotions-merge")
        register_promotion_kinds()
