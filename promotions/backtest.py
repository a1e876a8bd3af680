"""The back-test: promotions run over a past period, to see what they would have cost.

One or several promotions (drafts too) are tested together. Every receipt of the period and
stores that was confirmed and not cancelled is evaluated, in time order, by the engine the
registers use, twice: with the rules as they are plus the tested promotions as if active, and
with the rules less the tested promotions. What each tested promotion gives is its own figure;
the difference between the two runs is what they change together, which may be less: through
priority, compatibility groups and ``exclusive`` they take lines from each other and from other
promotions, and a discount lowers the points earned on what is left to pay. The occasions of
the period (birthdays and other dates, registrations, first purchases, events, days of the
month) reward the occasion promotions, once per customer and occasion as live processing does.
Nothing is written.

What the back-test cannot know, and how it stands in for it (docs/marketer-guide.md):

- the tested promotions' own periods are replaced by the back-test's; their days of the week,
  hours, stores, tiers and conditions apply as set. Days and hours are the store's clock (store
  time); the dates of occasions are days of the back office's calendar (``settings.TIME_ZONE``);
- the other promotions are as they are now: one finished since does not run, and their own
  periods apply;
- the customer's segments are those of the time of sale where the membership history says
  (``backtest_facts.SegmentTimeline``); their tier, card series, favourite products and
  memorable dates are those stored now, not the ones at the time of sale;
- counters start from zero at the back-test's start and step receipt by receipt (the 5th
  qualifying purchase is the 5th of the period); the budgets and limits count from zero too;
- the money paid with points on a receipt is offered again as points (at the currency's rate),
  and the rules cap them anew: points are earned on what is left to pay in money;
- coupons presented and refunds are not replayed.

What it cannot compute at all it refuses, promotion by promotion, with a sentence
(``REFUSALS``): a refused promotion gives no figures rather than a zero.

A banded reward (promotions.engine.bands) is computed band by band like any reward, and what
each band gave is reported apart, per promotion (``BandFigures``). Bands by the customer's
spend are refused (``band_spend``): the spend each customer had at each past sale is not kept,
and the spend now would put them in too high a band.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, Q
from django.utils.translation import gettext_lazy as _

from loyalty.models import Receipt, ReceiptLine
from loyalty.money import ZERO, plain, quantize
from promotions.backtest_facts import CounterReplay, CustomerRow, FactsStore
from promotions.engine import (
    EngineResult,
    LineInput,
    ReceiptContext,
    RulesSnapshot,
    evaluate,
)
from promotions.engine.bands import CUSTOMER_SPEND, BandHit
from promotions.engine.types import PromotionRule
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_compile
from promotions.usage import usage_replay_count, usage_replayed

# Receipts read per query (with their lines); a run never holds more of them in memory.
CHUNK_SIZE = 500

# Why a promotion cannot be back-tested, one sentence each (shown on the back-test's page).
REFUSALS = {
    "coupon": _(
        "It applies only to receipts that presented a coupon of its series, and which past "
        "receipts did is not recorded."
    ),
    "exchange": _(
        "It is an exchange the register asks for by its code, and which past receipts asked "
        "for it is not recorded."
    ),
    "chain": _(
        "It depends on the chain steps each customer had completed at the time, which the "
        "back-test does not replay."
    ),
    "profile_completed": _("When each customer completed their profile is not recorded."),
    "consent": _(
        "A consent given again replaces the earlier record, so the consents given in a past "
        "period cannot be counted."
    ),
    "tier_change": _(
        "The tiers customers would have reached depend on a replay of tiers, which the "
        "back-test does not do (it takes each customer's tier now)."
    ),
    "counter_trigger": _(
        "A counter reaching a value as an occasion is not replayed; a receipt promotion with "
        "a counter condition is."
    ),
    "registration_scope": _(
        "It is limited to stores, terminals or sales channels, but where each customer "
        "registered is not recorded."
    ),
    "band_spend": _(
        "Its reward has bands by the customer's spend, and the spend each customer had at each "
        "past sale is not kept (the spend now would put them in too high a band). Try it in "
        "the simulator with a card."
    ),
    "unknown_trigger": _("Its trigger “%(trigger)s” is not one the back-test knows."),
    "not_compiled": _("Its rules could not be read (is its programme still there?)."),
}

# What a figure leaves out or stands in for, one sentence each (shown with the figures).
NOTES = {
    "counters": _(
        "Its counters start from zero at the start of the period and step receipt by receipt "
        "in time order."
    ),
    "limits": _("Its budget and limits count from zero at the start of the period."),
    "coupons": _(
        "It issued %(count)s coupons; what they cost depends on their later use and is not "
        "included."
    ),
    "tiers": _("It moved customers up a tier %(count)s times; what a tier costs is not included."),
    "occasion_days": _(
        "Occasions are counted on the days of the back office's calendar (%(zone)s), once per "
        "customer and occasion."
    ),
}

ONCE_OCCASIONS = frozenset(["registration", "first_purchase", "date", "monthly", "event"])


def refusal_text(code: str, params: dict | None = None) -> str:
    """The sentence of a refusal, in the active language."""
    message = REFUSALS.get(code)
    if message is None:
        return code
    return str(message) % params if params else str(message)


def note_text(code: str, params: dict | None = None) -> str:
    message = NOTES.get(code)
    if message is None:
        return code
    return str(message) % params if params else str(message)


@dataclass
class CurrencyFigures:
    """Points of one currency: what the tested promotions give, and how every promotion's
    points on the same receipts change with them. Worth is in roubles at the currency's rate."""

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
            "from": plain(self.lower),
            "to": None if self.upper is None else plain(self.upper),
            "value": plain(self.value),
            "unit": self.unit,
            "receipts": self.receipts,
            "amount": str(self.amount),
        }


