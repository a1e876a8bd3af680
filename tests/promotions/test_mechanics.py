"""The worked examples of mechanics.md (items 1-5, 7, 13-15 and 20; 6 in
tests/loyalty/test_tiers.py, 8 in test_restricted_points.py), built from the general parts a
marketer uses (promotion rows, conditions, rewards, product sets, groups) and checked through
``calculate`` and ``confirm`` to the kopeck, with the ledger invariants after each."""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import (
    Counter,
    CounterValue,
    FavouriteProduct,
    Lot,
    Receipt,
    ReceiptLineReward,
)
from loyalty.services.favourites import favourites_recompute
from processing.refund import purchase_cancel
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import BrandFactory, CategoryFactory, CounterFactory, ProductFactory
from tests.factories.processing import coalition
from tests.factories.promotions import group, product_set, promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal
NOVOSIBIRSK_UTC_OFFSET = timedelta(hours=7)  # the factories' stores are in Asia/Novosibirsk


@pytest.fixture
def world():
    """A programme whose promotions each test builds itself (the factory's base is finished)."""
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    return world


def _sale(world, receipt_id, lines, **kw) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=kw.pop("card", world.card.number),
        lines=tuple(
            PurchaseLine(line_no=n, sku=sku, quantity=D(str(q)), price=D(price))
            for n, (sku, q, price) in enumerate(lines, start=1)
        ),
        **kw,
    )


def _both(world, receipt_id, lines, **kw) -> dict:
    """calculate, then confirm: the same numbers; returns confirm's answer."""
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    for key in ("total", "discount", "points_spent", "to_pay", "points_earned", "lines"):
        assert calculated[key] == confirmed[key], key
    assert calculated["promotions"] == confirmed["promotions"]
    return confirmed


def _store_today() -> date:
    return (timezone.now().astimezone(UTC) + NOVOSIBIRSK_UTC_OFFSET).date()


def _store_time(hour: int, minute: int = 0, day: datetime | None = None) -> datetime:
    """A moment yesterday (or on ``day``) at hour:minute on the store's clock, as an aware time.

    Yesterday, not today: 19:00 today is still in the future for most of the day, and a sale
    from the future is refused; yesterday is well inside the offline upload window."""
    day = day or timezone.now() - timedelta(days=1)
    local = day.astimezone(UTC) + NOVOSIBIRSK_UTC_OFFSET
    return datetime(local.year, local.month, local.day, hour, minute, tzinfo=UTC) - (
        NOVOSIBIRSK_UTC_OFFSET
    )


def test_1_constant_percent(world, assert_ledger_consistent):
    promotion(world, "5%", rewards=[{"kind": "points_percent", "value": "5"}])
    assert _both(world, "R1", [("X", 1, "100.00")])["points_earned"] == "5.00"
    assert _both(world, "R2", [("X", 1, "99.99")])["points_earned"] == "5.00"  # 4.9995
    assert_ledger_consistent()


def test_2_floating_percent_by_receipt_total(world, assert_ledger_consistent):
    below = [{"kind": "receipt_total", "operator": "lt", "amount": "100.00"}]
    middle = [
        {"kind": "receipt_total", "operator": "gte", "amount": "100.00"},
        {"kind": "receipt_total", "operator": "lt", "amount": "500.00"},
    ]
    above = [{"kind": "receipt_total", "operator": "gte", "amount": "500.00"}]
    for name, percent, conditions in (("5%", 5, below), ("7%", 7, middle), ("10%", 10, above)):
        promotion(
            world,
            name,
            conditions=conditions,
            rewards=[{"kind": "points_percent", "value": percent}],
        )
    assert _both(world, "R1", [("X", 1, "499.99")])["points_earned"] == "35.00"
    assert _both(world, "R2", [("X", 1, "500.00")])["points_earned"] == "50.00"
    assert _both(world, "R3", [("X", 1, "99.99")])["points_earned"] == "5.00"
    assert_ledger_consistent()


