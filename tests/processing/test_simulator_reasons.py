"""The simulator names, for every promotion that gave nothing, the condition that failed and
the value that failed it; the numbers are worked out here, apart from the engine."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from loyalty.models import CounterValue, TierMembership
from processing.sale import PurchaseRequest
from processing.simulator import simulate
from tests.factories.loyalty import CounterFactory, TierFactory
from tests.factories.promotions import promotion
from tests.processing.answers import confirm_answer
from tests.processing.simulated import line, rows_written, store_moment, world_with_products

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    world = world_with_products()
    promotion(world, "Budget of 10", budget=D("10.00"), rewards=[
        {"kind": "points_fixed", "value": 10}
    ])  # fmt: skip
    promotion(world, "Once per customer", uses_per_customer=1, rewards=[
        {"kind": "points_fixed", "value": 7}
    ])  # fmt: skip
    # a purchase before the simulation uses the budget (10 of 10) and the customer's one use
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="PAST", card=world.card.number, lines=(line(1, "B", "1", "100"),)
        ),
    )
    world.silver = TierFactory(programme=world.programme, name="Silver", rank=1, threshold=D("0"))
    world.gold = TierFactory(programme=world.programme, name="Gold", rank=2, threshold=D("5000"))
    TierMembership.objects.create(
        customer=world.customer, programme=world.programme, tier=world.silver,
        qualifying_amount=D("100.00"),
    )  # fmt: skip
    world.counter = CounterFactory(programme=world.programme, name="Purchases", unit="purchases")
    CounterValue.objects.create(counter=world.counter, customer=world.customer, value=D("2"))
    promotion(world, "500 club", conditions=[
        {"kind": "receipt_total", "operator": "gte", "amount": "500.01"}
    ], rewards=[{"kind": "points_fixed", "value": 50}])  # fmt: skip
    promotion(world, "Fifth purchase", conditions=[
        {"kind": "counter_value", "operator": "gte", "quantity": 5, "counter": world.counter}
    ], rewards=[{"kind": "points_fixed", "value": 100}])  # fmt: skip
    promotion(world, "Lunch", time_from=time(13), time_to=time(15), rewards=[
        {"kind": "points_fixed", "value": 20}
    ])  # fmt: skip
    promotion(world, "Saturday", weekdays=[6], rewards=[{"kind": "points_fixed", "value": 30}])
    promotion(world, "Gold only", tiers=[world.gold], rewards=[
        {"kind": "points_fixed", "value": 40}
    ])  # fmt: skip
    return world


def test_each_promotion_that_gave_nothing_names_the_value_that_failed_it(world):
    # given a Monday receipt at 10:30 store time of 2 x 240.00 = 480.00
    before = rows_written()
    sold_at = store_moment(world, 1, time(10, 30))
    # when it is simulated for the card's holder
    simulation = simulate(
        terminal=world.terminal, lines=[line(1, "A", "2", "240.00")], sold_at=sold_at,
        card=world.card.number,
    )  # fmt: skip
    # then each refusal carries its value: the receipt is 480.00 (2 x 240.00) against 500.01,
    # the counter stands at 2 + this purchase = 3 of 5, the sale is at 10:30 on a Monday,
    # the customer is Silver, the budget 10.00 was given by the purchase before, as was the
    # one use the customer may have
    details = {r.name: list(r.details) for r in simulation.refusals}
    assert details["500 club"] == ["receipt 480.00 < 500.01"]
    assert details["Fifth purchase"] == ["counter Purchases 3 of 5"]
    assert details["Lunch"] == ["10:30 is outside 13:00-15:00 store time"]
    assert details["Saturday"] == ["not on Monday (only Saturday)"]
    assert details["Gold only"] == ["tier Silver not in Gold"]
    assert details["Budget of 10"] == ["budget 10.00 used up (10.00 given)"]
    assert details["Once per customer"] == ["limit 1 per customer reached (1 used)"]
    # and the base promotion fired: 5% of 480.00 = 24.00
    assert simulation.totals["points_earned"] == "24.00"
    assert "10:30 store time" in simulation.clock
    assert rows_written() == before


def test_the_receipt_amount_a_condition_sees_is_after_the_discounts_before_it(world):
    # given -10% (priority 10) before the 500 club: 550.00 pays 495.00 when the club is judged
    promotion(world, "-10%", priority=10, rewards=[{"kind": "discount_percent", "value": 10}])
    simulation = simulate(
        terminal=world.terminal, lines=[line(1, "A", "1", "550.00")], card=world.card.number
    )
    details = {r.name: list(r.details) for r in simulation.refusals}
    assert details["500 club"] == ["receipt 495.00 < 500.01"]


def test_a_described_customer_without_a_tier_is_told_which_tier_it_needs(world):
    simulation = simulate(terminal=world.terminal, lines=[line(1, "A", "1", "10.00")])
    details = {r.name: list(r.details) for r in simulation.refusals}
    assert details["Gold only"] == ["the customer has no tier; only Gold"]
    as_silver = simulate(
        terminal=world.terminal, lines=[line(1, "A", "1", "10.00")], tier_id=world.silver.pk
    )
    details = {r.name: list(r.details) for r in as_silver.refusals}
    assert details["Gold only"] == ["tier Silver not in Gold"]
