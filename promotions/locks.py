"""Every multi-row lock of the promotions app, taken in primary-key order
(``crm.locks.for_update``)."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.locks import for_update
from promotions.models import Coupon, CouponRedemption, PromotionUsage


def usages_for_update(rows: QuerySet[PromotionUsage]) -> QuerySet[PromotionUsage]:
    """Usage rows of limited promotions (budgets and limits)."""
    return for_update(rows)


def coupons_for_update(rows: QuerySet[Coupon]) -> QuerySet[Coupon]:
    return for_update(rows)


def redemptions_for_update(rows: QuerySet[CouponRedemption]) -> QuerySet[CouponRedemption]:
    return for_update(rows)
