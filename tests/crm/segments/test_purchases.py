"""The purchase measures on their edges: what counts (not cancelled, not refunded in full),
money net of refunds, whole lines refunded, recency's day boundaries, customers who bought
nothing. The oracle covers the same ground at random; these fix the edges by hand."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean
from loyalty.models import Receipt, Refund, RefundLine
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ProductFactory,
    ProgrammeFactory,
    ReceiptFactory,
    ReceiptLineFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal


def found(programme, now, **condition) -> set:
    rule = rule_clean(
        {"op": "and", "items": [{"kind": "purchases", **condition}]}, programme_id=programme.pk
    )
    return set(rule_members(rule, programme_id=programme.pk, now=now).values_list("pk", flat=True))


def refund(receipt, line, quantity: str, money: str, status=Receipt.Status.PARTIALLY_REFUNDED):
    made = Refund.objects.create(
        receipt=receipt,
        terminal=receipt.terminal,
        kind=Refund.Kind.REFUND,
        refund_id=f"F{receipt.pk}-{line.pk}",
        fingerprint="x",
        to_pay=D(money),
        amount=D(money),
    )
    RefundLine.objects.create(
        refund=made, line=line, quantity=D(quantity), amount=D(money), to_pay=D(money)
    )
    line.refunded_quantity += D(quantity)
    line.save(update_fields=["refunded_quantity"])
    receipt.status = status
    receipt.save(update_fields=["status"])


@pytest.fixture
def world():
    now = timezone.now().replace(microsecond=0)
    programme = ProgrammeFactory()
    shampoo, soap = ProductFactory(), ProductFactory()
    ann, bob, cat, dan = CustomerFactory.create_batch(4)
    # ann: two lines, the shampoo refunded whole; 300.00 paid, 100.00 back
    sale = ReceiptFactory(
        customer=ann, sold_at=now - timedelta(days=10), total=D("300.00"), to_pay=D("300.00")
    )
    line = ReceiptLineFactory(receipt=sale, product=shampoo, line_no=1)
    ReceiptLineFactory(
        receipt=sale, product=soap, quantity=D("2"), amount=D("200.00"), to_pay=D("200.00"),
        line_no=2,
    )  # fmt: skip
    refund(sale, line, "1", "100.00")
    # bob: one purchase refunded in full, one cancelled
    gone = ReceiptFactory(customer=bob, sold_at=now - timedelta(days=3))
    refund(gone, ReceiptLineFactory(receipt=gone, product=soap), "1", "100.00", "refunded")
    ReceiptFactory(customer=bob, status=Receipt.Status.CANCELLED, sold_at=now)
    # cat: a purchase this very moment
    ReceiptFactory(customer=cat, sold_at=now, total=D("50.00"), to_pay=D("50.00"))
    return now, programme, shampoo, soap, ann, bob, cat, dan


def test_cancelled_and_wholly_refunded_purchases_do_not_count(world):
    now, programme, _shampoo, _soap, ann, bob, cat, dan = world
    assert found(programme, now, measure="count", min=1) == {ann.pk, cat.pk}
    assert found(programme, now, measure="count", max=0) == {bob.pk, dan.pk}


def test_money_is_net_of_refunds(world):
    now, programme, _shampoo, _soap, ann, *_ = world
    assert ann.pk in found(programme, now, measure="sum", min="200.00", max="200.00")
    assert ann.pk not in found(programme, now, measure="sum", min="200.01")
    assert ann.pk in found(programme, now, measure="average", min="200", max="200")


def test_a_line_refunded_whole_is_no_purchase_of_its_product(world):
    now, programme, shampoo, soap, ann, *_ = world
    assert ann.pk not in found(programme, now, measure="count", min=1, products=[shampoo.pk])
    assert ann.pk in found(programme, now, measure="count", min=1, products=[soap.pk])
    assert ann.pk in found(programme, now, measure="units", min="2", max="2")


def test_recency_counts_whole_days_back_to_the_last_purchase(world):
    now, programme, _shampoo, _soap, ann, bob, cat, dan = world
    # ann bought exactly ten days ago, cat now; bob's and dan's purchases do not count
    assert found(programme, now, measure="recency", min=10) == {ann.pk}
    assert found(programme, now, measure="recency", max=9) == {cat.pk}
    assert found(programme, now, measure="recency", min=10, max=10) == {ann.pk}
    assert found(programme, now, measure="recency", max=0) == {cat.pk}
    later = now + timedelta(seconds=1)
    assert found(programme, later, measure="recency", min=0, max=0) == {cat.pk}


def test_customers_who_bought_nothing(world):
    now, programme, _shampoo, _soap, _ann, bob, _cat, dan = world
    assert {bob.pk, dan.pk} <= found(programme, now, measure="sum", max="0")
    assert {bob.pk, dan.pk} <= found(programme, now, measure="units", max="0")
    assert not {bob.pk, dan.pk} & found(programme, now, measure="average", max="1000")
    assert not {bob.pk, dan.pk} & found(programme, now, measure="recency", min=0)


def test_the_window_of_the_last_days_includes_its_first_moment(world):
    now, programme, _shampoo, _soap, ann, *_ = world
    window = {"last_days": 10}
    assert ann.pk in found(programme, now, measure="count", min=1, window=window)
    later = now + timedelta(seconds=1)
    assert ann.pk not in found(programme, later, measure="count", min=1, window=window)
