"""The engine's interface: what it is given (a rules snapshot and a receipt context) and what
it answers. Plain frozen dataclasses, no Django models: evaluating a receipt makes no query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property

from promotions.engine.bands import CUSTOMER_SPEND, Band, BandHit

# ``spend_requested`` may be this instead of a number: as much as the rules allow.
SPEND_MAX = "max"


@dataclass(frozen=True)
class CurrencyRule:
    id: int
    code: str
    decimal_places: int
    rub_rate: Decimal
    lifetime: timedelta | None = None  # earned points burn after this unless the reward says
    max_spend_percent: Decimal | None = None  # of a receipt it may pay; None: the programme's
    spend_block: int | None = None  # points are spent in multiples of this; None: any amount
    # The cashier's message when blocks cut a spend down: a translatable template (filled by
    # the loader) with %(block)s and %(spent)s; empty: no message.
    spend_block_note: object = ""


@dataclass(frozen=True)
class ProductSetRule:
    """Products by id (a set's product lists are expanded into it), categories (with their
    subcategories) and brands, less the excluded products and categories; a set that
    includes nothing means every product."""

    id: int
    product_ids: frozenset[int] = frozenset()
    category_ids: frozenset[int] = frozenset()
    brand_ids: frozenset[int] = frozenset()
    excluded_product_ids: frozenset[int] = frozenset()
    excluded_category_ids: frozenset[int] = frozenset()

    def matches(self, line: LineInput) -> bool:
        if line.product_id is not None and line.product_id in self.excluded_product_ids:
            return False
        if line.category_ids & self.excluded_category_ids:
            return False
        if not (self.product_ids or self.category_ids or self.brand_ids):
            return True
        return (
            (line.product_id is not None and line.product_id in self.product_ids)
            or bool(line.category_ids & self.category_ids)
            or (line.brand_id is not None and line.brand_id in self.brand_ids)
        )


@dataclass(frozen=True)
class SpendRuleRule:
    """Where points of a restricted lot may be spent (mechanics.md item 8)."""

    id: int
    product_set: ProductSetRule | None = None
    min_receipt: Decimal | None = None
    store_ids: frozenset[int] = frozenset()
    time_from: time | None = None
    time_to: time | None = None
    max_percent: Decimal | None = None


@dataclass(frozen=True)
class ConditionRule:
    id: int
    or_group: int
    kind: str  # receipt_total | line_count | contains | customer_tier
    operator: str = "gte"  # gte | lt
    amount: Decimal | None = None
    quantity: Decimal | None = None
    product_set: ProductSetRule | None = None
    tier_ids: frozenset[int] = frozenset()
    counter_id: int | None = None
    promotion_id: int | None = None  # promotion_done: the chain's step before


@dataclass(frozen=True)
class RewardRule:
    id: int
    kind: str  # points_percent | points_fixed | points_multiplier | discount_* | special_price
    value: Decimal
    currency_id: int | None
    activation_delay: timedelta
    lifetime: timedelta | None
    product_set: ProductSetRule | None = None
    every_n: int | None = None
    multiplier_of: int | None = None
    expires_on: date | None = None  # the last day the points can be spent (store's calendar)
    min_line_quantity: Decimal | None = None
    counter_id: int | None = None
    coupon_series: str = ""
    spend_rule_id: int | None = None
    beneficiary: str = "customer"  # customer | referrer
    expires_days_after_date: int | None = None  # date triggers: the last day, after the date
    expires_day_of_next_month: int | None = None  # the last day: this day of the next month
    favourites_only: bool = False  # only the lines of the customer's favourite products
    tier_id: int | None = None  # the tier a ``tier`` reward moves the customer up to
    max_units: int | None = None  # at most this many units per receipt get it (cheapest first)
    # Bands (promotions.engine.bands): the value by where ``band_basis`` falls; none: ``value``.
    band_basis: str = ""  # receipt_amount | quantity | customer_spend
    bands: tuple[Band, ...] = ()
    band_counter_id: int | None = None  # customer_spend: the counter of money spent
    # Set on the copy the engine gives with (``bands.banded``): the band and what it measured.
    band_index: int | None = None
    band_measure: Decimal | None = None

    @property
    def is_points(self) -> bool:
        return self.kind.startswith("points_")


@dataclass(frozen=True)
class TriggerRule:
    """What starts a promotion that is not about a receipt (``promotions.lifecycle``)."""

    kind: str  # registration | first_purchase | ... | date | monthly | event
    event_type_id: int | None = None
    counter_id: int | None = None
    value: Decimal | None = None
    tier_id: int | None = None
    channel: str = ""
    date: str = ""  # birthday | child_birthday | registration | <memorable kind> | question
    question_id: int | None = None
    offset_days: int = 0
    day: int | None = None


@dataclass(frozen=True)
class PromotionRule:
    id: int
    name: str
    programme_id: int
    partner_id: int | None
    status: str
    priority: int
    starts_at: datetime
    ends_at: datetime | None
    rewards: tuple[RewardRule, ...]
    cashier_message: str = ""
    customer_message: str = ""  # occasions: sent to the customer's consented channels
    group_id: int | None = None
    group_mode: str = "all"  # first | best | all
    exclusive: bool = False
    store_ids: frozenset[int] = frozenset()
    terminal_ids: frozenset[int] = frozenset()
    channels: frozenset[str] = frozenset()
    tier_ids: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 1 = Monday ... 7 = Sunday
    time_from: time | None = None
    time_to: time | None = None
    conditions: tuple[ConditionRule, ...] = ()
    # Audience beyond tiers, and days around a date of the customer's
    segment_ids: frozenset[int] = frozenset()
    card_batch_ids: frozenset[int] = frozenset()
    card_types: frozenset[str] = frozenset()
    new_within_days: int | None = None
    referred_only: bool = False
    around_date: str = ""  # birthday | registration | a memorable date's kind
    days_before: int = 0
    days_after: int = 0
    # Budget and limits (None: none). Worth is money: discounts plus points at their rate.
    budget: Decimal | None = None
    max_per_receipt: Decimal | None = None
    uses_per_customer: int | None = None
    uses_per_customer_day: int | None = None
    uses_per_day: int | None = None
    trigger: TriggerRule | None = None  # None: a receipt promotion
    coupon_series_id: int | None = None  # only with a valid coupon of this series
    code: str = ""
    # An exchange: it applies only when the register asks for it by ``code``, and the customer
    # pays ``exchange_cost`` points of ``exchange_currency_id`` for its rewards.
    exchange_cost: Decimal | None = None
    exchange_currency_id: int | None = None

    @property
    def is_exchange(self) -> bool:
        return self.exchange_cost is not None

    @cached_property
    def limited(self) -> bool:
        return (
            self.budget is not None
            or self.uses_per_customer is not None
            or self.uses_per_customer_day is not None
            or self.uses_per_day is not None
        )

    @cached_property
    def narrowed(self) -> bool:
        """Whether the audience goes beyond tiers (segments, cards, new, referred, dates)."""
        return bool(
            self.segment_ids
            or self.card_batch_ids
            or self.card_types
            or self.new_within_days is not None
            or self.referred_only
            or self.around_date
        )


@dataclass(frozen=True)
class UsageFacts:
    """What a promotion has given so far, as its budget and limits count it."""

    given: Decimal = Decimal("0")  # worth given in total (the budget's measure)
    customer_uses: int = 0  # receipts of this customer it rewarded
    customer_day_uses: int = 0  # ... on the day of the sale
    day_uses: int = 0  # receipts of anyone it rewarded on the day of the sale


NO_USAGE = UsageFacts()


@dataclass(frozen=True)
class CounterRule:
    id: int
    code: str
    programme_id: int
    unit: str  # purchases | amount | quantity | events
    period: str  # lifetime | day | week | month | quarter | year


@dataclass(frozen=True)
class TierRule:
    id: int
    programme_id: int
    name: str
    rank: int
    threshold: Decimal


@dataclass(frozen=True)
class ProgrammeRule:
    id: int
    max_spend_percent: Decimal
    min_money_payment: Decimal
    offline_spend_cap: Decimal
    main_currency_id: int | None
    partner_id: int | None = None
    is_active: bool = True
    hold_minutes: int = 10
    refund_shortfall_policy: str = "cap"
    offline_window_days: int = 30
    max_receipt_lines: int = 1000
    # Whether the part of a receipt paid with gift certificates earns points (mechanics.md).
    certificates_earn: bool = True


@dataclass(frozen=True)
class RulesSnapshot:
    """Every rule the engine needs, compiled once per process from the database."""

    version: str
    programmes: Mapping[int, ProgrammeRule]
    currencies: Mapping[int, CurrencyRule]
    promotions: tuple[PromotionRule, ...]
    counters: tuple[CounterRule, ...]
    tiers: tuple[TierRule, ...] = ()
    spend_rules: Mapping[int, SpendRuleRule] = field(default_factory=dict)
    changed_at: datetime | None = None  # when the last promotion version was saved
    # Promotions started by an occasion of the customer's life, not by a receipt.
    occasions: tuple[PromotionRule, ...] = ()

    def occasions_of(self, kind: str) -> list[PromotionRule]:
        return [p for p in self.occasions if p.trigger is not None and p.trigger.kind == kind]

    @cached_property
    def occasion_kinds(self) -> frozenset[str]:
        """The occasions some promotion waits for (the hot path checks only those)."""
        return frozenset(p.trigger.kind for p in self.occasions if p.trigger is not None)

    @cached_property
    def rewards_referrers(self) -> bool:
        """Whether some receipt promotion gives points to the customer's referrer."""
        return any(
            reward.beneficiary == "referrer"
            for promotion in self.promotions
            for reward in promotion.rewards
        )

    @cached_property
    def needs(self) -> frozenset[str]:
        """What the promotions read about a customer beyond their tier: ``segments``,
        ``dates`` (birthday, memorable dates), ``counters``, ``favourites`` (favourite
        products). Loaded only when asked for."""
        found = set()
        for promotion in self.promotions:
            if promotion.segment_ids:
                found.add("segments")
            if promotion.around_date:
                found.add("dates")
            if any(c.counter_id is not None for c in promotion.conditions):
                found.add("counters")
            if any(r.favourites_only for r in promotion.rewards):
                found.add("favourites")
            if any(r.bands and r.band_basis == CUSTOMER_SPEND for r in promotion.rewards):
                found.add("counters")  # the customer's spend: a counter of money spent
        if self.chain_steps:
            found.add("chains")
        return frozenset(found)

    @cached_property
    def chain_steps(self) -> frozenset[int]:
        """The promotions some promotion waits for a customer to have completed."""
        return frozenset(
            condition.promotion_id
            for promotion in (*self.promotions, *self.occasions)
            for condition in promotion.conditions
            if condition.kind == "promotion_done" and condition.promotion_id is not None
        )

    @cached_property
    def limited_promotions(self) -> tuple[PromotionRule, ...]:
        """The promotions with a budget or limits, which confirm must count."""
        return tuple(p for p in self.promotions if p.limited)

    def tiers_of(self, programme_id: int) -> list[TierRule]:
        """The programme's tiers, highest threshold first."""
        found = [tier for tier in self.tiers if tier.programme_id == programme_id]
        return sorted(found, key=lambda tier: tier.threshold, reverse=True)

    def entry_tier_id(self, programme_id: int) -> int | None:
        """The programme's lowest tier: where a customer without a membership stands."""
        tiers = self.tiers_of(programme_id)
        return tiers[-1].id if tiers else None

    def programme_for(self, partner_id: int | None, programme_id: int | None = None):
        """The programme of a card (``programme_id``), else the partner's own, else the coalition's."""
        if programme_id is not None and programme_id in self.programmes:
            return self.programmes[programme_id]
        active = [p for p in self.programmes.values() if p.is_active]
        own = [p for p in active if p.partner_id is not None and p.partner_id == partner_id]
        coalition = [p for p in active if p.partner_id is None]
        found = sorted(own or coalition, key=lambda p: p.id)
        return found[0] if found else None

    @cached_property
    def exchanges(self) -> Mapping[tuple[int, str], PromotionRule]:
        """The exchange promotions by (programme id, code)."""
        return {(p.programme_id, p.code): p for p in self.promotions if p.is_exchange}

    @cached_property
    def tier_by_id(self) -> Mapping[int, TierRule]:
        return {tier.id: tier for tier in self.tiers}

    def reward_currency_ids(self, programme_id: int) -> set[int]:
        ids = {
            reward.currency_id
            for promotion in self.promotions
            if promotion.programme_id == programme_id
            for reward in promotion.rewards
            if reward.currency_id is not None  # a discount's: none
        }
        main = self.programmes[programme_id].main_currency_id
        if main is not None:
            ids.add(main)
        return ids


