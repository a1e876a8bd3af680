"""The back-test: a promotion run over past receipts, to see what it would have cost.

Every receipt of the period and stores that was confirmed and not cancelled is evaluated twice
by the engine the registers use: with the rules as they are (every active promotion, less the
one tested) and with the tested promotion added as if active. Its own discounts and points are
what it would have given; the difference between the two runs is what it would have changed,
which may be less: through a compatibility group it can take lines from other promotions, and
a discount lowers the points earned on what is left to pay. Nothing is written.

What the back-test cannot know, and how it stands in for it (docs/marketer-guide.md):

- the tested promotion's own period is replaced by the back-test's (a draft usually starts in
  the future); its days of the week, hours, stores, tiers and conditions apply as set;
- the other promotions are as they are now: one finished since does not run, and their own
  periods apply;
- the customer's tier is their tier now, not the one they had at the time of sale, and so are
  their favourite products (read only when a promotion rewards favourites);
- products are the ones recorded on the lines, with the catalogue's categories and brands now;
- the points paid on a receipt are spent again as far as the rules then allow; coupons and
  refunds are not replayed.

A banded reward (promotions.engine.bands) is computed band by band like any reward, and what
each band gave is reported apart. Bands by the customer's spend are refused: the spend each
customer had at each past sale is not kept, and the spend now would put them in too high a
band.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from loyalty.models import FavouriteProduct, Receipt, ReceiptLine, TierMembership
from loyalty.money import ZERO, quantize
from promotions.engine import (
    CustomerFacts,
    EngineResult,
    LineInput,
    ReceiptContext,
    RulesSnapshot,
    evaluate,
)
from promotions.engine.bands import CUSTOMER_SPEND, BandHit
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_compile

# Receipts read per query (with their lines); a run never holds more of them in memory.
CHUNK_SIZE = 500


@dataclass
class CurrencyFigures:
    """Points of one currency: what the tested promotion gives, and how every promotion's
    points on the same receipts change with it. Worth is in roubles at the currency's rate."""

    code: str
    rub_rate: Decimal
    decimal_places: int
    points: Decimal = ZERO
    points_change: Decimal = ZERO

    @property
    def worth(self) -> Decimal:
        return quantize(self.points * self.rub_rate)

    @property
    def worth_change(self) -> Decimal:
        return quantize(self.points_change * self.rub_rate)

    def as_json(self) -> dict[str, str]:
        return {
            "points": str(quantize(self.points, self.decimal_places)),
            "worth": str(self.worth),
            "points_change": str(quantize(self.points_change, self.decimal_places)),
            "worth_change": str(self.worth_change),
        }


class BacktestRefused(Exception):
    """The back-test cannot compute this promotion; the message says why, for a marketer."""


@dataclass
class BandFigures:
    """What one band of a banded reward gave: on how many receipts, and how much (money for a
    discount, points of the reward's currency)."""

    reward: int  # the reward's place in the promotion, from 1
    band: int  # the band's place, from 1
    lower: Decimal
    upper: Decimal | None
    value: Decimal
    unit: str  # RUB, or the currency's code
    receipts: int = 0
    amount: Decimal = ZERO

    def as_json(self) -> dict:
        return {
            "reward": self.reward,
            "band": self.band,
            "from": _plain(self.lower),
            "to": None if self.upper is None else _plain(self.upper),
            "value": _plain(self.value),
            "unit": self.unit,
            "receipts": self.receipts,
            "amount": str(self.amount),
        }


def _plain(value: Decimal) -> str:
    """A decimal without trailing zeros and never in scientific notation ("10", not "1E+1")."""
    return format(value.normalize(), "f")


@dataclass
class BacktestFigures:
    """What a back-test found. Money in roubles with 2 places; points in each currency's
    places, summed exactly and valued once per currency (half-up to the kopeck)."""

    receipts_examined: int = 0
    receipts_fired: int = 0
    customers_reached: int = 0
    discount_amount: Decimal = ZERO  # the tested promotion's discounts
    discount_change: Decimal = ZERO  # every promotion's discounts: with it minus without it
    currencies: dict[int, CurrencyFigures] = field(default_factory=dict)
    # The tested promotion's banded rewards, by (reward id, band index).
    bands: dict[tuple[int, int], BandFigures] = field(default_factory=dict)

    def bands_json(self) -> list[dict]:
        return [self.bands[key].as_json() for key in sorted(self.bands, key=self._band_order)]

    def _band_order(self, key: tuple[int, int]) -> tuple[int, int]:
        return (self.bands[key].reward, self.bands[key].band)

    @property
    def points_worth(self) -> Decimal:
        return sum((c.worth for c in self.currencies.values()), ZERO)

    @property
    def points_worth_change(self) -> Decimal:
        return sum((c.worth_change for c in self.currencies.values()), ZERO)

    @property
    def total_cost(self) -> Decimal:
        return self.discount_amount + self.points_worth

    @property
    def net_change(self) -> Decimal:
        return self.discount_change + self.points_worth_change

    def points_json(self) -> dict[str, dict[str, str]]:
        """Per currency code, the currencies with anything to show."""
        return {
            c.code: c.as_json()
            for c in sorted(self.currencies.values(), key=lambda c: c.code)
            if c.points or c.points_change
        }


