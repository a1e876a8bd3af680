"""Banded rewards in the engine: "5 % below 100.00, 7 % from 100.00, 10 % from 500.00" as one
reward, measured by the receipt's amount, the units of the reward's lines or the customer's
spend (a counter of money spent). No database: the rules are built by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promotions.engine import evaluate
from promotions.engine.bands import Band, band_index, band_problems
from promotions.engine.types import (
    CurrencyRule,
    CustomerFacts,
    LineInput,
    ProductSetRule,
    ProgrammeRule,
    PromotionRule,
    ReceiptContext,
    RewardRule,
    RulesSnapshot,
)

D = Decimal
AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CURRENCY = CurrencyRule(id=1, code="bonus", decimal_places=2, rub_rate=D("1"))
PROGRAMME = ProgrammeRule(
    id=1,
    max_spend_percent=D("50"),
    min_money_payment=D("0.00"),
    offline_spend_cap=D("0"),
    main_currency_id=1,
)
FLOATING = (Band(D("0"), D("5")), Band(D("100"), D("7")), Band(D("500"), D("10")))
SPEND_COUNTER = 42


def _reward(kind="points_percent", *, basis="receipt_amount", bands=FLOATING, **kw) -> RewardRule:
    currency = 1 if kind.startswith("points_") else None
    return RewardRule(
        id=11,
        kind=kind,
        value=bands[0].value if bands else D("1"),
        currency_id=currency,
        activation_delay=timedelta(0),
        lifetime=None,
        band_basis=basis,
        bands=bands,
        **kw,
    )


def _promotion(*rewards: RewardRule, pid=1, priority=0, **kw) -> PromotionRule:
    return PromotionRule(
        id=pid,
        name=f"P{pid}",
        programme_id=1,
        partner_id=None,
        status="active",
        priority=priority,
        starts_at=AT - timedelta(days=1),
        ends_at=None,
        rewards=rewards,
        **kw,
    )


def _snapshot(*promotions: PromotionRule) -> RulesSnapshot:
    ordered = sorted(promotions, key=lambda p: (-p.priority, p.id))
    return RulesSnapshot(
        version="t",
        programmes={1: PROGRAMME},
        currencies={1: CURRENCY},
        promotions=tuple(ordered),
        counters=(),
    )


def _line(no: int, amount: str, quantity: str = "1", product_id: int | None = None) -> LineInput:
    return LineInput(
        line_no=no,
        sku=f"S{no}",
        quantity=D(quantity),
        price=D(amount) / D(quantity),
        amount=D(amount),
        product_id=product_id,
    )


CUSTOMER = CustomerFacts(id=7)


def _ctx(*lines: LineInput, customer: CustomerFacts | None = CUSTOMER):
    return ReceiptContext(
        programme_id=1,
        partner_id=1,
        store_id=1,
        terminal_id=1,
        channel="store",
        at=AT,
        local_date=date(2026, 3, 10),
        lines=lines,
        customer=customer,
    )


# --- the worked example (mechanics.md, item 2) ------------------------------------------------


@pytest.mark.parametrize(
    ("receipt", "earned", "band"),
    [
        ("80.00", "4.00", 0),
        ("99.99", "5.00", 0),  # 4.9995 half-up
        ("100.00", "7.00", 1),
        ("499.99", "35.00", 1),  # 34.9993 at 7 %
        ("500.00", "50.00", 2),
    ],
)
def test_floating_percent_points_by_receipt_amount(receipt, earned, band):
    # given one promotion, one reward, three bands
    snapshot = _snapshot(_promotion(_reward()))
    # when
    result = evaluate(snapshot, _ctx(_line(1, receipt)))
    # then the band's percent applies to the whole receipt; the lower bound is inclusive
    assert result.points_earned == D(earned)
    (hit,) = result.bands
    assert (hit.promotion_id, hit.reward_id, hit.index) == (1, 11, band)
    assert hit.measure == D(receipt)
    assert hit.value == FLOATING[band].value
    assert hit.amount == D(earned)
    assert hit.lower == FLOATING[band].lower
    assert hit.upper == (FLOATING[band + 1].lower if band < 2 else None)


@pytest.mark.parametrize(
    ("receipt", "discount"),
    [("80.00", "4.00"), ("100.00", "7.00"), ("499.99", "35.00"), ("500.00", "50.00")],
)
def test_floating_percent_discount_by_receipt_amount(receipt, discount):
    snapshot = _snapshot(_promotion(_reward("discount_percent")))
    result = evaluate(snapshot, _ctx(_line(1, "30.00"), _line(2, str(D(receipt) - D("30.00")))))
    assert result.discount == D(discount)
    assert sum(line.discount for line in result.lines) == D(discount)
    assert result.to_pay == D(receipt) - D(discount)


def test_below_the_first_band_gives_nothing_and_says_why():
    snapshot = _snapshot(
        _promotion(_reward(bands=(Band(D("100"), D("7")), Band(D("500"), D("10")))))
    )
    result = evaluate(snapshot, _ctx(_line(1, "99.99")))
    assert result.points_earned == 0
    assert result.bands == []
    assert result.blocked == [(1, "below_bands")]


def test_the_receipt_amount_is_measured_after_higher_priority_discounts():
    # given -10 % first, then 5/7/10 % points by the receipt's amount
    discount = RewardRule(21, "discount_percent", D("10"), None, timedelta(0), None)
    snapshot = _snapshot(_promotion(discount, pid=2, priority=10), _promotion(_reward(), pid=1))
    # when a receipt of 520.00 leaves 468.00 to pay
    result = evaluate(snapshot, _ctx(_line(1, "520.00")))
    # then the 7 % band applies (468.00 < 500.00), on what is left to pay: 32.76
    (hit,) = result.bands
    assert (hit.measure, hit.index, hit.value) == (D("468.00"), 1, D("7"))
    assert result.points_earned == D("32.76")


def test_bands_by_quantity_of_the_rewards_lines():
    # given an amount off each unit of product 5: 1.00 from 1 unit, 2.00 from 3, 3.00 from 6
    bands = (Band(D("1"), D("1.00")), Band(D("3"), D("2.00")), Band(D("6"), D("3.00")))
    reward = _reward(
        "discount_per_unit",
        basis="quantity",
        bands=bands,
        product_set=ProductSetRule(id=1, product_ids=frozenset({5})),
    )
    snapshot = _snapshot(_promotion(reward))
    # when 2 + 2 units of product 5 and 10 units of something else
    result = evaluate(
        snapshot,
        _ctx(
            _line(1, "40.00", "2", product_id=5),
            _line(2, "20.00", "2", product_id=5),
            _line(3, "100.00", "10", product_id=6),
        ),
    )
    # then only product 5 counts: 4 units, the 2.00 band, on each of the 4 units
    (hit,) = result.bands
    assert (hit.measure, hit.index) == (D("4"), 1)
    assert result.discount == D("8.00")
    assert [line.discount for line in result.lines] == [D("4.00"), D("4.00"), D("0.00")]


@pytest.mark.parametrize(
    ("spend", "earned", "band"),
    [(None, "5.00", 0), ("99.99", "5.00", 0), ("100.00", "7.00", 1), ("12000", "10.00", 2)],
)
def test_bands_by_the_customers_spend_before_the_receipt(spend, earned, band):
    # given bands by a counter of money spent; no value yet reads as nothing spent
    snapshot = _snapshot(_promotion(_reward(basis="customer_spend", band_counter_id=SPEND_COUNTER)))
    counters = {} if spend is None else {SPEND_COUNTER: D(spend)}
    # when a receipt of 100.00 (which does not count towards its own band, as with tiers)
    result = evaluate(
        snapshot, _ctx(_line(1, "100.00"), customer=CustomerFacts(7, counters=counters))
    )
    # then
    assert result.points_earned == D(earned)
    assert result.bands[0].index == band


def test_bands_by_spend_need_a_customer():
    reward = _reward("discount_percent", basis="customer_spend", band_counter_id=SPEND_COUNTER)
    result = evaluate(_snapshot(_promotion(reward)), _ctx(_line(1, "100.00"), customer=None))
    assert result.discount == 0
    assert result.blocked == [(1, "anonymous_customer")]


def test_the_snapshot_reads_counters_only_for_bands_by_spend():
    by_amount = _snapshot(_promotion(_reward()))
    by_spend = _snapshot(_promotion(_reward(basis="customer_spend", band_counter_id=1)))
    assert "counters" not in by_amount.needs
    assert "counters" in by_spend.needs


def test_a_banded_fixed_points_reward_and_the_cap_per_receipt():
    bands = (Band(D("0"), D("10")), Band(D("1000"), D("100")))
    snapshot = _snapshot(
        _promotion(_reward("points_fixed", bands=bands), max_per_receipt=D("60.00"))
    )
    result = evaluate(snapshot, _ctx(_line(1, "1500.00")))
    # the band says 100 points, the cap per receipt cuts them to 60
    assert result.points_earned == D("60.00")
    assert (result.bands[0].index, result.bands[0].amount) == (1, D("60.00"))


# --- band lists -------------------------------------------------------------------------------


def test_band_index_lower_bounds_are_inclusive():
    assert band_index(FLOATING, D("-1")) is None
    assert band_index(FLOATING, D("0")) == 0
    assert band_index(FLOATING, D("99.99")) == 0
    assert band_index(FLOATING, D("100")) == 1
    assert band_index(FLOATING, D("500.00")) == 2
    assert band_index(FLOATING, D("1E+9")) == 2


def test_band_problems():
    assert band_problems(FLOATING) == []
    assert band_problems(()) == [("empty", 0)]
    unsorted = (Band(D("0"), D("5")), Band(D("500"), D("10")), Band(D("100"), D("7")))
    assert band_problems(unsorted) == [("order", 2)]
    overlap = (Band(D("0"), D("5")), Band(D("100"), D("7")), Band(D("100"), D("10")))
    assert band_problems(overlap) == [("overlap", 2)]
    assert band_problems((Band(D("-1"), D("5")), Band(D("1"), D("0")))) == [
        ("negative", 0),
        ("value", 1),
    ]


# --- a property: a banded reward gives what its band's value would give alone ----------------

lowers = st.lists(
    st.decimals(min_value=D("0"), max_value=D("2000"), places=2),
    min_size=1,
    max_size=5,
    unique=True,
)
percents = st.decimals(min_value=D("0.01"), max_value=D("100"), places=2)


@given(
    lowers=lowers,
    values=st.lists(percents, min_size=5, max_size=5),
    amounts=st.lists(
        st.decimals(min_value=D("0.01"), max_value=D("1500"), places=2), min_size=1, max_size=4
    ),
    kind=st.sampled_from(["points_percent", "discount_percent"]),
)
def test_a_banded_reward_gives_what_its_bands_value_gives(lowers, values, amounts, kind):
    bands = tuple(Band(lower, value) for lower, value in zip(sorted(lowers), values, strict=False))
    banded = _reward(kind, bands=bands)
    lines = [_line(n, str(amount)) for n, amount in enumerate(amounts, start=1)]
    total = sum(amounts, D("0"))
    result = evaluate(_snapshot(_promotion(banded)), _ctx(*lines))
    # independently: the last band whose lower bound the total reaches
    reached = [band for band in bands if total >= band.lower]
    if not reached:
        assert result.bands == []
        assert (result.discount, result.points_earned) == (0, 0)
        return
    value = reached[-1].value
    expected = (total * value / 100).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    given_ = result.points_earned if kind == "points_percent" else result.discount
    assert given_ == expected
    plain = replace(banded, value=value, band_basis="", bands=())
    alone = evaluate(_snapshot(_promotion(plain)), _ctx(*lines))
    assert [line.discount for line in result.lines] == [line.discount for line in alone.lines]
    assert [line.points_earned for line in result.lines] == [
        line.points_earned for line in alone.lines
    ]
