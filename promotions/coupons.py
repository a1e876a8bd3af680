"""The next-purchase coupon hook: a confirmed purchase records the coupons its promotions
earned the customer (``CouponGrant``, status "to issue"); the coupon series issue the codes and
tell the customer. A cancel or a full refund withdraws what is not issued yet, and marks the
issued ones withdrawn so the series can void their codes."""

from __future__ import annotations

from django.utils import timezone

from promotions.engine.types import CouponAward


def coupons_grant(receipt, customer, awards: list[CouponAward]) -> list:
    from promotions.models import CouponGrant

    if not awards:
        return []
    now = timezone.now()
    return CouponGrant.objects.bulk_create(
        [
            CouponGrant(
                receipt=receipt,
                promotion_id=award.promotion_id,
                customer=customer,
                series=award.series,
                created_at=now,
            )
            for award in awards
            for _ in range(award.count)
        ]
    )


def coupons_withdraw(receipt) -> int:
    from promotions.models import CouponGrant

    return (
        CouponGrant.objects.filter(receipt=receipt)
        .exclude(status=CouponGrant.Status.WITHDRAWN)
        .update(status=CouponGrant.Status.WITHDRAWN)
    )