def backtest_run(backtest) -> BacktestFigures:
    """Back-test ``backtest.promotion`` over the receipts of [``since``, ``until``) at
    ``backtest.stores`` (none chosen: every store of the promotion's partner, else of the
    programme's partner, else every store). Reads only; the caller stores the figures."""
    return backtest_evaluate(
        promotion=backtest.promotion,
        since=backtest.since,
        until=backtest.until,
        store_ids=[store.pk for store in backtest.stores.all()],
    )


def backtest_evaluate(
    *,
    promotion: Promotion,
    since: datetime,
    until: datetime,
    store_ids: Iterable[int] = (),
) -> BacktestFigures:
    """Evaluate every receipt of the period and stores with and without ``promotion``; raise
    ``BacktestRefused`` for what cannot be computed (bands by the customer's spend)."""
    with_it, without_it = _snapshots(promotion, since, until)
    tested_rule = next((rule for rule in with_it.promotions if rule.id == promotion.pk), None)
    rewards = tested_rule.rewards if tested_rule is not None else ()
    if any(reward.bands and reward.band_basis == CUSTOMER_SPEND for reward in rewards):
        raise BacktestRefused(
            _(
                "Bands by the customer's spend cannot be back-tested: the spend each customer "
                "had at each past sale is not kept. Try the promotion in the simulator."
            )
        )
    figures = BacktestFigures()
    customers: set[int] = set()
    tested = promotion.pk
    for receipt, ctx in _contexts(with_it, _receipts(promotion, since, until, store_ids)):
        figures.receipts_examined += 1
        if ctx is None:  # no programme takes this store's receipts any more
            continue
        result = evaluate(with_it, ctx)
        baseline = evaluate(without_it, ctx)
        fired = _add_own(figures, with_it, result, tested)
        _add_bands(figures, with_it, result.bands, tested)
        _add_change(figures, with_it, result, baseline)
        if fired:
            figures.receipts_fired += 1
            if receipt.customer_id is not None:
                customers.add(receipt.customer_id)
    figures.customers_reached = len(customers)
    return figures


def _snapshots(promotion: Promotion, since: datetime, until: datetime):
    """The rules with the promotion (as if active, over the back-test's period) and without it.
    Compiled once per run, from the database as it is now."""
    with_it = snapshot_compile(f"backtest-{promotion.pk}", drafts=[promotion.pk])
    promotions = tuple(
        replace(rule, starts_at=since, ends_at=until) if rule.id == promotion.pk else rule
        for rule in with_it.promotions
    )
    with_it = replace(with_it, promotions=promotions)
    without_it = replace(
        with_it, promotions=tuple(rule for rule in promotions if rule.id != promotion.pk)
    )
    return with_it, without_it


def _receipts(promotion: Promotion, since: datetime, until: datetime, store_ids: Iterable[int]):
    receipts = Receipt.objects.filter(sold_at__gte=since, sold_at__lt=until).exclude(
        status=Receipt.Status.CANCELLED
    )
    store_ids = list(store_ids)
    if store_ids:
        return receipts.filter(store_id__in=store_ids)
    partner_id = promotion.partner_id or promotion.programme.partner_id
    if partner_id is not None:
        return receipts.filter(partner_id=partner_id)
    return receipts


def _chunks(receipts) -> Iterator[list[Receipt]]:
    """The receipts in pk order, ``CHUNK_SIZE`` at a time with their lines and products."""
    lines = ReceiptLine.objects.select_related("product").order_by("line_no")
    query = (
        receipts.select_related("store", "card", "customer")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("pk")
    )
    last = 0
    while True:
        chunk = list(query.filter(pk__gt=last)[:CHUNK_SIZE])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def _contexts(snapshot: RulesSnapshot, receipts):
    """Each receipt with the engine's context for it, built as the registers build it
    (processing.calculate), or None when no programme takes the receipt."""
    for chunk in _chunks(receipts):
        customer_ids = {r.customer_id for r in chunk if r.customer_id is not None}
        # The tier now stands in for the tier at the time of sale (see the module's docstring).
        tiers = {
            (customer_id, programme_id): tier_id
            for customer_id, programme_id, tier_id in TierMembership.objects.filter(
                customer_id__in=customer_ids
            ).values_list("customer_id", "programme_id", "tier_id")
        }
        favourites: dict[tuple[int, int], set[int]] = {}
        if "favourites" in snapshot.needs:
            for customer_id, programme_id, product_id in FavouriteProduct.objects.filter(
                customer_id__in=customer_ids
            ).values_list("customer_id", "programme_id", "product_id"):
                favourites.setdefault((customer_id, programme_id), set()).add(product_id)
        for receipt in chunk:
            yield receipt, _context(snapshot, receipt, tiers, favourites)


