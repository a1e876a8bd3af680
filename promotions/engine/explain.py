"""Why a promotion gave nothing, with the values that failed it: for the simulator only.

``evaluate`` gives each promotion that gave nothing a reason code and nothing more, so that
the registers' hot path stays cheap. ``explain`` takes a result already evaluated and works
out, for those codes that hide a value, the fact that failed and the value that failed it:
the condition and the receipt's amount, the counter's value, the hour on the store's clock,
the customer's tier, the limit reached, the measure below a banded reward's first band. It
makes no query and changes nothing.

A condition is judged on the state the promotion saw in the priority walk, rebuilt from the
result: the discounts and the counter steps of the promotions walked before it (in the
discount walk; the points walk sees them all). A member of a ``best`` group is judged on the
state its group was settled on, which the rebuild approximates the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from loyalty.money import ZERO
from promotions.engine.bands import band_index, band_measure
from promotions.engine.evaluate import RECEIPT_PHASE, _has, _Walk
from promotions.engine.types import (
    NO_USAGE,
    ConditionRule,
    EngineResult,
    LineResult,
    PromotionRule,
    ReceiptContext,
    RulesSnapshot,
)


@dataclass(frozen=True)
class Failure:
    """One fact that stopped a promotion. ``code`` names what was compared, ``params`` the
    values: what the receipt or the customer had and what the promotion asks for."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


Explanations = dict[tuple[int, str], tuple[Failure, ...]]


def explain(snapshot: RulesSnapshot, ctx: ReceiptContext, result: EngineResult) -> Explanations:
    """The failures behind each (promotion id, reason) of ``result.blocked`` that has any."""
    order = {promotion.id: n for n, promotion in enumerate(snapshot.promotions)}
    by_id = {promotion.id: promotion for promotion in snapshot.promotions}
    found: Explanations = {}
    for promotion_id, reason in result.blocked:
        promotion = by_id.get(promotion_id)
        if promotion is None or (promotion_id, reason) in found:
            continue
        failures = explain_reason(snapshot, ctx, promotion, reason, result, order)
        if failures:
            found[(promotion_id, reason)] = failures
    return found


def explain_reason(
    snapshot: RulesSnapshot,
    ctx: ReceiptContext,
    promotion: PromotionRule,
    reason: str,
    result: EngineResult | None = None,
    order: Mapping[int, int] | None = None,
) -> tuple[Failure, ...]:
    """The failures behind one ``reason`` of ``promotion`` on ``ctx`` (a context without lines
    and no ``result``: an occasion of the customer's life); empty when the code says it all."""
    customer = ctx.customer
    if reason == "outside_period":
        return (
            Failure(
                "period",
                {"at": ctx.at, "starts_at": promotion.starts_at, "ends_at": promotion.ends_at},
            ),
        )
    if reason == "other_weekday":
        return (
            Failure(
                "weekday",
                {"day": ctx.local_date.isoweekday(), "days": tuple(sorted(promotion.weekdays))},
            ),
        )
    if reason == "outside_hours":
        moment = ctx.local_time or ctx.at.time()
        return (
            Failure(
                "hours", {"time": moment, "from": promotion.time_from, "to": promotion.time_to}
            ),
        )
    if reason == "audience":
        return (
            Failure(
                "tier",
                {
                    "tier_id": customer.tier_id if customer is not None else None,
                    "tier_ids": tuple(sorted(promotion.tier_ids)),
                    "anonymous": customer is None,
                },
            ),
        )
    if reason == "audience_new":
        return (
            Failure(
                "new",
                {
                    "registered_at": customer.registered_at if customer is not None else None,
                    "days": promotion.new_within_days,
                },
            ),
        )
    if reason == "outside_dates":
        return (_date_failure(promotion, ctx),)
    if reason in LIMITS:
        return (_limit_failure(promotion, ctx, reason),)
    if reason == "not_enough_chips":
        return (_chips_failure(snapshot, ctx, promotion, result),)
    if reason == "below_bands":
        walk = _walk_before(snapshot, ctx, promotion, result, order or {})
        return _band_failures(walk, promotion)
    if reason == "conditions_not_met":
        walk = _walk_before(snapshot, ctx, promotion, result, order or {})
        return tuple(
            _condition_failure(walk, condition)
            for condition in promotion.conditions
            if not walk._holds(condition)
        )
    return ()


LIMITS = frozenset(
    [
        "budget_spent",
        "limit_per_receipt",
        "limit_per_customer",
        "limit_per_customer_day",
        "limit_per_day",
    ]
)


def _limit_failure(promotion: PromotionRule, ctx: ReceiptContext, reason: str) -> Failure:
    usage = ctx.usage.get(promotion.id, NO_USAGE)
    if reason == "budget_spent":
        return Failure("budget", {"budget": promotion.budget, "given": usage.given})
    if reason == "limit_per_receipt":
        return Failure("limit_per_receipt", {"limit": promotion.max_per_receipt})
    limit, used = {
        "limit_per_customer": (promotion.uses_per_customer, usage.customer_uses),
        "limit_per_customer_day": (promotion.uses_per_customer_day, usage.customer_day_uses),
        "limit_per_day": (promotion.uses_per_day, usage.day_uses),
    }[reason]
    return Failure(reason, {"limit": limit, "used": used})