def test_3_percent_per_product_in_a_first_group(world, assert_ledger_consistent):
    a = ProductFactory(sku="A", partner=None)
    category_b = CategoryFactory()
    ProductFactory(sku="B", partner=None, category=category_b)
    first = group(world, "Accrual", "first")
    promotion(
        world,
        "SKU A 3%",
        priority=30,
        group=first,
        rewards=[
            {
                "kind": "points_percent",
                "value": 3,
                "product_set": product_set(world, "A", products=[a]),
            }
        ],
    )
    promotion(
        world,
        "Category B 5%",
        priority=20,
        group=first,
        rewards=[
            {
                "kind": "points_percent",
                "value": 5,
                "product_set": product_set(world, "B", categories=[category_b]),
            }
        ],
    )
    base = promotion(
        world, "Base 2%", priority=10, group=first, rewards=[{"kind": "points_percent", "value": 2}]
    )
    lines = [("A", 1, "100.00"), ("B", 1, "200.00"), ("OTHER", 1, "300.00")]
    answer = _both(world, "R1", lines)
    assert answer["points_earned"] == "19.00"  # 3.00 + 10.00 + 6.00
    assert [line["points_earned"] for line in answer["lines"]] == ["3.00", "10.00", "6.00"]
    # ... and a fixed +100 points when product A is in the receipt, outside the group
    promotion(
        world,
        "+100 with A",
        conditions=[
            {"kind": "contains", "product_set": product_set(world, "A again", products=[a])}
        ],
        rewards=[{"kind": "points_fixed", "value": 100}],
    )
    assert _both(world, "R2", lines)["points_earned"] == "119.00"
    assert _both(world, "R3", [("OTHER", 1, "300.00")])["points_earned"] == "6.00"
    receipt = Receipt.objects.get(receipt_id="R1")
    rewards = ReceiptLineReward.objects.filter(line__receipt=receipt, promotion=base)
    assert [(r.line.line_no, r.amount) for r in rewards] == [(3, D("6.0000"))]
    assert_ledger_consistent()


def test_4_time_and_sum_with_a_multiplier(world, assert_ledger_consistent):
    base = promotion(
        world, "Base 2%", priority=10, rewards=[{"kind": "points_percent", "value": 2}]
    )
    promotion(
        world,
        "+50 at lunch",
        time_from=time(13, 0),
        time_to=time(15, 0),
        rewards=[{"kind": "points_fixed", "value": 50}],
    )
    promotion(
        world,
        "x2 over 2000",
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "2000.01"}],
        rewards=[{"kind": "points_multiplier", "value": 2, "multiplier_of": base}],
    )
    at_lunch = _store_time(14, 10)
    answer = _both(world, "R1", [("X", 1, "2500.00")], sold_at=at_lunch)
    assert answer["points_earned"] == "150.00"  # 50.00 x2 + 50.00
    evening = _store_time(19, 0)
    assert _both(world, "R2", [("X", 1, "2500.00")], sold_at=evening)["points_earned"] == "100.00"
    assert _both(world, "R3", [("X", 1, "2000.00")], sold_at=evening)["points_earned"] == "40.00"
    assert_ledger_consistent()


def test_5_every_5th_purchase_over_500_gives_100_points_until_31_december(
    world, assert_ledger_consistent
):
    """A counter counts the qualifying purchases (a step given by a promotion whose condition
    is "over 500"); a second promotion gives +100 when a purchase takes it past a multiple of
    5. The points burn after 31 December; a cancel steps the counter back."""
    qualifying = CounterFactory(programme=world.programme, code="over500", unit=Counter.Unit.STEPS)
    over_500 = {"kind": "receipt_total", "operator": "gte", "amount": "500.01"}
    promotion(
        world,
        "count purchases over 500",
        conditions=[over_500],
        rewards=[{"kind": "counter_step", "value": 1, "counter": qualifying}],
    )
    last_day = date(_store_today().year, 12, 31)
    promotion(
        world,
        "every 5th: +100",
        conditions=[over_500, {"kind": "nth_purchase", "counter": qualifying, "quantity": 5}],
        rewards=[{"kind": "points_fixed", "value": 100, "expires_on": last_day}],
    )
    earned = [_both(world, f"R{n}", [("X", 1, "600.00")])["points_earned"] for n in range(1, 5)]
    assert earned == ["0.00"] * 4
    assert _both(world, "SMALL", [("X", 1, "300.00")])["points_earned"] == "0.00"  # not counted
    assert _both(world, "R5", [("X", 1, "600.00")])["points_earned"] == "100.00"
    lot = Lot.objects.get(receipt__receipt_id="R5")
    zone = zoneinfo.ZoneInfo(world.store.timezone)
    assert lot.expires_at == datetime(last_day.year + 1, 1, 1, tzinfo=zone)
    assert CounterValue.objects.get(counter=qualifying, customer=world.customer).value == 5
    assert_ledger_consistent()
    purchase_cancel(world.terminal, "R5")  # steps the counter back to 4, takes the 100 back
    assert CounterValue.objects.get(counter=qualifying, customer=world.customer).value == 4
    assert _both(world, "R6", [("X", 1, "600.00")])["points_earned"] == "100.00"
    assert _both(world, "R7", [("X", 1, "600.00")])["points_earned"] == "0.00"
    assert_ledger_consistent()


