"""The plan of a confirmed purchase: everything it writes, decided before anything is written.

``purchase_plan`` turns what the engine gave (under the account locks) into one
``PurchasePlan``: the rows of the receipt and its lines, the posting specs (spend, exchanges,
earns) with the lots they take, the debt limits a spend raises, the tier move, the coupons
granted and redeemed, the certificates paid, the counters stepped and the answer stored for
replays. It writes nothing: ``processing.write`` writes a plan, through the ORM or the SQL fast
path, which it chooses once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from crm.models import Customer
from loyalty.models import Account, Card, Lot, Receipt, ReceiptTierAward, TierChange, TierMembership
from loyalty.money import ZERO
from loyalty.services.ledger import Actor, PostingSpec
from processing.api.answers import purchase_answer
from processing.outcome import (
    PurchaseOutcome,
    coupon_series_fired,
    earned_split,
    exchanged_main,
    purchase_outcome,
)
from processing.postings import earn_postings, exchange_specs, spend_posting
from processing.sale import PurchaseRequest, Sale
from processing.tiers import tier_move, tier_progress_step
from promotions.engine import EngineResult, ReceiptContext
from promotions.engine.types import ExchangeOutcome, TierAward


@dataclass
class Locked:
    """What a confirm holds and reads under its locks."""

    accounts: dict[int, Account]  # the customer's, by currency id
    lots: list[Lot] | None  # the open lots of the locked accounts, when read with the locks
    membership: TierMembership | None = None  # the tier membership, locked (None: none yet)
    membership_read: bool = False  # whether ``membership`` was read (a customer with tiers)
    fast: bool = False  # the locks were taken through processing.fastpath
    # Filled once the locks are held (``processing.confirm``):
    main: Account | None = None  # the account of the programme's main currency
    main_lots: list[Lot] | None = None  # its open lots, when read with the locks
    exchange_lots: list[Lot] | None = None  # the lots of the accounts exchanges are paid from

    @property
    def tier_id(self) -> int | None | bool:
        """The customer's tier under the locks; False when not read (no customer, no tiers)."""
        if not self.membership_read:
            return False
        return self.membership.tier_id if self.membership is not None else None


@dataclass
class TierPlan:
    """What a purchase does to the customer's tier in its programme."""

    name: str | None  # the tier named in the answer
    membership: TierMembership | None = None  # as it stands after the purchase (unsaved)
    changed: bool = False  # whether ``membership`` must be written
    awards: list[tuple[ReceiptTierAward, TierChange | None]] = field(default_factory=list)
    move: TierChange | None = None  # the move the receipt's money made (unsaved)


@dataclass
class PurchasePlan:
    """Everything a confirmed purchase writes."""

    sale: Sale
    request: PurchaseRequest
    state: Locked
    context: ReceiptContext
    result: EngineResult
    usage: object  # what the limited promotions' usage was locked at (promotions.usage)
    actor: Actor
    at: datetime  # the time of sale
    now: datetime  # the time of the write
    receipt_fields: dict
    line_fields: list[dict]
    spend: PostingSpec | None
    shortfall: Decimal  # what the spend took that no lot held (an offline receipt)
    exchanges: list[tuple[ExchangeOutcome, PostingSpec]]
    earns: list[tuple[object, PostingSpec]]  # (award, its earn posting)
    debt_limits: dict[int, Decimal]  # account pk -> the debt the spend lets it reach
    tier: TierPlan
    activate_card: bool  # an issued card's first purchase activates it
    outcome: PurchaseOutcome  # what the register is answered (its rendering is stored)

    @property
    def specs(self) -> list[PostingSpec]:
        """Every posting, in the order they are written."""
        return [
            *([self.spend] if self.spend is not None else []),
            *(spec for _outcome, spec in self.exchanges),
            *(spec for _award, spec in self.earns),
        ]

    @property
    def series_fired(self) -> dict[int, int]:
        return coupon_series_fired(self.sale, self.result)


def tier_money(result: EngineResult) -> Decimal:
    """What a purchase adds to the customer's tier progress: the money paid, gift cards sold
    apart (a gift card's money counts when it pays)."""
    return result.to_pay - result.gift_cards


