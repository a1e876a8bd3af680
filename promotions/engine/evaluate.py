"""The pure evaluation of one receipt against a rules snapshot.

Order of money on a receipt (mechanics.md): discounts first, then points spent, then points
earned on what is left to pay in money. Every receipt-level value is rounded half-up once and
spread over the lines by the largest-remainder method, so lines add up exactly to the totals.

This first version knows the base accrual rewards (a percent of the amount paid, a fixed
number per receipt) and the redemption rules of the programme; the promotion engine of issue #4
fills in conditions, discounts and compatibility behind the same function.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from loyalty.money import ZERO, allocate, quantize
from promotions.engine.types import (
    SPEND_MAX,
    Award,
    CounterStep,
    EngineResult,
    LineResult,
    PromotionRule,
    ReceiptContext,
    RulesSnapshot,
)

HUNDRED = Decimal("100")


def evaluate(snapshot: RulesSnapshot, ctx: ReceiptContext) -> EngineResult:
    """Return discounts, points to spend and earn, counters and messages for ``ctx``."""
    programme = snapshot.programmes[ctx.programme_id]
    main_currency = (
        snapshot.currencies.get(programme.main_currency_id)
        if programme.main_currency_id is not None
        else None
    )
    lines = [LineResult(line_no=line.line_no, amount=line.amount) for line in ctx.lines]
    total = sum((line.amount for line in lines), ZERO)
    blocked: list[tuple[int, str]] = []
    messages: list[str] = []

    applicable: list[PromotionRule] = []
    for promotion in snapshot.promotions:
        reason = _out_of_scope(promotion, ctx)
        if reason is None:
            applicable.append(promotion)
        elif reason != "other_programme":
            blocked.append((promotion.id, reason))

    # 1. Discounts (issue #4). 2. Points spent.
    discount = sum((line.discount for line in lines), ZERO)
    spent_points = ZERO
    points_spent = ZERO
    if ctx.customer is not None and main_currency is not None:
        spent_points, points_spent = _spend(programme, main_currency, ctx, total - discount)
    if points_spent:
        weights = [line.amount - line.discount for line in lines]
        for line, part in zip(lines, allocate(points_spent, weights), strict=True):
            line.points_spent = part
        points_weights = [line.points_spent for line in lines]
        for line, part in zip(
            lines,
            allocate(spent_points, points_weights, main_currency.decimal_places),
            strict=True,
        ):
            line.spent_points = part
    for line in lines:
        line.to_pay = line.amount - line.discount - line.points_spent
    to_pay = sum((line.to_pay for line in lines), ZERO)

    # 3. Points earned on what is left to pay in money.
    awards: list[Award] = []
    for promotion in sorted(applicable, key=lambda p: (-p.priority, p.id)):
        if ctx.customer is None:
            blocked.append((promotion.id, "anonymous_customer"))
            continue
        for reward in promotion.rewards:
            currency = snapshot.currencies[reward.currency_id]
            places = currency.decimal_places
            weights = [line.to_pay for line in lines]
            if reward.kind == "points_percent":
                amount = quantize(to_pay * reward.value / HUNDRED, places)
            elif reward.kind == "points_fixed":
                amount = quantize(reward.value, places)
                if not any(weights):
                    weights = [line.amount for line in lines]
                if not any(weights):
                    weights = [Decimal(1)] + [ZERO] * (len(lines) - 1)
            else:
                continue
            if amount <= 0 or not lines:
                continue
            per_line = dict(
                zip(
                    (line.line_no for line in lines),
                    allocate(amount, weights, places),
                    strict=True,
                )
            )
            awards.append(
                Award(
                    promotion_id=promotion.id,
                    reward_id=reward.id,
                    name=promotion.name,
                    currency_id=reward.currency_id,
                    amount=amount,
                    per_line={k: v for k, v in per_line.items() if v},
                    activation_delay=reward.activation_delay,
                    lifetime=reward.lifetime,
                )
            )
        if promotion.cashier_message:
            messages.append(promotion.cashier_message)

    earned = ZERO
    if main_currency is not None:
        by_line = {line.line_no: line for line in lines}
        for award in awards:
            if award.currency_id != main_currency.id:
                continue
            earned += award.amount
            for line_no, part in award.per_line.items():
                by_line[line_no].points_earned += part

    counters = _counter_steps(snapshot, ctx, to_pay) if ctx.customer is not None else []
    return EngineResult(
        total=total,
        discount=discount,
        points_spent=points_spent,
        spent_points=spent_points,
        to_pay=to_pay,
        points_earned=earned,
        lines=lines,
        awards=awards,
        discounts=[],
        counters=counters,
        blocked=blocked,
        messages=messages,
        main_currency_id=main_currency.id if main_currency else None,
    )


def _out_of_scope(promotion: PromotionRule, ctx: ReceiptContext) -> str | None:
    if promotion.programme_id != ctx.programme_id:
        return "other_programme"
    if promotion.partner_id is not None and promotion.partner_id != ctx.partner_id:
        return "other_partner"
    if promotion.status != "active":
        return "not_active"
    if ctx.at < promotion.starts_at or (promotion.ends_at and ctx.at >= promotion.ends_at):
        return "outside_period"
    return None


def _spend(programme, currency, ctx: ReceiptContext, payable: Decimal) -> tuple[Decimal, Decimal]:
    """Return (points debited, money they pay) within the programme's redemption rules."""
    if ctx.spend_requested in (None, ZERO) or currency.rub_rate <= 0 or payable <= 0:
        return ZERO, ZERO
    cap_money = min(
        (payable * programme.max_spend_percent / HUNDRED).quantize(
            Decimal("0.01"), rounding=ROUND_DOWN
        ),
        payable - programme.min_money_payment,
    )
    if cap_money <= 0:
        return ZERO, ZERO
    unit = Decimal(1).scaleb(-currency.decimal_places)
    cap_points = (cap_money / currency.rub_rate).quantize(unit, rounding=ROUND_DOWN)
    source = programme.offline_spend_cap if ctx.offline else ctx.points_available
    points = min(cap_points, max(source, ZERO))
    if ctx.spend_requested != SPEND_MAX:
        points = min(points, Decimal(ctx.spend_requested))
    points = points.quantize(unit, rounding=ROUND_DOWN)
    while points > 0 and quantize(points * currency.rub_rate) > cap_money:
        points -= unit
    if points <= 0:
        return ZERO, ZERO
    return points, quantize(points * currency.rub_rate)


def period_start(period: str, day: date) -> date:
    """The first day of the counter period that contains ``day``."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if period == "year":
        return day.replace(month=1, day=1)
    return date(1970, 1, 1)


def _counter_steps(snapshot: RulesSnapshot, ctx: ReceiptContext, to_pay: Decimal):
    steps = []
    for counter in snapshot.counters:
        if counter.programme_id != ctx.programme_id:
            continue
        if counter.unit == "purchases":
            delta = Decimal(1)
        elif counter.unit == "amount":
            delta = to_pay
        elif counter.unit == "quantity":
            delta = sum((line.quantity for line in ctx.lines), ZERO)
        else:
            continue
        if delta:
            steps.append(
                CounterStep(counter.id, period_start(counter.period, ctx.local_date), delta)
            )
    return steps