def _chips_failure(
    snapshot: RulesSnapshot,
    ctx: ReceiptContext,
    promotion: PromotionRule,
    result: EngineResult | None,
) -> Failure:
    """An exchange's price and what the customer had left to pay it: what they hold, less
    the other exchanges applied and, in the main currency, the points the receipt spends."""
    currency_id = promotion.exchange_currency_id
    left = ctx.exchange_available.get(currency_id, ZERO) if currency_id is not None else ZERO
    if result is not None:
        left -= sum(
            (
                outcome.cost or ZERO
                for outcome in result.exchanged
                if outcome.currency_id == currency_id and outcome.promotion_id != promotion.id
            ),
            ZERO,
        )
        if currency_id == snapshot.programmes[ctx.programme_id].main_currency_id:
            left -= result.spent_points
    return Failure(
        "chips", {"cost": promotion.exchange_cost, "currency_id": currency_id, "available": left}
    )


def _date_failure(promotion: PromotionRule, ctx: ReceiptContext) -> Failure:
    """The customer's dates of the promotion's kind (none on file: an empty tuple)."""
    customer = ctx.customer
    kind = promotion.around_date
    anchors: tuple[date, ...] = ()
    if customer is not None:
        if kind == "birthday":
            anchors = (customer.birth_date,) if customer.birth_date else ()
        elif kind == "registration":
            anchors = (customer.registered_at.date(),) if customer.registered_at else ()
        else:
            anchors = tuple(day for found, day in customer.dates if found == kind)
    return Failure(
        "date",
        {
            "kind": kind,
            "anchors": anchors,
            "before": promotion.days_before,
            "after": promotion.days_after,
            "day": ctx.local_date,
            "anonymous": customer is None,
        },
    )


def _walk_before(
    snapshot: RulesSnapshot,
    ctx: ReceiptContext,
    promotion: PromotionRule,
    result: EngineResult | None,
    order: Mapping[int, int],
) -> _Walk:
    """A walk standing where ``promotion`` was judged: the lines with the discounts of the
    promotions before it, the counters with their steps (all of them in the points walk)."""
    position = order.get(promotion.id, len(order))
    discount_walk = _has(promotion, RECEIPT_PHASE)

    def before(promotion_id: int | None) -> bool:
        return not discount_walk or order.get(promotion_id or 0, position) < position

    discounts: dict[int, Decimal] = {}
    for award in result.discounts if result is not None else ():
        if before(award.promotion_id):
            for no, part in award.per_line.items():
                discounts[no] = discounts.get(no, ZERO) + part
    lines = [
        LineResult(line.line_no, line.amount, discount=discounts.get(line.line_no, ZERO))
        for line in ctx.lines
        if not line.gift_card
    ]
    walk = _Walk(snapshot, ctx, snapshot.programmes[ctx.programme_id], lines)
    walk.occasion = result is None
    for step in result.counters if result is not None else ():
        if step.promotion_id is not None and before(step.promotion_id):
            walk.stepped[step.counter_id] = walk.stepped.get(step.counter_id, ZERO) + step.delta
    return walk


def _band_failures(walk: _Walk, promotion: PromotionRule) -> tuple[Failure, ...]:
    """Each banded reward whose measure fell below its first band: what it measured (on the
    reward's lines, those of its product set) and where the first band starts."""
    failures = []
    for reward in promotion.rewards:
        if not reward.bands:
            continue
        eligible = walk._matching(reward.product_set)
        measure = band_measure(reward, walk.lines, eligible, walk.inputs, walk.ctx.customer)
        if measure is None or band_index(reward.bands, measure) is not None:
            continue
        failures.append(
            Failure(
                "bands",
                {
                    "basis": reward.band_basis,
                    "measure": measure,
                    "lower": reward.bands[0].lower,
                    "product_set_id": reward.product_set.id if reward.product_set else None,
                },
            )
        )
    return tuple(failures)


def _condition_failure(walk: _Walk, condition: ConditionRule) -> Failure:
    """The value a condition that does not hold compared, and what it asks for."""
    params: dict[str, Any] = {
        "group": condition.or_group,
        "operator": condition.operator,
        "threshold": condition.amount if condition.amount is not None else condition.quantity,
    }
    kind = condition.kind
    customer = walk.ctx.customer
    if kind == "receipt_total":
        params["value"] = sum((line.amount - line.discount for line in walk.lines), ZERO)
    elif kind == "line_count":
        params["value"] = Decimal(len(walk.lines))
    elif kind in ("contains", "line"):
        matching = walk._matching(condition.product_set)
        params["product_set_id"] = condition.product_set.id if condition.product_set else None
        params["by_amount"] = condition.amount is not None
        if kind == "contains" and condition.amount is None:
            params["threshold"] = condition.quantity or Decimal(1)
        values = [
            line.amount - line.discount
            if condition.amount is not None
            else walk.inputs[line.line_no].quantity
            for line in matching
        ]
        if kind == "contains":
            params["value"] = sum(values, ZERO)
        elif values:  # the line that came closest
            params["value"] = min(values) if condition.operator == "lt" else max(values)
        else:
            params["value"] = None
    elif kind in ("counter_value", "nth_purchase"):
        counter_id = condition.counter_id
        known = customer is not None and counter_id in walk.counter_rules
        start = customer.counters.get(counter_id, ZERO) if customer and counter_id else ZERO
        step = walk._counter_step_now(counter_id) if known and counter_id is not None else ZERO
        params.update(
            counter_id=counter_id,
            before=start,
            value=start + step,
            step=step,
            anonymous=customer is None,
        )
    elif kind == "customer_tier":
        params.update(
            tier_id=customer.tier_id if customer is not None else None,
            tier_ids=tuple(sorted(condition.tier_ids)),
            anonymous=customer is None,
        )
    elif kind == "promotion_done":
        params.update(promotion_id=condition.promotion_id, anonymous=customer is None)
    return Failure(kind, params)
