"""What ``calculate`` and ``confirm`` return: a ``PurchaseOutcome``, the result object of a
receipt (the engine's result, the balances before and after, the customer's tier, what became
of each coupon and certificate presented, the hold reserved, the coupons issued for the next
purchase). The API renders it (``processing.api.answers.purchase_answer``); a confirm stores
that rendering with the receipt, and a retry's outcome is the stored rendering itself
(``PurchaseOutcome.replay``), so a register is answered byte for byte what it was answered
first, whatever changed since.

``purchase_outcome`` does the domain's part of an answer: it splits what the engine let the
certificates pay over them, reads the customer's tier when the sale did not, and tells which
coupon codes were used. The helpers below it are what the plan and ``calculate`` reckon the
balances with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from loyalty.models import TierMembership
from loyalty.money import DECIMAL_PLACES, ZERO
from loyalty.services.certificates import (
    CertificateApplied,
    certificates_applied,
    certificates_apply,
)
from processing.sale import Sale
from promotions.coupons import CouponApplied, coupons_applied
from promotions.engine import EngineResult
from promotions.engine.types import CurrencyRule


@dataclass(frozen=True)
class HoldOutcome:
    """What a calculate with ``hold`` reserved for its receipt id, until when."""

    points: Decimal
    expires_at: datetime | None  # None: nothing was reserved
    coupons: list[str]
    certificates: list[tuple[str, Decimal]] | None  # None: the receipt names no certificate


@dataclass
class PurchaseOutcome:
    """A calculated or confirmed receipt, or (``replayed``) the answer a confirm stored."""

    receipt_id: str
    status: str  # "calculated" or "confirmed"
    result: EngineResult | None = None  # None: a replay
    currencies: Mapping[int, CurrencyRule] = field(default_factory=dict)
    customer_id: object | None = None  # the customer's public id; None: an anonymous receipt
    tier: str | None = None
    balance_before: Decimal = ZERO  # main-currency points
    balance_after: Decimal = ZERO
    pending: Decimal = ZERO  # earned points that are not active yet, after the receipt
    messages: list[str] = field(default_factory=list)
    coupons: list[CouponApplied] = field(default_factory=list)
    certificates: list[CertificateApplied] | None = None  # None: the receipt names none
    hold: HoldOutcome | None = None  # a calculate with ``hold`` only
    coupons_issued: list | None = None  # the coupons a confirm issued for the next purchase
    stored: dict | None = None  # the rendering stored with the receipt (a replay: only this)

    @classmethod
    def replay(cls, stored: dict) -> PurchaseOutcome:
        """The outcome of a retry: what the first confirm answered, as it stored it."""
        return cls(receipt_id=stored["receipt_id"], status=stored["status"], stored=stored)

    @property
    def replayed(self) -> bool:
        return self.result is None

    @property
    def places(self) -> int:
        """The decimal places of the main currency's points."""
        if self.result is None or not self.result.main_currency_id:
            return DECIMAL_PLACES
        return self.currencies[self.result.main_currency_id].decimal_places


def purchase_outcome(
    receipt_id: str,
    status: str,
    sale: Sale,
    result: EngineResult,
    balance_before: Decimal,
    balance_after: Decimal,
    pending_after: Decimal,
    tier: str | None | bool = False,
) -> PurchaseOutcome:
    """The outcome of ``result`` for ``sale``; without a ``tier`` name, the customer's tier is
    read."""
    if sale.certificates is not None:
        certificates_apply(sale.certificates, result.certificate_paid)
    if not isinstance(tier, str):
        tier = _tier_name(sale)
    return PurchaseOutcome(
        receipt_id=receipt_id,
        status=status,
        result=result,
        currencies=sale.snapshot.currencies,
        customer_id=sale.customer.public_id if sale.customer is not None else None,
        tier=tier,
        balance_before=balance_before,
        balance_after=balance_after,
        pending=pending_after,
        messages=[*result.messages, *sale.notes] if sale.notes else result.messages,
        coupons=coupons_applied(sale.coupons, coupon_series_fired(sale, result))
        if sale.coupons
        else [],
        certificates=certificates_applied(sale.certificates)
        if sale.certificates is not None
        else None,
    )


def _tier_name(sale: Sale) -> str | None:
    if sale.customer is None:
        return None
    facts = sale.facts
    if facts is not None:
        names = {t.id: t.name for t in sale.snapshot.tiers_of(sale.programme.id)}
        return names.get(facts.tier_id) if facts.tier_id is not None else None
    return (
        TierMembership.objects.filter(customer=sale.customer, programme_id=sale.programme.id)
        .values_list("tier__name", flat=True)
        .first()
    )


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