def _credit(world, points: str) -> None:
    """Give the customer ``points`` through a one-off promotion, finished afterwards."""
    gift = promotion(world, "credit", rewards=[{"kind": "points_fixed", "value": points}])
    confirm_answer(world.terminal, _sale(world, "CREDIT", [("X", 1, "1.00")]))
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    snapshot_invalidate()


def test_7_spending_half_the_receipt_or_all_but_1_ruble(world, assert_ledger_consistent):
    _credit(world, "800")
    half = _both(world, "R1", [("X", 1, "1000.00")], spend_points="max")
    assert (half["points_spent"], half["to_pay"]) == ("500.00", "500.00")
    purchase_cancel(world.terminal, "R1")  # the 500 points come back
    world.programme.max_spend_percent = D("100")
    world.programme.min_money_payment = D("1.00")
    world.programme.save()
    minus_one = _both(world, "R2", [("X", 1, "1000.00")], spend_points="max")
    assert (minus_one["points_spent"], minus_one["to_pay"]) == ("800.00", "200.00")
    assert_ledger_consistent()


def test_13_gift_by_quantity(world, assert_ledger_consistent):
    lemonade = ProductFactory(sku="LEMON", partner=None)
    promotion(
        world,
        "3rd lemonade free",
        rewards=[
            {
                "kind": "every_nth",
                "value": 100,
                "every_n": 3,
                "product_set": product_set(world, "Lemonade", products=[lemonade]),
            }
        ],
    )
    answer = _both(world, "R1", [("LEMON", 3, "60.00"), ("BREAD", 1, "40.00")])
    assert answer["discount"] == "60.00"
    assert answer["to_pay"] == "160.00"
    assert [line["discount"] for line in answer["lines"]] == ["60.00", "0.00"]
    assert _both(world, "R2", [("LEMON", 2, "60.00")])["discount"] == "0.00"
    assert_ledger_consistent()


def test_13_every_nth_unit_goes_to_the_cheapest_units(world):
    xxl = BrandFactory()
    for sku in ("U10", "U8", "U6", "U4", "U2", "U1"):
        ProductFactory(sku=sku, partner=None, brand=xxl)
    free = promotion(
        world,
        "every 3rd free",
        rewards=[
            {
                "kind": "every_nth",
                "value": 100,
                "every_n": 3,
                "product_set": product_set(world, "XXL", brands=[xxl]),
            }
        ],
    )
    units = [("U10", 1, "10.00"), ("U8", 1, "8.00"), ("U6", 1, "6.00")]
    units += [("U4", 1, "4.00"), ("U2", 1, "2.00"), ("U1", 1, "1.00")]
    answer = _both(world, "R1", units)
    assert answer["discount"] == "3.00"  # the 1.00 and 2.00 units
    # weighted goods never count as units; at half price the same units give half
    assert _both(world, "R2", [("U10", "2.5", "10.00"), ("U8", 2, "8.00")])["discount"] == "0.00"
    free.rewards.update(value=D("50"))
    from promotions.rules.snapshot import snapshot_invalidate

    snapshot_invalidate()
    assert _both(world, "R3", units)["discount"] == "1.50"


def test_14_receipt_composition(world, assert_ledger_consistent):
    brand_a = BrandFactory()
    beds, mattresses = CategoryFactory(), CategoryFactory()
    bed = ProductFactory(sku="BED-A", partner=None, brand=brand_a, category=beds)
    ProductFactory(sku="MATTRESS-A", partner=None, brand=brand_a, category=mattresses)
    ProductFactory(sku="MATTRESS-Z", partner=None, category=mattresses)
    mattresses_a = product_set(world, "Mattresses A", categories=[mattresses])
    mattresses_a.excluded_products.set(
        [p for p in mattresses.products.all() if p.brand_id != brand_a.pk]
    )
    promotion(
        world,
        "Bed A: 30% off mattresses A",
        conditions=[
            {"kind": "contains", "product_set": product_set(world, "Bed A", products=[bed])}
        ],
        rewards=[{"kind": "discount_percent", "value": 30, "product_set": mattresses_a}],
    )
    promotion(world, "Base 5%", rewards=[{"kind": "points_percent", "value": 5}])
    lines = [("BED-A", 1, "50000.00"), ("MATTRESS-A", 1, "20000.00"), ("MATTRESS-Z", 1, "9000.00")]
    answer = _both(world, "R1", lines)
    assert [line["discount"] for line in answer["lines"]] == ["0.00", "6000.00", "0.00"]
    assert answer["to_pay"] == "73000.00"
    assert answer["points_earned"] == "3650.00"  # 5% of what is paid, after the discount
    without_bed = _both(world, "R2", lines[1:])
    assert without_bed["discount"] == "0.00"
    assert_ledger_consistent()