@dataclass(frozen=True)
class LineInput:
    line_no: int
    sku: str
    quantity: Decimal
    price: Decimal
    amount: Decimal
    product_id: int | None = None
    category_ids: frozenset[int] = frozenset()
    brand_id: int | None = None
    list_ids: frozenset[int] = frozenset()
    # The line sells a gift card or certificate: no promotion sees it, points and certificates
    # do not pay for it, and it earns nothing.
    gift_card: bool = False


@dataclass(frozen=True)
class CustomerFacts:
    id: int
    tier_id: int | None = None
    card_type: str | None = None
    registered_at: datetime | None = None
    counters: Mapping[int, Decimal] = field(default_factory=dict)  # counter id -> this period
    card_batch_id: int | None = None
    referred: bool = False
    segment_ids: frozenset[int] = frozenset()
    birth_date: date | None = None
    dates: tuple[tuple[str, date], ...] = ()  # (memorable date kind, date), yearly ones
    done_promotion_ids: frozenset[int] = frozenset()  # chain steps the customer completed
    favourite_product_ids: frozenset[int] = frozenset()  # in the receipt's programme


@dataclass(frozen=True)
class ReceiptContext:
    programme_id: int
    partner_id: int
    store_id: int
    terminal_id: int
    channel: str
    at: datetime  # the time of sale, aware
    local_date: date  # the day of sale in the store's time zone
    lines: tuple[LineInput, ...]
    customer: CustomerFacts | None = None
    spend_requested: Decimal | str | None = None
    points_available: Decimal = Decimal("0")
    offline: bool = False
    coupons: tuple[str, ...] = ()
    local_time: time | None = None  # the time of sale on the store's clock
    usage: Mapping[int, UsageFacts] = field(default_factory=dict)  # promotion id -> so far
    # Points of restricted lots spendable now, by spending rule (``points_available`` is the
    # unrestricted rest), in the main currency.
    restricted_available: Mapping[int, Decimal] = field(default_factory=dict)
    # The codes of the exchange promotions the register asks for, and the points the customer
    # can pay them with, by currency id (all of a currency's lots, restricted or not).
    exchanges: tuple[str, ...] = ()
    # The series of the valid coupons the receipt presents (checked by the processing).
    coupon_series: frozenset[int] = frozenset()
    coupon_prizes: frozenset[int] = frozenset()  # promotions scratch coupons unlock
    exchange_available: Mapping[int, Decimal] = field(default_factory=dict)
    # What the gift certificates the receipt presents may pay at most (checked by the
    # processing); the engine lets them pay what is left after discounts and points.
    certificate_funds: Decimal = Decimal("0.00")


