"""Every effect of a simulated receipt, not only discounts and points: counter steps, coupon
grants, tier moves and exchanges; product names on the lines. The numbers are worked out here."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import CounterValue, Posting, TierMembership
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
)
from processing.simulator import simulate
from tests.factories.loyalty import CounterFactory, CurrencyFactory, ProductFactory, TierFactory
from tests.factories.promotions import product_set, promotion
from tests.processing.simulated import line, rows_written, world_with_products

pytestmark = pytest.mark.django_db
D = Decimal
LINES = [line(1, "A", "2", "89.90"), line(2, "B", "1", "40.00")]  # 179.80 + 40.00 = 219.80


@pytest.fixture
def world():
    world = world_with_products()
    world.base = TierFactory(programme=world.programme, name="Base", rank=1, threshold=D("0"))
    world.silver = TierFactory(
        programme=world.programme, name="Silver", rank=2, threshold=D("1000.00")
    )
    world.gold = TierFactory(programme=world.programme, name="Gold", rank=3, threshold=D("5000.00"))
    TierMembership.objects.create(
        customer=world.customer, programme=world.programme, tier=world.base,
        qualifying_amount=D("900.00"),
    )  # fmt: skip
    world.purchases = CounterFactory(programme=world.programme, name="Purchases", unit="purchases")
    CounterValue.objects.create(counter=world.purchases, customer=world.customer, value=D("2"))
    world.stamps = CounterFactory(programme=world.programme, name="Stamps", unit="steps")
    return world


def _effects(simulation) -> list[tuple[str, str, str]]:
    return [(e.kind, e.promotion, e.text) for e in simulation.effects]


def test_counter_steps_coupons_and_the_tier_the_money_reaches_are_effects(world):
    promotion(world, "Stamp", rewards=[
        {"kind": "counter_step", "value": 2, "counter": world.stamps}
    ])  # fmt: skip
    promotion(world, "Two coupons", rewards=[
        {"kind": "coupon", "value": 2, "coupon_series": "NEXT10"}
    ])  # fmt: skip
    before = rows_written()
    simulation = simulate(terminal=world.terminal, lines=LINES, card=world.card.number)
    effects = _effects(simulation)
    # 5% of 219.80 = 10.99; Purchases 2 -> 3 by the receipt itself; Stamps 0 -> 2 by "Stamp";
    # the qualifying spend 900.00 + 219.80 = 1,119.80 passes Silver's 1,000.00
    assert ("points", "Base bonus", "+10.99 bonus") in effects
    assert ("counter", "", "counter Purchases +1: 2 → 3") in effects
    assert ("counter", "Stamp", "counter Stamps +2: 0 → 2") in effects
    assert ("coupon", "Two coupons", "2 coupons of series NEXT10, issued on confirm") in effects
    assert (
        "tier",
        "",
        "tier Base → Silver by the money paid; qualifying spend 900.00 → 1,119.80",
    ) in effects
    assert [row["name"] for row in simulation.lines] == ["Lemonade", "Bed"]
    assert rows_written() == before


def test_a_tier_a_promotion_gives_then_the_money_paid_on_top(world):
    promotion(world, "Gold from 200", conditions=[
        {"kind": "receipt_total", "operator": "gte", "amount": "200.00"}
    ], rewards=[{"kind": "tier", "value": 1, "tier": world.gold}])  # fmt: skip
    simulation = simulate(terminal=world.terminal, lines=LINES, card=world.card.number)
    effects = _effects(simulation)
    # Gold raises the spend to its 5,000.00; the receipt's 219.80 comes on top: 5,219.80
    assert ("tier", "Gold from 200", "tier Base → Gold") in effects
    assert ("tier", "", "stays in tier Gold; qualifying spend 900.00 → 5,219.80") in effects


def test_a_described_customer_gets_the_tier_a_promotion_gives(world):
    promotion(world, "Gold for all", rewards=[{"kind": "tier", "value": 1, "tier": world.gold}])
    simulation = simulate(terminal=world.terminal, lines=LINES, tier_id=world.silver.pk)
    assert ("tier", "Gold for all", "tier Silver → Gold") in _effects(simulation)


def _chips_given(world, chips, amount: str) -> None:
    at = timezone.now() - timedelta(days=1)
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.ADJUST,
                cause=Posting.Cause.IMPORT,
                actor=Actor.system("test"),
                legs=[
                    Leg(
                        account=customer_account(world.customer, chips),
                        amount=D(amount),
                        active_at=at,
                        expires_at=at + timedelta(days=400),
                    ),
                    Leg(account=partner_account(world.partner, chips), amount=-D(amount)),
                ],  # fmt: skip
                partner=world.partner,
                occurred_at=at,
            )
        ]
    )


def test_exchanges_applied_and_refused_with_their_price_and_reason(world):
    chips = CurrencyFactory(
        programme=world.programme, code="chips", name="Chips", decimal_places=0,
        rub_rate=D("0"), is_default=False,
    )  # fmt: skip
    _chips_given(world, chips, "15")
    mug = ProductFactory(sku="MUG", name="Mug")
    priced = {"exchange_cost": D("10"), "exchange_currency": chips}
    promotion(world, "Mug at half price", code="MUG-50", rewards=[
        {"kind": "discount_percent", "value": 50,
         "product_set": product_set(world, "Mug", products=[mug])}
    ], **priced)  # fmt: skip
    promotion(world, "A coupon for chips", code="COUPON-10", rewards=[
        {"kind": "coupon", "value": 1, "coupon_series": "NEXT-10"}
    ], **priced)  # fmt: skip
    before = rows_written()
    simulation = simulate(
        terminal=world.terminal, lines=[line(1, "MUG", "1", "300.00")], card=world.card.number,
        exchanges=("MUG-50", "COUPON-10", "NOPE"),
    )  # fmt: skip
    effects = _effects(simulation)
    # half of 300.00 off for 10 of the 15 chips; the coupon's 10 more find 5 left
    assert ("discount", "Mug at half price", "discount 150.00") in effects
    assert (
        "exchange",
        "Mug at half price",
        "exchange MUG-50: the customer pays 10 chips",
    ) in effects
    assert (
        "exchange",
        "A coupon for chips",
        "exchange COUPON-10 refused: the customer has not enough points to pay its price; "
        "costs 10 chips, the customer has 5",
    ) in effects
    assert ("exchange", "", "exchange NOPE refused: no exchange promotion has this code") in effects
    assert rows_written() == before