def test_15_receipt_sum_in_march(world, assert_ledger_consistent):
    now = timezone.now()
    promotion(
        world,
        "5000 in March: +200",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=30),
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": "5000.00"}],
        rewards=[{"kind": "points_fixed", "value": 200}],
    )
    assert _both(world, "R1", [("X", 1, "5000.00")])["points_earned"] == "200.00"
    assert _both(world, "R2", [("X", 1, "4999.99")])["points_earned"] == "0.00"
    later = now + timedelta(days=31)
    late = _sale(world, "R3", [("X", 1, "6000.00")], sold_at=later)
    assert calculate_answer(world.terminal, late)["points_earned"] == "0.00"
    assert_ledger_consistent()


def test_20_favourite_products(world, assert_ledger_consistent):
    """The customer's top-3 products by money paid are A, B and C (D comes 4th): "5 % points
    on your top-3" gives 5 % on A only of a receipt with A and D; "-10 % on your favourites"
    likewise; a receipt without a customer gets neither."""
    for sku in ("A", "B", "C", "D"):
        ProductFactory(sku=sku, partner=None)
    history = [("A", 1, "300.00"), ("B", 1, "200.00"), ("C", 1, "100.00"), ("D", 1, "50.00")]
    _both(world, "H1", history)
    favourites_recompute()  # the nightly job
    top = FavouriteProduct.objects.filter(customer=world.card.customer).order_by("rank")
    assert [f.product.sku for f in top] == ["A", "B", "C"]

    points = promotion(
        world,
        "5% on your top-3",
        rewards=[{"kind": "points_percent", "value": 5, "favourites_only": True}],
    )
    answer = _both(world, "R1", [("A", 1, "100.00"), ("D", 1, "100.00")])
    assert answer["points_earned"] == "5.00"
    assert [line["points_earned"] for line in answer["lines"]] == ["5.00", "0.00"]
    rewards = ReceiptLineReward.objects.filter(line__receipt__receipt_id="R1", promotion=points)
    assert [(r.line.line_no, r.amount) for r in rewards] == [(1, D("5.0000"))]
    assert _both(world, "R2", [("D", 1, "100.00")])["points_earned"] == "0.00"

    promotion(
        world,
        "-10% on your favourites",
        priority=10,
        rewards=[{"kind": "discount_percent", "value": 10, "favourites_only": True}],
    )
    answer = _both(world, "R3", [("A", 1, "100.00"), ("D", 1, "100.00")])
    assert [line["discount"] for line in answer["lines"]] == ["10.00", "0.00"]
    assert answer["points_earned"] == "4.50"  # 5 % of the 90.00 left to pay for A
    anonymous = _both(world, "R4", [("A", 1, "100.00"), ("D", 1, "100.00")], card=None)
    assert (anonymous["discount"], anonymous["points_earned"]) == ("0.00", "0.00")
    assert_ledger_consistent()


def test_sequential_discounts_compound(world, assert_ledger_consistent):
    promotion(world, "-4%", priority=20, rewards=[{"kind": "discount_percent", "value": 4}])
    promotion(world, "-10%", priority=10, rewards=[{"kind": "discount_percent", "value": 10}])
    answer = _both(world, "R1", [("X", 1, "1000.00")])
    assert answer["to_pay"] == "864.00"
    assert [p["amount"] for p in answer["promotions"]] == ["40.00", "96.00"]
    assert_ledger_consistent()


def test_a_best_group_keeps_the_one_worth_most(world):
    best = group(world, "Either", "best")
    promotion(
        world, "-5%", priority=20, group=best, rewards=[{"kind": "discount_percent", "value": 5}]
    )
    promotion(
        world, "-100", priority=10, group=best, rewards=[{"kind": "discount_fixed", "value": 100}]
    )
    assert _both(world, "R1", [("X", 1, "1000.00")])["discount"] == "100.00"
    assert _both(world, "R2", [("X", 1, "3000.00")])["discount"] == "150.00"