@dataclass
class LineResult:
    line_no: int
    amount: Decimal
    discount: Decimal = Decimal("0.00")
    points_spent: Decimal = Decimal("0.00")  # money paid with points
    spent_points: Decimal = Decimal("0")  # points debited, in the main currency
    to_pay: Decimal = Decimal("0.00")
    points_earned: Decimal = Decimal("0")  # in the main currency
    certificate_paid: Decimal = Decimal("0.00")  # of to_pay, paid with gift certificates


@dataclass
class Award:
    """Points one reward of one promotion gives, and how they spread over the lines."""

    promotion_id: int
    reward_id: int
    name: str
    currency_id: int
    amount: Decimal
    per_line: dict[int, Decimal]
    activation_delay: timedelta
    lifetime: timedelta | None
    expires_on: date | None = None
    spend_rule_id: int | None = None
    beneficiary: str = "customer"  # customer | referrer: whose account the points go to


@dataclass
class DiscountAward:
    promotion_id: int
    name: str
    amount: Decimal
    per_line: dict[int, Decimal]


@dataclass
class CounterStep:
    counter_id: int
    period_start: date
    delta: Decimal
    promotion_id: int | None = None  # a counter step reward's promotion; None: the counter's own


@dataclass
class CouponAward:
    promotion_id: int
    series: str
    count: int


