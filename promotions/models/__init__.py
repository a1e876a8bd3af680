"""Promotions, built from general parts (mechanics.md): who, where, when, on what basis, what
reward. No mechanic has a class of its own: a promotion is a row with its scope and schedule,
``Condition`` rows (ANDed within an ``or_group``, the groups ORed) and ``Reward`` rows, and the
engine (``promotions.engine``) reads them all from the compiled rules snapshot.

One module a subject:

- ``parts``: compatibility groups, product sets and spending rules, which promotions name.
- ``promotion``: the promotion (scope, schedule, trigger, budget and limits, exchange price).
- ``conditions`` and ``rewards``: a promotion's conditions and rewards.
- ``versions``: a promotion's saved versions and what it has given (usage).
- ``lifecycle``: the occasions promotions started by the customer's life rewarded.
- ``draws``: prize draws and their winners.
- ``coupons``: coupons earned, series, coupons, their uses and scratch prizes.
"""

from promotions.models.conditions import Condition
from promotions.models.coupons import (
    COUPON_ALPHABET,
    Coupon,
    CouponGrant,
    CouponRedemption,
    CouponSeries,
    ScratchPrize,
)
from promotions.models.draws import SEED_PATTERN, Draw, DrawWinner
from promotions.models.lifecycle import LifecycleRun, TriggerFiring
from promotions.models.parts import CompatibilityGroup, ProductSet, SpendRule
from promotions.models.promotion import (
    AroundDate,
    Promotion,
    PromotionQuerySet,
    Trigger,
    TriggerDate,
)
from promotions.models.rewards import Reward
from promotions.models.versions import PromotionUsage, PromotionUsageEffect, PromotionVersion

__all__ = [
    "COUPON_ALPHABET",
    "SEED_PATTERN",
    "AroundDate",
    "CompatibilityGroup",
    "Condition",
    "Coupon",
    "CouponGrant",
    "CouponRedemption",
    "CouponSeries",
    "Draw",
    "DrawWinner",
    "LifecycleRun",
    "ProductSet",
    "Promotion",
    "PromotionQuerySet",
    "PromotionUsage",
    "PromotionUsageEffect",
    "PromotionVersion",
    "Reward",
    "ScratchPrize",
    "SpendRule",
    "Trigger",
    "TriggerDate",
    "TriggerFiring",
]