@pytest.mark.parametrize("points_first", [False, True], ids=["discount first", "points first"])
@pytest.mark.parametrize(
    ("rate", "discount", "points"),
    [
        ("1", "0.00", "80.00"),  # 80 points worth 80.00 beat 50.00 off
        ("0.5", "50.00", "0.00"),  # 80 points worth 40.00 lose to 50.00 off
    ],
)
def test_a_best_group_weighs_points_against_a_discount_at_the_currencys_rate(
    world, assert_ledger_consistent, points_first, rate, discount, points
):
    from loyalty.models import Currency

    Currency.objects.filter(pk=world.currency.pk).update(rub_rate=D(rate))
    best = group(world, "Either", "best")
    off = promotion(
        world,
        "-50.00",
        priority=10 if points_first else 20,
        group=best,
        rewards=[{"kind": "discount_fixed", "value": "50.00"}],
    )
    earn = promotion(
        world,
        "8% in points",
        priority=20 if points_first else 10,
        group=best,
        rewards=[{"kind": "points_percent", "value": 8}],
    )
    answer = _both(world, "R1", [("X", 1, "1000.00")])
    # only one of them: never 50.00 off and 76.00 points (8 % of the 950.00 left)
    assert (answer["discount"], answer["points_earned"]) == (discount, points)
    winner = earn if points == "80.00" else off
    assert [p["id"] for p in answer["promotions"]] == [winner.pk]
    assert_ledger_consistent()


def test_a_best_group_of_points_and_a_discount_explains_the_loser(world):
    from promotions.engine import evaluate
    from promotions.engine.types import CustomerFacts, LineInput, ReceiptContext
    from promotions.rules.snapshot import snapshot_get

    best = group(world, "Either", "best")
    off = promotion(
        world, "-50.00", priority=20, group=best, rewards=[{"kind": "discount_fixed", "value": 50}]
    )
    earn = promotion(
        world,
        "8% points",
        priority=10,
        group=best,
        rewards=[{"kind": "points_percent", "value": 8}],
    )
    line = LineInput(line_no=1, sku="X", quantity=D(1), price=D("1000.00"), amount=D("1000.00"))
    ctx = ReceiptContext(
        programme_id=world.programme.pk,
        partner_id=world.partner.pk,
        store_id=world.store.pk,
        terminal_id=world.terminal.pk,
        channel="store",
        at=timezone.now(),
        local_date=_store_today(),
        lines=(line,),
        customer=CustomerFacts(id=world.customer.pk),
    )
    result = evaluate(snapshot_get(), ctx)
    assert (result.discount, result.points_earned) == (D("0.00"), D("80.00"))
    assert (off.pk, f"lost_in_group_best:{earn.pk}") in result.blocked
    assert not [reason for pk, reason in result.blocked if pk == earn.pk]
    # without a customer nobody earns points: the discount is all the group can give
    anonymous = evaluate(snapshot_get(), replace(ctx, customer=None))
    assert (anonymous.discount, anonymous.points_earned) == (D("50.00"), D("0"))


def test_an_exclusive_promotion_stops_lower_ones_on_its_lines(world):
    a = ProductFactory(sku="A", partner=None)
    promotion(
        world,
        "A at half price, exclusive",
        priority=50,
        exclusive=True,
        rewards=[
            {
                "kind": "discount_percent",
                "value": 50,
                "product_set": product_set(world, "A", products=[a]),
            }
        ],
    )
    promotion(
        world, "-10% on all", priority=10, rewards=[{"kind": "discount_percent", "value": 10}]
    )
    promotion(world, "5% points", priority=10, rewards=[{"kind": "points_percent", "value": 5}])
    answer = _both(world, "R1", [("A", 1, "100.00"), ("B", 1, "100.00")])
    assert [line["discount"] for line in answer["lines"]] == ["50.00", "10.00"]
    assert [line["points_earned"] for line in answer["lines"]] == ["0.00", "4.50"]


def test_discounts_leave_the_minimum_money_payment(world):
    promotion(world, "everything free", rewards=[{"kind": "discount_percent", "value": 100}])
    answer = _both(world, "R1", [("X", 1, "30.00"), ("Y", 1, "20.00")])
    assert answer["to_pay"] == "1.00"
    assert answer["discount"] == "49.00"


def test_an_anonymous_receipt_gets_discounts_but_no_points(world):
    promotion(world, "-10%", rewards=[{"kind": "discount_percent", "value": 10}])
    promotion(world, "5%", rewards=[{"kind": "points_percent", "value": 5}])
    answer = _both(world, "R1", [("X", 1, "100.00")], card=None)
    assert answer["discount"] == "10.00"
    assert answer["points_earned"] == "0.00"
