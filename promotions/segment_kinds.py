"""The segment conditions on what the promotions recorded, registered into
``crm.segments.registry`` by ``PromotionsConfig.ready``. They read the rows the pipeline
already writes (nothing is added to the hot path):

- ``promotion_reward``: a promotion gave the customer something within the window: a line
  reward of a purchase sold then (``ReceiptLineReward``, not a refund's negative row, on a
  receipt not cancelled: what ``promotions.figures`` counts as given), or an occasion it
  rewarded then (``TriggerFiring``, by ``fired_at``);
- ``coupon_used``: a coupon of the series was used on a purchase within the window
  (``CouponRedemption`` by ``redeemed_at``) and neither given back (``returned_at``) nor
  cancelled with its receipt.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from crm.segments.params import Param
from crm.segments.registry import CompileContext, ConditionKind, Values, register
from loyalty.models import Receipt, ReceiptLineReward
from promotions.models import CouponRedemption, TriggerFiring

PROMOTIONS = _("Promotions")
WINDOW = Param("window", _("when"), "window", help_text=_("Empty: all time."))


def _promotion_reward(values: Values, ctx: CompileContext) -> Q:
    window = values["window"]
    lines = Q(
        line__receipt__customer=OuterRef("pk"),
        promotion_id__in=values["promotions"],
        refund__isnull=True,
    ) & ~Q(line__receipt__status=Receipt.Status.CANCELLED)
    firings = Q(customer=OuterRef("pk"), promotion_id__in=values["promotions"])
    if window is not None:
        lines &= window.q("line__receipt__sold_at", ctx.now)
        firings &= window.q("fired_at", ctx.now)
    return Q(Exists(ReceiptLineReward.objects.filter(lines))) | Q(
        Exists(TriggerFiring.objects.filter(firings))
    )


def _coupon_used(values: Values, ctx: CompileContext) -> Q:
    q = Q(
        customer=OuterRef("pk"), coupon__series_id__in=values["series"], returned_at__isnull=True
    ) & ~Q(receipt__status=Receipt.Status.CANCELLED)
    if values["window"] is not None:
        q &= values["window"].q("redeemed_at", ctx.now)
    return Q(Exists(CouponRedemption.objects.filter(q)))


def register_promotion_kinds() -> None:
    register(
        ConditionKind(
            "promotion_reward",
            _("rewarded by a promotion"),
            PROMOTIONS,
            (
                Param(
                    "promotions",
                    _("one of the promotions"),
                    "ids",
                    required=True,
                    model="promotions.Promotion",
                    programme_field="programme",
                ),
                WINDOW,
            ),
            _promotion_reward,
            app_label="promotions",
        ),
        ConditionKind(
            "coupon_used",
            _("used a coupon"),
            PROMOTIONS,
            (
                Param(
                    "series",
                    _("of the series"),
                    "ids",
                    required=True,
                    model="promotions.CouponSeries",
                    programme_field="programme",
                ),
                WINDOW,
            ),
            _coupon_used,
            app_label="promotions",
        ),
    )
