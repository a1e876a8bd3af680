"""The nightly recompute of favourite products (mechanics.md, item 20): each customer's top N
products by money paid over the programme's window, less refunds, from the receipts that still
stand, ties to the smaller product id; the rows replaced as a whole, the same on a second run.
Purchases go through confirm, refund and cancel, as at the register."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from loyalty.models import FavouriteProduct, Programme
from loyalty.services.favourites import favourites_recompute
from loyalty.tasks import favourites_recompute_task
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import ProductSet
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CurrencyFactory,
    ProductFactory,
    ProgrammeFactory,
)
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    """A programme (base 5 % in points) and products created in the order C, A, B, D, E, so
    that product ids do not follow the names: C has the smallest id."""
    world = coalition(percent="5")
    world.products = {
        sku: ProductFactory(sku=sku, partner=None) for sku in ("C", "A", "B", "D", "E")
    }
    world.products["GIFT"] = ProductFactory(sku="GIFT", partner=None, is_gift_card=True)
    return world


def _buy(world, receipt_id, lines, *, card=None, days_ago=None) -> dict:
    sold_at = timezone.now() - timedelta(days=days_ago) if days_ago is not None else None
    return confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=(card or world.card).number,
            sold_at=sold_at,
            lines=tuple(
                PurchaseLine(n, sku, D(str(quantity)), D(price))
                for n, (sku, quantity, price) in enumerate(lines, start=1)
            ),
        ),
    )


def _favourites(customer, programme=None) -> list[tuple[str, int, Decimal]]:
    rows = FavouriteProduct.objects.filter(customer=customer)
    if programme is not None:
        rows = rows.filter(programme=programme)
    return [
        (row.product.sku, row.rank, row.spend)
        for row in rows.select_related("product").order_by("programme_id", "rank")
    ]


def _table() -> list[tuple]:
    return list(
        FavouriteProduct.objects.order_by("customer_id", "programme_id", "rank").values_list(
            "customer_id", "programme_id", "product_id", "rank", "spend"
        )
    )


def test_the_top_three_by_money_paid_ties_to_the_smaller_product_id(
    world, assert_ledger_consistent
):
    # given A bought twice (300.00 in all), B and C for 200.00 each, D and E for less, a SKU
    # the catalogue does not know and a gift card for more than any of them
    _buy(world, "R1", [("A", 1, "100.00"), ("B", 2, "100.00"), ("UNKNOWN", 1, "5000.00")])
    _buy(world, "R2", [("A", 2, "100.00"), ("C", 1, "200.00"), ("D", 1, "150.00")])
    _buy(world, "R3", [("E", 1, "50.00"), ("GIFT", 1, "3000.00")])
    # when
    totals = favourites_recompute()
    # then A first, then the tie of B and C goes to C (created first: the smaller id)
    assert _favourites(world.customer) == [
        ("A", 1, D("300.00")),
        ("C", 2, D("200.00")),
        ("B", 3, D("200.00")),
    ]
    assert world.products["C"].pk < world.products["B"].pk
    assert totals == {"programmes": 1, "removed": 0, "written": 3}
    assert_ledger_consistent()


def test_each_customer_is_ranked_on_their_own_purchases(world, assert_ledger_consistent):
    other = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme)
    _buy(world, "R1", [("A", 1, "500.00"), ("B", 1, "100.00")])
    _buy(world, "R2", [("D", 1, "90.00"), ("E", 1, "900.00")], card=other)
    world.programme.favourites_count = 2
    world.programme.save()

    favourites_recompute()

    assert _favourites(world.customer) == [("A", 1, D("500.00")), ("B", 2, D("100.00"))]
    assert _favourites(other.customer) == [("E", 1, D("900.00")), ("D", 2, D("90.00"))]
    assert_ledger_consistent()


def test_money_paid_is_after_discounts_and_less_refunds(world, assert_ledger_consistent):
    # given A for 2 x 250.00, B for 300.00 and C for 400.00 at half price, on one receipt
    half_price = ProductSet.objects.create(programme=world.programme, name="C")
    half_price.products.set([world.products["C"]])
    promotion(world, "C at half price", rewards=[
        {"kind": "discount_percent", "value": 50, "product_set": half_price}
    ])  # fmt: skip
    answer = _buy(world, "R1", [("A", 2, "250.00"), ("B", 1, "300.00"), ("C", 1, "400.00")])
    assert answer["lines"][2]["to_pay"] == "200.00"
    favourites_recompute()
    assert _favourites(world.customer)[2] == ("C", 3, D("200.00"))
    assert [sku for sku, _rank, _spend in _favourites(world.customer)] == ["A", "B", "C"]
    # when one A comes back (250.00 of money returned)
    purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    favourites_recompute()
    # then A counts what is left of it, 250.00: below B
    assert _favourites(world.customer) == [
        ("B", 1, D("300.00")),
        ("A", 2, D("250.00")),
        ("C", 3, D("200.00")),
    ]
    # and a fully refunded product is no favourite at all
    purchase_refund(world.terminal, "R1", "F2", [(1, D("1"))])
    favourites_recompute()
    assert [sku for sku, _rank, _spend in _favourites(world.customer)] == ["B", "C"]
    assert_ledger_consistent()


def test_cancelled_and_fully_refunded_receipts_count_nothing(world, assert_ledger_consistent):
    _buy(world, "R1", [("A", 1, "100.00")])
    _buy(world, "R2", [("B", 1, "900.00")])
    _buy(world, "R3", [("C", 1, "800.00")])
    purchase_cancel(world.terminal, "R2")
    purchase_refund(world.terminal, "R3", "F1", None)

    favourites_recompute()

    assert _favourites(world.customer) == [("A", 1, D("100.00"))]
    assert_ledger_consistent()


def test_only_the_purchases_of_the_window_count(world, assert_ledger_consistent):
    # given a window of 10 days; E bought for a lot 20 days ago, A and B within the window
    world.programme.favourites_window_days = 10
    world.programme.save()
    _buy(world, "OLD", [("E", 1, "5000.00")], days_ago=20)
    _buy(world, "NEW", [("A", 1, "100.00"), ("B", 1, "50.00")], days_ago=9)
    # when
    favourites_recompute()
    # then
    assert [sku for sku, _rank, _spend in _favourites(world.customer)] == ["A", "B"]
    # and with a window of 30 days E counts again
    world.programme.favourites_window_days = 30
    world.programme.save()
    favourites_recompute()
    assert [sku for sku, _rank, _spend in _favourites(world.customer)] == ["E", "A", "B"]
    # and ten days later, with the window of 10, nothing is left of the purchases
    world.programme.favourites_window_days = 10
    world.programme.save()
    favourites_recompute(now=timezone.now() + timedelta(days=10))
    assert _favourites(world.customer) == []
    assert_ledger_consistent()


def test_a_recompute_replaces_favourites_that_changed_or_vanished(world, assert_ledger_consistent):
    # given favourites from a first run, for two customers
    other = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme)
    _buy(world, "R1", [("A", 1, "300.00"), ("B", 1, "200.00"), ("C", 1, "100.00")])
    _buy(world, "R2", [("D", 1, "100.00")], card=other)
    favourites_recompute()
    assert [sku for sku, _r, _s in _favourites(world.customer)] == ["A", "B", "C"]
    assert [sku for sku, _r, _s in _favourites(other.customer)] == ["D"]
    # when the first buys E for more than all, and the other's only purchase is cancelled
    _buy(world, "R3", [("E", 1, "1000.00")])
    purchase_cancel(world.terminal, "R2")
    totals = favourites_recompute()
    # then E is first and C drops out; the other customer has no favourites left
    assert [sku for sku, _r, _s in _favourites(world.customer)] == ["E", "A", "B"]
    assert _favourites(other.customer) == []
    assert totals == {"programmes": 1, "removed": 4, "written": 3}
    # and a programme that keeps one favourite, then none
    world.programme.favourites_count = 1
    world.programme.save()
    favourites_recompute()
    assert _favourites(world.customer) == [("E", 1, D("1000.00"))]
    world.programme.favourites_count = 0
    world.programme.save()
    assert favourites_recompute()["written"] == 0
    assert FavouriteProduct.objects.count() == 0
    assert_ledger_consistent()


def test_running_twice_gives_the_same_table(world, assert_ledger_consistent):
    other = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme)
    _buy(world, "R1", [("A", 1, "10.00"), ("B", 3, "10.00"), ("C", 1, "30.00")])
    _buy(world, "R2", [("D", 1, "0.10"), ("E", 1, "0.20"), ("A", 1, "0.30")], card=other)
    favourites_recompute()
    first = _table()
    favourites_recompute()
    assert _table() == first
    assert len(first) == 6
    assert_ledger_consistent()


def test_favourites_are_kept_per_programme(world, assert_ledger_consistent):
    # given the customer also holds a card of a second programme, which keeps 2 favourites
    second = ProgrammeFactory(code="pharma", name="Pharma", favourites_count=2)
    CurrencyFactory(programme=second, code="pharma-bonus")
    pharma_card = ActiveCardFactory(customer=world.customer, programme=second)
    _buy(world, "R1", [("A", 1, "100.00"), ("B", 1, "90.00"), ("C", 1, "80.00")])
    _buy(world, "R2", [("D", 1, "70.00"), ("E", 1, "60.00"), ("A", 1, "50.00")], card=pharma_card)
    # when
    favourites_recompute()
    # then each programme ranks only the receipts in its own points currency
    assert [sku for sku, _r, _s in _favourites(world.customer, world.programme)] == [
        "A",
        "B",
        "C",
    ]
    assert _favourites(world.customer, second) == [("D", 1, D("70.00")), ("E", 2, D("60.00"))]
    # and an inactive programme keeps none
    Programme.objects.filter(pk=second.pk).update(is_active=False)
    favourites_recompute()
    assert _favourites(world.customer, second) == []
    assert_ledger_consistent()


def test_the_nightly_task_is_scheduled_and_runs_the_recompute(world):
    entry = PeriodicTask.objects.get(task="loyalty.favourites_recompute")
    assert entry.enabled
    assert (entry.crontab.hour, entry.crontab.minute) == ("2", "30")
    assert str(entry.crontab.timezone) == settings.TIME_ZONE
    _buy(world, "R1", [("A", 1, "100.00")])
    assert favourites_recompute_task.apply().get() == {
        "programmes": 1,
        "removed": 0,
        "written": 1,
    }
    assert _favourites(world.customer) == [("A", 1, D("100.00"))]