@dataclass
class PromotionFigures:
    """What one tested promotion gives, or why it cannot be back-tested (``refusal``)."""

    id: int
    name: str
    refusal: str = ""  # a code of REFUSALS; set: nothing below is computed
    refusal_params: dict = field(default_factory=dict)
    notes: list[tuple[str, dict]] = field(default_factory=list)
    receipts_fired: int = 0
    occasions_rewarded: int = 0
    customers: set[int] = field(default_factory=set)
    discount_amount: Decimal = ZERO
    points: dict[int, Decimal] = field(default_factory=dict)  # currency id -> points
    counter_steps: Decimal = ZERO
    coupons: int = 0
    tier_moves: int = 0
    # Its banded rewards, by (reward id, band index).
    bands: dict[tuple[int, int], BandFigures] = field(default_factory=dict)

    def bands_json(self) -> list[dict]:
        """Its bands in order (reward, then band), each with the promotion named."""
        rows = sorted(self.bands.values(), key=lambda b: (b.reward, b.band))
        return [
            {"promotion": self.id, "promotion_name": self.name, **band.as_json()} for band in rows
        ]

    def points_worth(self, currencies: dict[int, CurrencyFigures]) -> Decimal:
        return sum(
            (quantize(points * currencies[cid].rub_rate) for cid, points in self.points.items()),
            ZERO,
        )

    def as_json(self, currencies: dict[int, CurrencyFigures]) -> dict:
        if self.refusal:
            return {
                "id": self.id,
                "name": self.name,
                "refusal": self.refusal,
                "refusal_params": self.refusal_params,
            }
        worth = self.points_worth(currencies)
        notes = list(self.notes)
        if self.coupons:
            notes.append(("coupons", {"count": self.coupons}))
        if self.tier_moves:
            notes.append(("tiers", {"count": self.tier_moves}))
        return {
            "id": self.id,
            "name": self.name,
            "refusal": "",
            "receipts_fired": self.receipts_fired,
            "occasions_rewarded": self.occasions_rewarded,
            "customers_reached": len(self.customers),
            "discount_amount": str(quantize(self.discount_amount)),
            "points": {
                currencies[cid].code: str(quantize(points, currencies[cid].decimal_places))
                for cid, points in sorted(self.points.items())
                if points
            },
            "points_worth": str(quantize(worth)),
            "total_cost": str(quantize(self.discount_amount + worth)),
            "counter_steps": f"{self.counter_steps.normalize():f}" if self.counter_steps else "0",
            "coupons": self.coupons,
            "tier_moves": self.tier_moves,
            "bands": self.bands_json(),
            "notes": [[code, params] for code, params in notes],
        }


@dataclass
class BacktestFigures:
    """What a back-test found. Money in roubles with 2 places; points in each currency's
    places, summed exactly and valued once per currency (half-up to the kopeck)."""

    receipts_examined: int = 0
    receipts_fired: int = 0
    occasions_rewarded: int = 0
    customers_reached: int = 0
    discount_amount: Decimal = ZERO  # the tested promotions' discounts
    discount_change: Decimal = ZERO  # every promotion's discounts: with them minus without
    currencies: dict[int, CurrencyFigures] = field(default_factory=dict)
    promotions: list[PromotionFigures] = field(default_factory=list)

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

    @property
    def refused(self) -> list[PromotionFigures]:
        return [p for p in self.promotions if p.refusal]

    def points_json(self) -> dict[str, dict[str, str]]:
        """Per currency code, the currencies with anything to show."""
        return {
            c.code: c.as_json()
            for c in sorted(self.currencies.values(), key=lambda c: c.code)
            if c.points or c.points_change
        }

    def promotions_json(self) -> list[dict]:
        return [p.as_json(self.currencies) for p in self.promotions]

    def bands_json(self) -> list[dict]:
        """What each band of the tested promotions' banded rewards gave, promotion by
        promotion in the order tested (refused promotions have none)."""
        return [row for own in self.promotions if not own.refusal for row in own.bands_json()]


