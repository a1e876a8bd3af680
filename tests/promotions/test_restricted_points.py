"""mechanics.md item 8, restricted points: points a one-off promotion gives may be spent only
on a product list, only from a receipt of at least X, only at some stores or hours, at most x %
of a receipt; they burn on a date. Restricted points are spent first where their rule admits
the receipt, then the customer's other points, all within the programme's redemption rules."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Account, Lot, Product
from processing.refund import purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion, SpendRule
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import ProductFactory, StoreFactory
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal
ZONE = zoneinfo.ZoneInfo("Asia/Novosibirsk")  # the factories' stores


@pytest.fixture
def world():
    world = coalition(percent="5", max_spend_percent=D("100"))
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    ProductFactory(sku="CHEESE")
    ProductFactory(sku="BREAD")
    return world


def _sale(world, receipt_id, lines, spend="max", sold_at=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number,
        lines=tuple(
            PurchaseLine(n, sku, D(q), D(p)) for n, (sku, q, p) in enumerate(lines, start=1)
        ),
        spend_points=spend,
        sold_at=sold_at,
    )


def _both(world, receipt_id, lines, **kw) -> dict:
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, lines, **kw))
    for key in ("points_spent", "to_pay", "points_earned", "lines"):
        assert calculated[key] == confirmed[key], key
    return confirmed


def _give(world, points: str, rule: SpendRule | None, receipt_id: str, **reward) -> None:
    """Credit ``points`` through a one-off promotion whose points follow ``rule``."""
    gift = promotion(
        world,
        f"one-off {receipt_id}",
        rewards=[{"kind": "points_fixed", "value": points, "spend_rule": rule, **reward}],
    )
    confirm_answer(world.terminal, _sale(world, receipt_id, [("X", "1", "1.00")], spend=None))
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    snapshot_invalidate()


def _rule(world, name="cheese only", **fields) -> SpendRule:
    return SpendRule.objects.create(programme=world.programme, name=name, **fields)


def _cheese(world):
    return product_set(world, "Cheese", products=Product.objects.filter(sku="CHEESE"))


def test_points_for_a_product_list_pay_only_for_its_lines(world, assert_ledger_consistent):
    rule = _rule(world, product_set=_cheese(world))
    _give(world, "100", rule, "G1")
    answer = _both(world, "R1", [("CHEESE", "1", "60.00"), ("BREAD", "1", "100.00")])
    assert answer["points_spent"] == "60.00"
    assert [line["points_spent"] for line in answer["lines"]] == ["60.00", "0.00"]
    lot = Lot.objects.get(spend_rule=rule)
    assert lot.remaining == D("40.00")
    assert_ledger_consistent()


def test_restricted_points_first_then_the_others_within_the_programme_cap(
    world, assert_ledger_consistent
):
    world.programme.max_spend_percent = D("50")
    world.programme.save()
    rule = _rule(world, product_set=_cheese(world))
    _give(world, "100", rule, "G1")
    _give(world, "300", None, "G2")
    # 50 % of 160.00 = 80.00: 60.00 of cheese points on the cheese, 20.00 of the others
    answer = _both(world, "R1", [("CHEESE", "1", "60.00"), ("BREAD", "1", "100.00")])
    assert answer["points_spent"] == "80.00"
    assert [line["points_spent"] for line in answer["lines"]] == ["60.00", "20.00"]
    restricted = Lot.objects.get(spend_rule=rule)
    assert restricted.remaining == D("40.00")
    unrestricted = Lot.objects.get(spend_rule__isnull=True, amount=D("300"))
    assert unrestricted.remaining == D("280.00")
    assert_ledger_consistent()


def test_a_minimum_receipt_a_store_an_hour_window(world):
    _give(world, "50", _rule(world, "from 500", min_receipt=D("500.00")), "G1")
    assert _both(world, "R1", [("BREAD", "1", "300.00")])["points_spent"] == "0.00"
    assert _both(world, "R2", [("BREAD", "1", "500.00")])["points_spent"] == "50.00"

    elsewhere = _rule(world, "other store")
    elsewhere.stores.set([StoreFactory(partner=world.partner)])
    snapshot_invalidate()
    _give(world, "30", elsewhere, "G2")
    assert _both(world, "R3", [("BREAD", "1", "300.00")])["points_spent"] == "0.00"

    _give(world, "20", _rule(world, "mornings", time_from=time(8), time_to=time(11)), "G3")
    today = timezone.now().astimezone(ZONE).date()
    morning = datetime.combine(today, time(9, 30), tzinfo=ZONE)
    evening = datetime.combine(today, time(19, 0), tzinfo=ZONE)
    if morning > timezone.now():
        morning -= timedelta(days=1)
    if evening > timezone.now():
        evening -= timedelta(days=1)
    assert _both(world, "R4", [("BREAD", "1", "100.00")], sold_at=evening)["points_spent"] == "0.00"
    assert (
        _both(world, "R5", [("BREAD", "1", "100.00")], sold_at=morning)["points_spent"] == "20.00"
    )


def test_at_most_a_percent_of_the_receipt(world):
    _give(world, "500", _rule(world, "10 %", max_percent=D("10")), "G1")
    assert _both(world, "R1", [("BREAD", "1", "1000.00")])["points_spent"] == "100.00"
    assert _both(world, "R2", [("BREAD", "1", "1000.00")], spend="30")["points_spent"] == "30.00"


def test_they_burn_on_their_date_and_a_refund_gives_them_back_to_their_lot(world):
    rule = _rule(world, product_set=_cheese(world))
    last_day = timezone.now().astimezone(ZONE).date() + timedelta(days=10)
    _give(world, "100", rule, "G1", expires_on=last_day)
    lot = Lot.objects.get(spend_rule=rule)
    assert lot.expires_at == datetime.combine(last_day + timedelta(days=1), time(), tzinfo=ZONE)
    _both(world, "R1", [("CHEESE", "2", "30.00"), ("BREAD", "1", "10.00")])
    lot.refresh_from_db()
    assert lot.remaining == D("40.00")
    purchase_refund(world.terminal, "R1", "RF1", None)
    lot.refresh_from_db()
    assert lot.remaining == D("100.00")
    account = Account.objects.get(customer=world.customer, currency=world.currency)
    assert account.balance == D("100.00")
