"""What the promotions keep per customer follows a customer merge (``customers_merging``)."""

from __future__ import annotations

from django.db.models import Q

from promotions.locks import usages_for_update
from promotions.models import (
    Coupon,
    CouponGrant,
    CouponRedemption,
    PromotionUsage,
    PromotionUsageEffect,
    TriggerFiring,
)


def on_customers_merging(sender, keep, gone, **kwargs) -> None:
    """Move ``gone``'s per-customer usage and rewarded occasions to ``keep``, in the merge's
    transaction: limits per customer count both customers' receipts, and an occasion either
    was rewarded for is not rewarded again. ``gone``'s personal coupons, the coupons its
    purchases earned and its coupon redemptions move too (keep may use the coupons, and a
    coupon's limit per customer counts both). Draw winners stay: each is the record of a draw
    drawn, paid by its posting."""
    theirs = usages_for_update(
        PromotionUsage.objects.filter(Q(key=f"c:{gone.pk}") | Q(key__startswith=f"cd:{gone.pk}:"))
    )
    for usage in theirs:
        day = usage.key.split(":", 2)[2] if usage.key.startswith("cd:") else None
        key = f"c:{keep.pk}" if day is None else f"cd:{keep.pk}:{day}"
        mine = (
            PromotionUsage.objects.select_for_update()
            .filter(promotion_id=usage.promotion_id, key=key)
            .first()
        )
        if mine is None:
            usage.key = key
            usage.save(update_fields=["key"])
            continue
        mine.uses += usage.uses
        mine.given += usage.given
        mine.save(update_fields=["uses", "given"])
        PromotionUsageEffect.objects.filter(usage=usage).update(usage=mine)
        usage.delete()
    kept = set(TriggerFiring.objects.filter(customer=keep).values_list("promotion_id", "key"))
    for firing in TriggerFiring.objects.filter(customer=gone).order_by("pk"):
        if (firing.promotion_id, firing.key) not in kept:
            firing.customer = keep
            firing.save(update_fields=["customer"])
    Coupon.objects.filter(customer=gone).update(customer=keep)
    CouponGrant.objects.filter(customer=gone).update(customer=keep)
    CouponRedemption.objects.filter(customer=gone).update(customer=keep)
