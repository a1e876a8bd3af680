"""The API's rendering of a ``PurchaseOutcome``: every amount a string in its currency's
places, in the order pos-api.md documents. A confirm stores this rendering with the receipt;
a replayed outcome is answered as it was stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty.money import money_text, points_text
from processing.outcome import PurchaseOutcome

if TYPE_CHECKING:  # the offline upload confirms, and a confirm stores this rendering
    from processing.offline import OfflineItem


def purchase_answer(outcome: PurchaseOutcome) -> dict:
    """The answer to a calculated or confirmed receipt (a replay: the stored one)."""
    if outcome.stored is not None:
        return outcome.stored
    result = outcome.result
    assert result is not None  # only a replay has none, and it has its stored answer
    places = outcome.places
    currencies = outcome.currencies
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
            "amount": points_text(award.amount, currencies[award.currency_id].decimal_places),
            "currency": currencies[award.currency_id].code,
            **({"to": "referrer"} if award.beneficiary == "referrer" else {}),
        }
        for award in result.awards
    ]
    paying = outcome.certificates is not None
    answer: dict[str, object] = {
        "receipt_id": outcome.receipt_id,
        "status": outcome.status,
        "customer": (
            {"id": outcome.customer_id, "tier": outcome.tier}
            if outcome.customer_id is not None
            else None
        ),
        "total": money_text(result.total),
        "discount": money_text(result.discount),
        "points_spent": money_text(result.points_spent),
        "to_pay": money_text(result.to_pay),
        "points_earned": points_text(result.points_earned, places),
        "balance": {
            "before": points_text(outcome.balance_before, places),
            "after": points_text(outcome.balance_after, places),
            "pending": points_text(outcome.pending, places),
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
        "coupons": [
            {"code": c.code, "status": c.status, "reason": c.reason} for c in outcome.coupons
        ],
        "messages": outcome.messages,
    }
    if result.exchanges:
        answer["exchanges"] = [_exchange(outcome, exchange) for exchange in result.exchanges]
    if outcome.certificates is not None:
        answer["certificate_paid"] = money_text(result.certificate_paid)
        answer["to_pay_in_money"] = money_text(result.to_pay - result.certificate_paid)
        answer["certificates"] = [_certificate(c) for c in outcome.certificates]
    if outcome.hold is not None:
        hold = outcome.hold
        answer["hold"] = {
            "points": points_text(hold.points, places),
            "expires_at": hold.expires_at.isoformat() if hold.expires_at is not None else None,
            "coupons": hold.coupons,
            **(
                {
                    "certificates": [
                        {"code": code, "amount": str(amount)} for code, amount in hold.certificates
                    ]
                }
                if hold.certificates is not None
                else {}
            ),
        }
    if outcome.coupons_issued:
        answer["coupons_issued"] = [
            {
                "code": coupon.code,
                "valid_from": coupon.valid_from.isoformat(),
                "valid_until": coupon.valid_until.isoformat() if coupon.valid_until else None,
            }
            for coupon in outcome.coupons_issued
        ]
    return answer


def _exchange(outcome: PurchaseOutcome, exchange) -> dict:
    """An exchange in the answer: applied with its price, or rejected with the reason."""
    entry: dict = {"code": exchange.code, "status": exchange.status}
    if exchange.promotion_id is not None:  # an exchange promotion's, with its price
        assert exchange.currency_id is not None
        assert exchange.cost is not None
        currency = outcome.currencies[exchange.currency_id]
        entry["promotion_id"] = exchange.promotion_id
        entry["currency"] = currency.code
        entry["cost"] = points_text(exchange.cost, currency.decimal_places)
    if exchange.reason is not None:
        entry["reason"] = exchange.reason
    return entry


def _certificate(applied) -> dict:
    entry: dict = {"code": applied.code, "status": applied.status}
    if applied.status == "rejected":
        entry["reason"] = applied.reason
    else:
        entry |= {
            "amount": str(applied.amount),
            "balance_before": str(applied.balance_before),
            "balance_after": str(applied.balance_after),
        }
    return entry


def offline_answer(items: list[OfflineItem]) -> list[dict]:
    """The upload's results, one per item in its order: the confirm's answer or the error."""
    return [_offline_item(item) for item in items]


def _offline_item(item: OfflineItem) -> dict:
    if item.outcome is not None:
        return {
            "receipt_id": item.receipt_id,
            "status": "ok",
            "result": purchase_answer(item.outcome),
        }
    exc = item.error
    assert exc is not None
    return {
        "receipt_id": item.receipt_id,
        "status": "error",
        "error": {
            "code": exc.code,
            "status": exc.status,
            "detail": str(exc.detail),
            **({"errors": exc.details["errors"]} if "errors" in exc.details else {}),
        },
    }