def purchase_plan(
    sale: Sale,
    request: PurchaseRequest,
    fingerprint: str,
    state: Locked,
    context: ReceiptContext,
    result: EngineResult,
    usage,
    *,
    actor: Actor,
    at: datetime,
    now: datetime,
    offline: bool,
) -> PurchasePlan:
    """The plan of the purchase the engine evaluated under the locks ``state``."""
    main = state.main
    # The spend's legs first: an offline receipt may spend more than the lots hold.
    spend, shortfall, debt_limits = None, ZERO, {}
    if result.spent_points > 0 and main is not None:
        spend, shortfall, debt_limit = spend_posting(
            sale, main, result.spent_by_rule, now, actor, at, state.main_lots
        )
        if debt_limit is not None:
            debt_limits[main.pk] = debt_limit
    exchanges = exchange_specs(
        sale, result, state.accounts, state.exchange_lots, spend, now, actor, at
    )
    earns = earn_postings(sale, None, result, state.accounts, actor, at, now)
    tier = _tier_plan(sale, state, result)
    debt_policy = sale.programme.refund_shortfall_policy == "debt"
    active_earned, delayed_earned = earned_split(result, at, now)
    balance_before = main.balance if main else ZERO
    taken = result.spent_points - (ZERO if debt_policy else shortfall) + exchanged_main(result)
    outcome = purchase_outcome(
        request.receipt_id,
        Receipt.Status.CONFIRMED,
        sale,
        result,
        balance_before,
        balance_before - taken + active_earned,
        (main.pending if main else ZERO) + delayed_earned,
        tier=tier.name,
    )
    # The rendering the register is answered, stored for the retries to replay.
    outcome.stored = purchase_answer(outcome)
    terminal = sale.terminal
    receipt_fields = {
        "terminal_id": terminal.pk,
        "store_id": terminal.store_id,
        "partner_id": terminal.store.partner_id,
        "receipt_id": request.receipt_id,
        "status": Receipt.Status.CONFIRMED,
        "customer_id": sale.customer.pk if sale.customer else None,
        "card_id": sale.card.pk if sale.card else None,
        "currency_id": result.main_currency_id if sale.customer else None,
        "sold_at": at,
        "recorded_at": now,
        "is_offline": offline,
        "total": result.total,
        "discount": result.discount,
        "points_spent": result.points_spent,
        "to_pay": result.to_pay,
        "points_earned": result.points_earned,
        "spent_points": result.spent_points,
        "tier_amount": tier_money(result) if sale.customer else ZERO,
        "is_flagged": shortfall > 0,
        "offline_shortfall": shortfall,
        "fingerprint": fingerprint,
        "result": outcome.stored,
    }
    line_fields = [
        {
            "line_no": line.line_no,
            "sku": inp.sku,
            "product_id": inp.product_id,
            "quantity": inp.quantity,
            "price": inp.price,
            "amount": line.amount,
            "discount": line.discount,
            "points_spent": line.points_spent,
            "to_pay": line.to_pay,
            "points_earned": line.points_earned,
            "spent_points": line.spent_points,
            "refunded_quantity": ZERO,
        }
        for line, inp in zip(result.lines, context.lines, strict=True)
    ]
    return PurchasePlan(
        sale=sale,
        request=request,
        state=state,
        context=context,
        result=result,
        usage=usage,
        actor=actor,
        at=at,
        now=now,
        receipt_fields=receipt_fields,
        line_fields=line_fields,
        spend=spend,
        shortfall=shortfall,
        exchanges=exchanges,
        earns=earns,
        debt_limits=debt_limits,
        tier=tier,
        activate_card=sale.card is not None and sale.card.status == Card.Status.ISSUED,
        outcome=outcome,
    )


def _tier_plan(sale: Sale, state: Locked, result: EngineResult) -> TierPlan:
    """The customer's tier after the purchase: the tiers promotions give first (each raises the
    qualifying spend to its threshold), then the receipt's money counts towards the next tier
    as any receipt's does."""
    customer = sale.customer
    if customer is None:
        return TierPlan(name=None)
    programme_id = sale.programme.id
    tiers = sale.snapshot.tiers_of(programme_id)
    if not tiers:
        return TierPlan(name=None)
    membership = state.membership
    exists = membership is not None
    plan = TierPlan(name=None, membership=membership)
    if result.tier_awards:
        membership, exists = _awards_give(plan, customer, programme_id, tiers, result.tier_awards)
    name, moved, move = tier_progress_step(
        customer,
        programme_id,
        tiers,
        membership,
        exists,
        tier_money(result),
        TierChange.Reason.PURCHASE,
    )
    plan.name = name
    if moved is not None:
        plan.membership, plan.changed, plan.move = moved, True, move
    return plan


def _awards_give(
    plan: TierPlan, customer: Customer, programme_id: int, tiers, awards: list[TierAward]
) -> tuple[TierMembership | None, bool]:
    """Move the customer up to the tiers of ``awards`` (the lowest first): each raises their
    qualifying spend to its tier's threshold, so the ranking keeps them there and the nightly
    review treats them as anyone who reached it. A tier they already hold (or one below) gives
    nothing. Adds to ``plan`` the record of each move (for the refunds) and the change."""
    by_id = {tier.id: tier for tier in tiers}
    targets = sorted((a for a in awards if a.tier_id in by_id), key=lambda a: by_id[a.tier_id].rank)
    membership = plan.membership
    exists = membership is not None
    if not targets:
        return membership, exists
    if membership is None:  # a first purchase: the customer stands in the entry tier
        entry = min(by_id.values(), key=lambda tier: tier.threshold)
        membership = TierMembership(customer=customer, programme_id=programme_id, tier_id=entry.id)
        membership.qualifying_amount = ZERO
    for award in targets:
        target = by_id[award.tier_id]
        current = by_id.get(membership.tier_id)
        if current is not None and current.rank >= target.rank:
            continue
        before = (membership.tier_id if exists else None, membership.qualifying_amount)
        added = max(target.threshold - membership.qualifying_amount, ZERO)
        membership.qualifying_amount += added
        membership.tier_id = target.id
        membership.since = timezone.now()
        exists = True
        plan.membership, plan.changed = membership, True
        record = ReceiptTierAward(
            promotion_id=award.promotion_id,
            programme_id=programme_id,
            from_tier_id=before[0],
            to_tier_id=target.id,
            amount_added=added,
        )
        plan.awards.append((record, tier_move(membership, *before, TierChange.Reason.PROMOTION)))
    return membership, exists