@dataclass
class TierAward:
    promotion_id: int
    tier_id: int


@dataclass
class ExchangeOutcome:
    """What became of an exchange the register asked for: ``applied`` (the customer pays
    ``cost`` points of ``currency_id``) or ``rejected`` with a ``reason``."""

    code: str
    status: str  # applied | rejected
    reason: str | None = None
    promotion_id: int | None = None
    currency_id: int | None = None
    cost: Decimal | None = None
    lines: tuple[int, ...] = ()  # the line numbers its rewards touched


@dataclass
class EngineResult:
    total: Decimal
    discount: Decimal
    points_spent: Decimal
    spent_points: Decimal
    to_pay: Decimal
    points_earned: Decimal
    lines: list[LineResult]
    awards: list[Award]
    discounts: list[DiscountAward]
    counters: list[CounterStep]
    blocked: list[tuple[int, str]]
    messages: list[str]
    main_currency_id: int | None
    given: dict[int, Decimal] = field(default_factory=dict)  # promotion id -> worth it gave
    coupons_issued: list[CouponAward] = field(default_factory=list)
    # Points debited by spending rule (None: unrestricted points), adding up to spent_points.
    spent_by_rule: dict[int | None, Decimal] = field(default_factory=dict)
    exchanges: list[ExchangeOutcome] = field(default_factory=list)  # one per code asked for
    tier_awards: list[TierAward] = field(default_factory=list)
    certificate_paid: Decimal = Decimal("0.00")  # of to_pay, paid with gift certificates
    gift_cards: Decimal = Decimal("0.00")  # of to_pay, the gift cards the receipt sells
    bands: list[BandHit] = field(default_factory=list)  # the bands banded rewards gave with

    @property
    def exchanged(self) -> list[ExchangeOutcome]:
        """The exchanges applied: what the customer pays for."""
        return [outcome for outcome in self.exchanges if outcome.status == "applied"]

    def fired(self) -> set[int]:
        return set(self.given)