def _context(
    snapshot: RulesSnapshot, receipt: Receipt, tiers, favourites=None
) -> ReceiptContext | None:
    card = receipt.card
    programme = snapshot.programme_for(
        receipt.partner_id, card.programme_id if card is not None else None
    )
    if programme is None:
        return None
    customer = None
    if receipt.customer_id is not None:
        customer = CustomerFacts(
            id=receipt.customer_id,
            tier_id=tiers.get((receipt.customer_id, programme.id))
            or snapshot.entry_tier_id(programme.id),
            card_type=card.card_type if card is not None else None,
            registered_at=receipt.customer.registered_at,
            favourite_product_ids=frozenset(
                (favourites or {}).get((receipt.customer_id, programme.id), ())
            ),
        )
    local = receipt.sold_at.astimezone(zoneinfo.ZoneInfo(receipt.store.timezone))
    spent = receipt.spent_points
    return ReceiptContext(
        programme_id=programme.id,
        partner_id=receipt.partner_id,
        store_id=receipt.store_id,
        terminal_id=receipt.terminal_id,
        channel=receipt.store.channel,
        at=receipt.sold_at,
        local_date=local.date(),
        local_time=local.time(),
        lines=tuple(_line_input(line) for line in receipt.lines.all()),
        customer=customer,
        # The points the customer paid with, offered again: the rules cap them anew.
        spend_requested=spent if spent > 0 and customer is not None else None,
        points_available=spent,
    )


def _line_input(line: ReceiptLine) -> LineInput:
    product = line.product
    return LineInput(
        line_no=line.line_no,
        sku=line.sku,
        quantity=line.quantity,
        price=line.price,
        amount=line.amount,
        product_id=line.product_id,
        category_ids=(
            frozenset([product.category_id])
            if product is not None and product.category_id
            else frozenset()
        ),
        brand_id=product.brand_id if product is not None else None,
        gift_card=product is not None and product.is_gift_card,
    )


def _currency(figures: BacktestFigures, snapshot: RulesSnapshot, currency_id: int):
    found = figures.currencies.get(currency_id)
    if found is None:
        rule = snapshot.currencies[currency_id]
        found = figures.currencies[currency_id] = CurrencyFigures(
            rule.code, rule.rub_rate, rule.decimal_places
        )
    return found


def _add_own(
    figures: BacktestFigures, snapshot: RulesSnapshot, result: EngineResult, tested: int
) -> bool:
    """Add what the tested promotion gave on one receipt; whether it gave anything."""
    fired = False
    for discount in result.discounts:
        if discount.promotion_id == tested and discount.amount > 0:
            figures.discount_amount += discount.amount
            fired = True
    for award in result.awards:
        if award.promotion_id == tested and award.amount > 0:
            _currency(figures, snapshot, award.currency_id).points += award.amount
            fired = True
    return fired


def _add_bands(
    figures: BacktestFigures, snapshot: RulesSnapshot, hits: list[BandHit], tested: int
) -> None:
    """Add what each band of the tested promotion's banded rewards gave on one receipt."""
    for hit in hits:
        if hit.promotion_id != tested or hit.amount <= 0:
            continue
        found = figures.bands.get((hit.reward_id, hit.index))
        if found is None:
            rule = next(p for p in snapshot.promotions if p.id == tested)
            place, reward = next(
                (n, r) for n, r in enumerate(rule.rewards, start=1) if r.id == hit.reward_id
            )
            unit = "RUB"
            if reward.currency_id is not None and reward.is_points:
                unit = snapshot.currencies[reward.currency_id].code
            found = figures.bands[(hit.reward_id, hit.index)] = BandFigures(
                place, hit.index + 1, hit.lower, hit.upper, hit.value, unit
            )
        found.receipts += 1
        found.amount += hit.amount


def _add_change(
    figures: BacktestFigures,
    snapshot: RulesSnapshot,
    result: EngineResult,
    baseline: EngineResult,
) -> None:
    """Add how every promotion's discounts and points on one receipt changed."""
    figures.discount_change += result.discount - baseline.discount
    for award in result.awards:
        _currency(figures, snapshot, award.currency_id).points_change += award.amount
    for award in baseline.awards:
        _currency(figures, snapshot, award.currency_id).points_change -= award.amount
