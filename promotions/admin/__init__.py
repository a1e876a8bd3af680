"""The promotions' back office: the promotion builder, the parts promotions name, the occasions
rewarded, prize draws and coupons, one module a subject.

Partner staff (a ``StaffProfile`` with a partner) work on their partner's promotions only: the
list, the pages, the actions, the import, the simulator and every choice offered are limited
to them, and coalition-wide promotions stay out of their reach."""

from promotions.admin import (
    builder,  # noqa: F401
    coupons,  # noqa: F401
    draws,  # noqa: F401
    lifecycle,  # noqa: F401
    parts,  # noqa: F401
)
from promotions.admin.builder import (
    SOURCES,
    WEEKDAYS,
    ConditionInline,
    ImportForm,
    PartnerListFilter,
    PromotionAdmin,
    PromotionForm,
    RewardForm,
    RewardInline,
    VersionInline,
    limit_to_programme,
    promotion_programme_id,
)
from promotions.admin.coupons import (
    CouponAdmin,
    CouponIssueForm,
    CouponRedemptionAdmin,
    CouponSeriesAdmin,
    ScratchPrizeInline,
)
from promotions.admin.draws import DrawAdmin, DrawForm, DrawWinnerInline
from promotions.admin.lifecycle import LifecycleRunAdmin, TriggerFiringAdmin
from promotions.admin.parts import CompatibilityGroupAdmin, ProductSetAdmin, SpendRuleAdmin

__all__ = [
    "SOURCES",
    "WEEKDAYS",
    "CompatibilityGroupAdmin",
    "ConditionInline",
    "CouponAdmin",
    "CouponIssueForm",
    "CouponRedemptionAdmin",
    "CouponSeriesAdmin",
    "DrawAdmin",
    "DrawForm",
    "DrawWinnerInline",
    "ImportForm",
    "LifecycleRunAdmin",
    "PartnerListFilter",
    "ProductSetAdmin",
    "PromotionAdmin",
    "PromotionForm",
    "RewardForm",
    "RewardInline",
    "ScratchPrizeInline",
    "SpendRuleAdmin",
    "TriggerFiringAdmin",
    "VersionInline",
    "limit_to_programme",
    "promotion_programme_id",
]