Progress = Callable[[int, int], None]  # (receipts processed, receipts in all)


def backtest_run(backtest, progress: Progress | None = None) -> BacktestFigures:
    """Back-test ``backtest.promotion`` with its companions over the receipts of [``since``,
    ``until``) at ``backtest.stores`` (none chosen: every store of the promotions' partners;
    a coalition promotion: every store). Reads only; the caller stores the figures."""
    companions = [p for p in backtest.companions.order_by("pk") if p.pk != backtest.promotion_id]
    return backtest_evaluate(
        promotions=[backtest.promotion, *companions],
        since=backtest.since,
        until=backtest.until,
        store_ids=[store.pk for store in backtest.stores.all()],
        progress=progress,
    )


def backtest_evaluate(
    *,
    promotion: Promotion | None = None,
    promotions: Sequence[Promotion] = (),
    since: datetime,
    until: datetime,
    store_ids: Iterable[int] = (),
    progress: Progress | None = None,
) -> BacktestFigures:
    """Evaluate the receipts and occasions of the period with and without the promotions."""
    from promotions.backtest_occasions import occasions_replay

    tested = [promotion] if promotion is not None else list(promotions)
    figures = BacktestFigures()
    full = snapshot_compile(
        f"backtest-{'-'.join(str(p.pk) for p in tested)}", drafts=[p.pk for p in tested]
    )
    rules = {rule.id: rule for rule in (*full.promotions, *full.occasions)}
    accepted: dict[int, PromotionFigures] = {}
    dropped: set[int] = set()  # refused drafts: in neither run
    for item in tested:
        own = PromotionFigures(id=item.pk, name=item.name)
        figures.promotions.append(own)
        rule = rules.get(item.pk)
        reason = ("not_compiled", {}) if rule is None else refusal_of(rule)
        if reason is not None:
            own.refusal, own.refusal_params = reason
            if item.status == Promotion.Status.DRAFT:
                dropped.add(item.pk)
            continue
        assert rule is not None
        own.notes = notes_of(rule)
        accepted[item.pk] = own
    with_it, without_it = _snapshots(full, set(accepted), dropped, since, until)
    customers: set[int] = set()
    if any(rule.id in accepted for rule in with_it.promotions):
        _receipts_replay(
            figures,
            accepted,
            with_it,
            without_it,
            _receipts(tested, since, until, store_ids),
            customers,
            progress,
        )
    elif progress is not None:
        progress(0, 0)
    occasion_rules = [rule for rule in with_it.occasions if rule.id in accepted]
    if occasion_rules:
        figures.occasions_rewarded = occasions_replay(
            figures, accepted, with_it, occasion_rules, since, until, customers
        )
    for own in accepted.values():
        figures.discount_amount += own.discount_amount
        for currency_id, points in own.points.items():
            currency_figures(figures, with_it, currency_id).points += points
    figures.customers_reached = len(customers)
    return figures


def refusal_of(rule: PromotionRule) -> tuple[str, dict] | None:
    """Why ``rule`` cannot be back-tested (a code of REFUSALS and its parameters), or None."""
    if rule.coupon_series_id is not None:
        return "coupon", {}
    if rule.is_exchange:
        return "exchange", {}
    if any(condition.kind == "promotion_done" for condition in rule.conditions):
        return "chain", {}
    if any(reward.bands and reward.band_basis == CUSTOMER_SPEND for reward in rule.rewards):
        return "band_spend", {}
    trigger = rule.trigger
    if trigger is None:
        return None
    if trigger.kind in ("profile_completed", "consent", "tier_change"):
        return trigger.kind, {}
    if trigger.kind == "counter":
        return "counter_trigger", {}
    if trigger.kind == "registration" and (rule.store_ids or rule.terminal_ids or rule.channels):
        return "registration_scope", {}
    if trigger.kind not in ONCE_OCCASIONS:
        return "unknown_trigger", {"trigger": trigger.kind}
    return None


