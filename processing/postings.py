"""What a confirmed purchase posts: the spend (from the lots, first-expiring first, with an
offline shortfall covered by the programme or left as a debt), the postings that pay for the
exchanges asked for, one earn posting per award (a lot with its activation and expiry), the
per-line record of what each promotion gave, the counters stepped and the occasions sent."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import F

from crm.signals import occasion_send
from loyalty.errors import (
    InsufficientPoints,
)
from loyalty.models import (
    Account,
    CounterValue,
    LedgerEntry,
    Posting,
    Receipt,
    ReceiptCounterEffect,
    ReceiptExchange,
    ReceiptLineReward,
)
from loyalty.money import ZERO
from loyalty.services.ledger import (
    Leg,
    PostingSpec,
    partner_account,
    programme_account,
)
from loyalty.services.lots import lots_take_legs, spend_legs
from processing.sale import Sale, store_local
from promotions.engine import EngineResult
from promotions.engine.types import ExchangeOutcome

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


def spend_posting(
    sale, main, by_rule, now, actor, at, lots=None
) -> tuple[PostingSpec, Decimal, Decimal | None]:
    """The spend posting of the points ``by_rule`` (spending rule id, None for unrestricted:
    points) from ``main``'s lots, the part no lot covered and, when the programme lets that
    part be a debt, the debt limit the account needs for it (None: no debt)."""
    partner = sale.terminal.store.partner
    points = sum(by_rule.values(), ZERO)
    legs, shortfall = spend_legs(main, by_rule, now, lots)
    currency = main.currency_id
    legs.append(Leg(account=partner_account(partner, currency), amount=points))
    debt_limit = None
    if shortfall:
        if sale.programme.refund_shortfall_policy == "debt":
            debt_limit = -(main.balance - points)
            legs.append(Leg(account=main, amount=-shortfall))
        else:
            legs.append(
                Leg(
                    account=programme_account(currency, Account.Purpose.SHORTFALL),
                    amount=-shortfall,
                )
            )
    spec = PostingSpec(
        kind=Posting.Kind.SPEND,
        cause=Posting.Cause.RECEIPT,
        actor=actor,
        legs=legs,
        partner=partner,
        occurred_at=at,
    )
    return spec, shortfall, debt_limit


def exchange_specs(
    sale, result, locked, lots, spend, now, actor, at
) -> list[tuple[ExchangeOutcome, PostingSpec]]:
    """The posting that pays for each exchange applied: its price taken from the customer's
    lots of the exchange currency, first-expiring first (after what the receipt's spend
    takes from them), to the selling partner's account, as a spend would go.

    Raises ``InsufficientPoints`` if the lots do not hold the price (the engine was given
    what they hold, so only a bug gets here)."""
    if not result.exchanged:
        return []
    partner = sale.terminal.store.partner
    taken: dict[int, Decimal] = defaultdict(Decimal)
    if spend is not None:
        for leg in spend.legs:
            if leg.lot is not None:
                taken[leg.lot.pk] -= leg.amount
    specs = []
    for outcome in result.exchanged:
        account = locked.get(outcome.currency_id)
        if account is None:
            raise InsufficientPoints(currency=outcome.currency_id)
        legs = lots_take_legs(account, outcome.cost, now, lots, taken)
        legs.append(Leg(account=partner_account(partner, account.currency_id), amount=outcome.cost))
        spec = PostingSpec(
            kind=Posting.Kind.EXCHANGE,
            cause=Posting.Cause.RECEIPT,
            actor=actor,
            legs=legs,
            partner=partner,
            cause_ref=f"exchange:{outcome.code}"[:128],
            occurred_at=at,
        )
        specs.append((outcome, spec))
    return specs


def exchanges_record(receipt: Receipt, exchanges) -> None:
    """Keep what the purchase exchanged, so that a cancel gives the points back once."""
    ReceiptExchange.objects.bulk_create(
        [
            ReceiptExchange(
                receipt=receipt,
                promotion_id=outcome.promotion_id,
                code=outcome.code,
                currency_id=outcome.currency_id,
                cost=outcome.cost,
                lines=list(outcome.lines),
                posting_id=spec.entries[0].posting.pk,
            )
            for outcome, spec in exchanges
        ]
    )


def earn_postings(
    sale, receipt, result, locked, actor, at, now
) -> list[tuple[object, PostingSpec]]:
    """One earn posting per award: a lot on the customer's account against the partner's."""
    partner = sale.terminal.store.partner
    earn_specs = []
    for award in result.awards:
        if award.beneficiary == "referrer":
            account = sale.referrer_accounts.get(award.currency_id)
            if account is None:
                continue  # the referrer is gone (anonymised): nobody to give them to
        else:
            account = locked[award.currency_id]
        active_at = at + award.activation_delay
        lifetime = award.lifetime
        if lifetime is None and award.expires_on is None:  # the reward leaves it to the currency
            lifetime = sale.snapshot.currencies[award.currency_id].lifetime
        expires_at = at + lifetime if lifetime else None
        if award.expires_on is not None:
            # Spendable through the whole last day on the store's calendar.
            zone = store_local(sale.terminal, at).tzinfo
            burns = datetime.combine(
                award.expires_on + timedelta(days=1), datetime.min.time(), tzinfo=zone
            )
            expires_at = min(expires_at, burns) if expires_at else burns
        bucket = PENDING if active_at > now else ACTIVE
        currency = award.currency_id
        spec = PostingSpec(
            kind=Posting.Kind.EARN,
            cause=Posting.Cause.RECEIPT,
            actor=actor,
            legs=[
                Leg(
                    account=account,
                    amount=award.amount,
                    bucket=bucket,
                    active_at=active_at,
                    expires_at=expires_at,
                    spend_rule_id=award.spend_rule_id,
                ),
                Leg(account=partner_account(partner, currency), amount=-award.amount),
            ],
            partner=partner,
            receipt=receipt,
            cause_ref=f"promotion:{award.promotion_id}",
            occurred_at=at,
        )
        earn_specs.append((award, spec))
    return earn_specs


@dataclass(frozen=True)
class LineReward:
    line_no: int
    promotion_id: int
    effect: str
    currency_id: int | None
    amount: Decimal
    lot_id: int | None


def line_rewards(result, earn_specs) -> list[LineReward]:
    """Per line and per promotion, what the purchase gave (the earn specs must be written)."""
    rewards = []
    for award, spec in earn_specs:
        lot_id = spec.entries[0].pk
        for line_no, amount in award.per_line.items():
            rewards.append(
                LineReward(
                    line_no,
                    award.promotion_id,
                    ReceiptLineReward.Effect.POINTS,
                    award.currency_id,
                    amount,
                    lot_id,
                )
            )
    for award in result.discounts:
        for line_no, amount in award.per_line.items():
            rewards.append(
                LineReward(
                    line_no,
                    award.promotion_id,
                    ReceiptLineReward.Effect.DISCOUNT,
                    None,
                    amount,
                    None,
                )
            )
    return rewards


def counters_step(sale: Sale, receipt: Receipt, result: EngineResult) -> list[tuple]:
    """Step the customer's counters; return (counter id, period start, before, after) of each
    (the customer's accounts are locked: nothing else steps them meanwhile)."""
    effects = []
    stepped = []
    for step in result.counters:
        value, _made = CounterValue.objects.get_or_create(
            counter_id=step.counter_id, customer=sale.customer, period_start=step.period_start
        )
        CounterValue.objects.filter(pk=value.pk).update(value=F("value") + step.delta)
        effects.append(ReceiptCounterEffect(receipt=receipt, value=value, delta=step.delta))
        stepped.append((step.counter_id, step.period_start, value.value, value.value + step.delta))
    ReceiptCounterEffect.objects.bulk_create(effects)
    return stepped


def occasions_send(sale: Sale, receipt: Receipt, stepped: list[tuple], at: datetime) -> None:
    """Tell the promotions waiting for them about the purchase's occasions: the customer's
    first purchase, counters stepped (their rewards join this transaction)."""
    kinds = sale.snapshot.occasion_kinds
    customer, terminal = sale.customer, sale.terminal
    assert customer is not None  # the caller: a customer's purchase
    waiting = sale.snapshot.occasions_of("first_purchase") if "first_purchase" in kinds else []
    if customer.referrer_id is None:  # refer-a-friend rewards wait only for referred customers
        waiting = [rule for rule in waiting if not rule.referred_only]
    if waiting:
        earlier = (
            Receipt.objects.filter(customer=customer)
            .exclude(pk=receipt.pk)
            .exclude(status=Receipt.Status.CANCELLED)
        )
        if not earlier.exists():
            occasion_send("first_purchase", customer, at, terminal=terminal, receipt=receipt)
    if "counter" in kinds:
        for counter_id, start, before, after in stepped:
            occasion_send(
                "counter",
                customer,
                at,
                terminal=terminal,
                counter_id=counter_id,
                period_start=start,
                before=before,
                after=after,
            )
