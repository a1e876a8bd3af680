"""The answer a register gets for a calculated or confirmed receipt, built from the engine's
result: every amount in its currency's places. A confirm stores this answer with the receipt
and a retry replays it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from loyalty.models import (
    TierMembership,
)
from loyalty.money import DECIMAL_PLACES, ZERO, quantize
from loyalty.services.certificates import (
    certificates_answer,
    certificates_apply,
)
from processing.sale import Sale
from promotions.coupons import (
    coupons_applied,
)
from promotions.engine import EngineResult
from promotions.engine.types import ExchangeOutcome


def money_text(value: Decimal) -> str:
    return str(quantize(value, DECIMAL_PLACES))


def points_text(value: Decimal, places: int) -> str:
    return str(quantize(value, places))


def render(
    receipt_id: str,
    status: str,
    sale: Sale,
    result: EngineResult,
    balance_before: Decimal,
    balance_after: Decimal,
    pending_after: Decimal,
    tier: str | None | bool = False,
) -> dict:
    places = (
        sale.snapshot.currencies[result.main_currency_id].decimal_places
        if result.main_currency_id
        else DECIMAL_PLACES
    )
    paying = sale.certificates is not None
    if sale.certificates is not None:
        certificates_apply(sale.certificates, result.certificate_paid)
    if tier is False:
        tier = None
    if tier is None and sale.customer is not None:
        facts = sale.facts
        if facts is not None:
            names = {t.id: t.name for t in sale.snapshot.tiers_of(sale.programme.id)}
            tier = names.get(facts.tier_id) if facts.tier_id is not None else None
        else:
            tier = (
                TierMembership.objects.filter(
                    customer=sale.customer, programme_id=sale.programme.id
                )
                .values_list("tier__name", flat=True)
                .first()
            )
    promotions = [
        {
            "id": award.promotion_id,
            "name": award.name,
            "effect": "discount",
            "amount": money_text(award.amount),
        }
        for award in result.discounts
    ] + [
        {
            "id": award.promotion_id,
            "name": award.name,
            "effect": "points",
            "amount": points_text(
                award.amount, sale.snapshot.currencies[award.currency_id].decimal_places
            ),
            "currency": sale.snapshot.currencies[award.currency_id].code,
            **({"to": "referrer"} if award.beneficiary == "referrer" else {}),
        }
        for award in result.awards
    ]
    return {
        "receipt_id": receipt_id,
        "status": status,
        "customer": (
            {"id": sale.customer.public_id, "tier": tier} if sale.customer is not None else None
        ),
        "total": money_text(result.total),
        "discount": money_text(result.discount),
        "points_spent": money_text(result.points_spent),
        "to_pay": money_text(result.to_pay),
        "points_earned": points_text(result.points_earned, places),
        "balance": {
            "before": points_text(balance_before, places),
            "after": points_text(balance_after, places),
            "pending": points_text(pending_after, places),
        },
        "lines": [
            {
                "line": line.line_no,
                "amount": money_text(line.amount),
                "discount": money_text(line.discount),
                "points_spent": money_text(line.points_spent),
                "to_pay": money_text(line.to_pay),
                "points_earned": points_text(line.points_earned, places),
                **({"certificate_paid": money_text(line.certificate_paid)} if paying else {}),
            }
            for line in result.lines
        ],
        "promotions": promotions,
        "coupons": coupons_applied(sale.coupons, coupon_series_fired(sale, result))
        if sale.coupons
        else [],
        "messages": [*result.messages, *sale.notes] if sale.notes else result.messages,
        **(
            {"exchanges": [exchange_entry(sale, outcome) for outcome in result.exchanges]}
            if result.exchanges
            else {}
        ),
        **(
            {
                "certificate_paid": money_text(result.certificate_paid),
                "to_pay_in_money": money_text(result.to_pay - result.certificate_paid),
                "certificates": certificates_answer(sale.certificates),
            }
            if paying
            else {}
        ),
    }


def exchange_entry(sale: Sale, outcome: ExchangeOutcome) -> dict:
    """An exchange in the answer: applied with its price, or rejected with the reason."""
    entry: dict = {"code": outcome.code, "status": outcome.status}
    if outcome.promotion_id is not None:  # an exchange promotion's, with its price
        assert outcome.currency_id is not None
        assert outcome.cost is not None
        currency = sale.snapshot.currencies[outcome.currency_id]
        entry["promotion_id"] = outcome.promotion_id
        entry["currency"] = currency.code
        entry["cost"] = points_text(outcome.cost, currency.decimal_places)
    if outcome.reason is not None:
        entry["reason"] = outcome.reason
    return entry


def exchanged_main(result: EngineResult) -> Decimal:
    """What the applied exchanges take from the main-currency balance."""
    return sum(
        (
            o.cost
            for o in result.exchanged
            if o.currency_id == result.main_currency_id and o.cost is not None  # all: applied
        ),
        ZERO,
    )


def coupon_series_fired(sale: Sale, result: EngineResult) -> dict[int, int]:
    """The promotions that fired and require a coupon, with their series (those coupons are
    used)."""
    fired = result.fired() | {award.promotion_id for award in result.discounts}
    fired |= {award.promotion_id for award in result.awards}
    fired |= {award.promotion_id for award in result.coupons_issued}
    return {
        promotion.id: promotion.coupon_series_id
        for promotion in sale.snapshot.promotions
        if promotion.id in fired and promotion.coupon_series_id is not None
    }


def earned_split(result: EngineResult, at: datetime, now: datetime) -> tuple[Decimal, Decimal]:
    """(active now, pending) parts of the main-currency points the result earns."""
    active = pending = ZERO
    for award in result.awards:
        if award.currency_id != result.main_currency_id or award.beneficiary != "customer":
            continue
        if at + award.activation_delay > now:
            pending += award.amount
        else:
            active += award.amount
    return active, pending


def coupons_answer(coupons) -> list[dict]:
    """The coupons a purchase issued for the next one, as the confirm answer lists them."""
    return [
        {
            "code": coupon.code,
            "valid_from": coupon.valid_from.isoformat(),
            "valid_until": coupon.valid_until.isoformat() if coupon.valid_until else None,
        }
        for coupon in coupons
    ]