def notes_of(rule: PromotionRule) -> list[tuple[str, dict]]:
    """What the figures of ``rule`` stand in for (see NOTES)."""
    from django.conf import settings

    notes: list[tuple[str, dict]] = []
    counts = any(c.counter_id is not None for c in rule.conditions) or any(
        r.kind == "counter_step" for r in rule.rewards
    )
    if counts:
        notes.append(("counters", {}))
    if rule.limited:
        notes.append(("limits", {}))
    if rule.trigger is not None:
        notes.append(("occasion_days", {"zone": settings.TIME_ZONE}))
    return notes


def _snapshots(
    full: RulesSnapshot, accepted: set[int], dropped: set[int], since: datetime, until: datetime
) -> tuple[RulesSnapshot, RulesSnapshot]:
    """The rules with the accepted promotions (as if active, over the back-test's period) and
    without them. Compiled once per run, from the database as it is now."""

    def with_period(rules: tuple[PromotionRule, ...]) -> tuple[PromotionRule, ...]:
        return tuple(
            replace(rule, starts_at=since, ends_at=until) if rule.id in accepted else rule
            for rule in rules
            if rule.id not in dropped
        )

    with_it = replace(
        full, promotions=with_period(full.promotions), occasions=with_period(full.occasions)
    )
    without_it = replace(
        with_it,
        promotions=tuple(rule for rule in with_it.promotions if rule.id not in accepted),
        occasions=tuple(rule for rule in with_it.occasions if rule.id not in accepted),
    )
    return with_it, without_it


def _receipts(tested: Sequence[Promotion], since: datetime, until: datetime, store_ids):
    receipts = Receipt.objects.filter(sold_at__gte=since, sold_at__lt=until).exclude(
        status=Receipt.Status.CANCELLED
    )
    store_ids = list(store_ids)
    if store_ids:
        return receipts.filter(store_id__in=store_ids)
    partner_ids = {item.partner_id or item.programme.partner_id for item in tested}
    if None in partner_ids:  # a coalition promotion: every store
        return receipts
    return receipts.filter(partner_id__in=partner_ids)


def _chunks(receipts) -> Iterator[list[Receipt]]:
    """The receipts in time order (then pk), ``CHUNK_SIZE`` at a time with their lines and
    products: the counters step in the order the purchases were made."""
    lines = ReceiptLine.objects.select_related("product").order_by("line_no")
    query = (
        receipts.select_related("store", "card", "customer")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("sold_at", "pk")
    )
    after: tuple[datetime, int] | None = None
    while True:
        page = query
        if after is not None:
            page = query.filter(Q(sold_at__gt=after[0]) | Q(sold_at=after[0], pk__gt=after[1]))
        chunk = list(page[:CHUNK_SIZE])
        if not chunk:
            return
        yield chunk
        after = (chunk[-1].sold_at, chunk[-1].pk)


@dataclass
class _Replay:
    """One of the two runs (with or without the tested promotions): its rules, counters and
    promotion usage, stepping through the receipts."""

    snapshot: RulesSnapshot
    counters: CounterReplay
    usage: dict[tuple[int, str], tuple] = field(default_factory=dict)

    def evaluate(self, ctx: ReceiptContext) -> EngineResult:
        if ctx.customer is not None:
            counters = self.counters.now(ctx.customer.id, ctx.programme_id, ctx.local_date)
            ctx = replace(ctx, customer=replace(ctx.customer, counters=counters))
        ctx = usage_replayed(self.snapshot, ctx, self.usage)
        result = evaluate(self.snapshot, ctx)
        if ctx.customer is not None:
            self.counters.step(ctx.customer.id, result.counters)
        usage_replay_count(self.snapshot, ctx, result.given, self.usage)
        return result


def _receipts_replay(
    figures: BacktestFigures,
    accepted: dict[int, PromotionFigures],
    with_it: RulesSnapshot,
    without_it: RulesSnapshot,
    receipts,
    customers: set[int],
    progress: Progress | None,
) -> None:
    total = receipts.count()
    if progress is not None:
        progress(0, total)
    facts = FactsStore(with_it, with_it.needs)
    runs = (
        _Replay(with_it, CounterReplay(with_it)),
        _Replay(without_it, CounterReplay(without_it)),
    )
    for chunk in _chunks(receipts):
        facts.load(r.customer_id for r in chunk if r.customer_id is not None)
        for receipt in chunk:
            figures.receipts_examined += 1
            ctx = _context(with_it, receipt, facts)
            if ctx is None:  # no programme takes this store's receipts any more
                continue
            result, baseline = runs[0].evaluate(ctx), runs[1].evaluate(ctx)
            fired = _add_own(accepted, result, receipt.customer_id)
            _add_bands(accepted, with_it, result.bands)
            _add_change(figures, with_it, result, baseline)
            if fired:
                figures.receipts_fired += 1
                if receipt.customer_id is not None:
                    customers.add(receipt.customer_id)
        if progress is not None:
            progress(figures.receipts_examined, total)


