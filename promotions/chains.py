"""Chains (quests, mechanics.md item 18): a promotion waits for the customer to have completed
another one (the condition ``promotion_done``), so completing step 1 unlocks step 2 and the
last step gives the prize. No model of its own: a step is completed when its promotion has
rewarded the customer, as its own records say: a ``TriggerFiring`` for a promotion started by
an occasion, the per-customer usage (``receipts per customer``) for a purchase promotion, which
a refund or a cancel takes back, so undoing a step locks the next one again."""

from __future__ import annotations

from collections.abc import Iterable

from promotions.models import PromotionUsage, TriggerFiring


def chain_steps_done(customer_id: int | None, step_ids: Iterable[int]) -> frozenset[int]:
    """Which of the promotions ``step_ids`` the customer has completed (two indexed reads)."""
    step_ids = list(step_ids)
    if not customer_id or not step_ids:
        return frozenset()
    fired = TriggerFiring.objects.filter(
        customer_id=customer_id, promotion_id__in=step_ids
    ).values_list("promotion_id", flat=True)
    used = PromotionUsage.objects.filter(
        promotion_id__in=step_ids, key=f"c:{customer_id}", uses__gt=0
    ).values_list("promotion_id", flat=True)
    return frozenset(fired) | frozenset(used)