def spent_points_of(snapshot: RulesSnapshot, receipt: Receipt, programme_id: int) -> Decimal:
    """The points the customer paid the receipt with, in its points currency.

    ``points_spent`` is the money paid with points (every writer of receipts fills it, and
    ``to_pay`` = total - discount - points_spent holds on every row); ``spent_points`` is the
    points debited, which receipts loaded in bulk (the demo's history) may leave at zero. So
    the money is the measure, turned into points at the currency's rate."""
    if receipt.points_spent <= 0:
        return ZERO
    currency_id = receipt.currency_id or snapshot.programmes[programme_id].main_currency_id
    currency = snapshot.currencies.get(currency_id) if currency_id is not None else None
    if currency is None or not currency.rub_rate:
        return receipt.spent_points
    return quantize(receipt.points_spent / currency.rub_rate, currency.decimal_places)


def _context(snapshot: RulesSnapshot, receipt: Receipt, facts: FactsStore) -> ReceiptContext | None:
    card = receipt.card
    programme = snapshot.programme_for(
        receipt.partner_id, card.programme_id if card is not None else None
    )
    if programme is None:
        return None
    customer = None
    if receipt.customer_id is not None:
        person = receipt.customer
        customer = facts.facts(
            CustomerRow(person.pk, person.registered_at, person.birth_date, person.referrer_id),
            programme.id,
            at=receipt.sold_at,
            card=(card.card_type, card.batch_id) if card is not None else (None, None),
        )
    local = receipt.sold_at.astimezone(zoneinfo.ZoneInfo(receipt.store.timezone))
    spent = spent_points_of(snapshot, receipt, programme.id) if customer is not None else ZERO
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
        spend_requested=spent if spent > 0 else None,
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


def currency_figures(
    figures: BacktestFigures, snapshot: RulesSnapshot, currency_id: int
) -> CurrencyFigures:
    """The figures of a currency, added on first use."""
    found = figures.currencies.get(currency_id)
    if found is None:
        rule = snapshot.currencies[currency_id]
        found = figures.currencies[currency_id] = CurrencyFigures(
            rule.code, rule.rub_rate, rule.decimal_places
        )
    return found


def _add_own(
    accepted: dict[int, PromotionFigures], result: EngineResult, customer_id: int | None
) -> bool:
    """Add what each tested promotion gave on one receipt; whether any of them fired."""
    for discount in result.discounts:
        own = accepted.get(discount.promotion_id)
        if own is not None:
            own.discount_amount += discount.amount
    for award in result.awards:
        own = accepted.get(award.promotion_id)
        if own is not None and award.amount:
            own.points[award.currency_id] = own.points.get(award.currency_id, ZERO) + award.amount
    for step in result.counters:
        own = accepted.get(step.promotion_id) if step.promotion_id is not None else None
        if own is not None:
            own.counter_steps += step.delta
    for coupon in result.coupons_issued:
        if coupon.promotion_id in accepted:
            accepted[coupon.promotion_id].coupons += coupon.count
    for move in result.tier_awards:
        if move.promotion_id in accepted:
            accepted[move.promotion_id].tier_moves += 1
    fired = False
    for promotion_id in result.fired():
        own = accepted.get(promotion_id)
        if own is not None:
            fired = True
            own.receipts_fired += 1
            if customer_id is not None:
                own.customers.add(customer_id)
    return fired


def _add_bands(
    accepted: dict[int, PromotionFigures], snapshot: RulesSnapshot, hits: list[BandHit]
) -> None:
    """Add what each band of the tested promotions' banded rewards gave on one receipt."""
    for hit in hits:
        own = accepted.get(hit.promotion_id)
        if own is None or hit.amount <= 0:
            continue
        found = own.bands.get((hit.reward_id, hit.index))
        if found is None:
            rule = next(p for p in snapshot.promotions if p.id == hit.promotion_id)
            place, reward = next(
                (n, r) for n, r in enumerate(rule.rewards, start=1) if r.id == hit.reward_id
            )
            unit = "RUB"
            if reward.currency_id is not None and reward.is_points:
                unit = snapshot.currencies[reward.currency_id].code
            found = own.bands[(hit.reward_id, hit.index)] = BandFigures(
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
        currency_figures(figures, snapshot, award.currency_id).points_change += award.amount
    for award in baseline.awards:
        currency_figures(figures, snapshot, award.currency_id).points_change -= award.amount
