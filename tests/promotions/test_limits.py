"""Budgets and limits of promotions (mechanics.md: "a budget (total points or discount money it
may give), limits per customer / per receipt / per day"): what calculate promises is what
confirm gives, the last receipt of a budget gets what is left, refunds and cancels give the
budget back, and on PostgreSQL concurrent confirms never give more than the budget."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Account
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion, PromotionUsage
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer

D = Decimal


@pytest.fixture
def world():
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    return world


def _sale(world, receipt_id, price="1000.00", card=None, sold_at=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card or world.card.number,
        lines=(PurchaseLine(1, "SKU", D("1"), D(price)),),
        sold_at=sold_at,
    )


def _both(world, receipt_id, **kw) -> dict:
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, **kw))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, **kw))
    for key in ("discount", "to_pay", "points_earned", "lines", "promotions"):
        assert calculated[key] == confirmed[key], key
    return confirmed


def _card(world):
    return ActiveCardFactory(customer=CustomerFactory(), programme=world.programme).number


def _usage(made, key="total"):
    row = PromotionUsage.objects.filter(promotion=made, key=key).first()
    return (row.uses, row.given) if row else (0, D("0"))


@pytest.mark.django_db
def test_a_budget_gives_the_last_receipt_what_is_left_then_stops(world, assert_ledger_consistent):
    made = promotion(
        world, "+50", rewards=[{"kind": "points_fixed", "value": 50}], budget=D("120.00")
    )
    assert _both(world, "R1")["points_earned"] == "50.00"
    assert _both(world, "R2", card=_card(world))["points_earned"] == "50.00"
    assert _both(world, "R3", card=_card(world))["points_earned"] == "20.00"
    assert _both(world, "R4", card=_card(world))["points_earned"] == "0.00"
    assert _usage(made) == (3, D("120.00"))
    assert_ledger_consistent()
    # A cancel gives its 50 back to the budget: the next receipt gets them.
    purchase_cancel(world.terminal, "R1")
    assert _usage(made) == (2, D("70.00"))
    assert _both(world, "R5", card=_card(world))["points_earned"] == "50.00"
    assert _usage(made) == (3, D("120.00"))
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_discount_budget_counts_money_and_a_partial_refund_gives_back_its_share(world):
    made = promotion(
        world, "-10%", rewards=[{"kind": "discount_percent", "value": 10}], budget=D("250.00")
    )
    first = _both(world, "R1")
    assert first["discount"] == "100.00"
    second = _both(world, "R2", price="3000.00")
    assert second["discount"] == "150.00"  # 300 wanted, 150 left
    assert _usage(made) == (2, D("250.00"))
    # Refunding the whole first receipt's line gives its 100.00 back and the use.
    purchase_refund(world.terminal, "R1", "RF1", [(1, D("1"))])
    assert _usage(made) == (1, D("150.00"))


@pytest.mark.django_db
def test_a_cap_per_receipt_cuts_the_reward_down(world):
    promotion(
        world,
        "5% up to 30",
        rewards=[{"kind": "points_percent", "value": 5}],
        max_per_receipt=D("30.00"),
    )
    assert _both(world, "R1", price="200.00")["points_earned"] == "10.00"
    assert _both(world, "R2", price="1000.00")["points_earned"] == "30.00"


@pytest.mark.django_db
def test_receipts_per_customer_and_per_day(world):
    once = promotion(
        world, "once", rewards=[{"kind": "points_fixed", "value": 10}], uses_per_customer=1
    )
    daily = promotion(
        world, "twice a day", rewards=[{"kind": "points_fixed", "value": 1}], uses_per_day=2
    )
    first = _both(world, "R1")
    assert {p["id"] for p in first["promotions"]} == {once.pk, daily.pk}
    second = _both(world, "R2")
    assert {p["id"] for p in second["promotions"]} == {daily.pk}  # once per customer
    third = _both(world, "R3", card=_card(world))
    assert {p["id"] for p in third["promotions"]} == {once.pk}  # a day takes two
    yesterday = timezone.now() - timedelta(days=1)
    fourth = _both(world, "R4", card=_card(world), sold_at=yesterday)
    assert {p["id"] for p in fourth["promotions"]} == {once.pk, daily.pk}


@pytest.mark.django_db
def test_receipts_per_customer_a_day(world):
    made = promotion(
        world, "daily", rewards=[{"kind": "points_fixed", "value": 5}], uses_per_customer_day=1
    )
    assert _both(world, "R1")["points_earned"] == "5.00"
    assert _both(world, "R2")["points_earned"] == "0.00"
    yesterday = timezone.now() - timedelta(days=1)
    assert _both(world, "R3", sold_at=yesterday)["points_earned"] == "5.00"
    assert PromotionUsage.objects.filter(promotion=made).count() == 2


@pytest.mark.django_db
def test_an_anonymous_receipt_cannot_use_a_promotion_limited_per_customer(world):
    promotion(world, "-5%", rewards=[{"kind": "discount_percent", "value": 5}], uses_per_customer=1)
    promotion(world, "-1%", rewards=[{"kind": "discount_percent", "value": 1}])
    anonymous = PurchaseRequest(receipt_id="A1", lines=(PurchaseLine(1, "SKU", D(1), D(100)),))
    assert confirm_answer(world.terminal, anonymous)["discount"] == "1.00"


@pytest.mark.django_db
def test_the_simulator_reasons_name_the_limit(world):
    from processing.simulator import REASONS

    for reason in (
        "budget_spent",
        "limit_per_receipt",
        "limit_per_customer",
        "limit_per_customer_day",
        "limit_per_day",
        "limit_needs_customer",
    ):
        assert reason in REASONS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_confirms_never_exceed_the_budget(assert_ledger_consistent):
    from tests.processing.test_races import together

    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    made = promotion(
        world, "+30", rewards=[{"kind": "points_fixed", "value": 30}], budget=D("100.00")
    )
    cards = [_card(world) for _ in range(8)]
    answers, errors = together(
        8, lambda i: confirm_answer(world.terminal, _sale(world, f"R{i}", card=cards[i]))
    )
    assert errors == [None] * 8, errors
    earned = sorted(D(answer["points_earned"]) for answer in answers)
    assert sum(earned) == D("100.00")
    assert earned == [D(0)] * 4 + [D("10.00")] + [D("30.00")] * 3
    assert _usage(made) == (4, D("100.00"))
    customers_total = sum(
        Account.objects.filter(kind=Account.Kind.CUSTOMER).values_list("balance", flat=True), D(0)
    )
    assert customers_total == D("100.00")
    assert_ledger_consistent()


@pytest.mark.django_db
def test_the_daily_job_drops_the_usage_of_past_days_only(world):
    from promotions.tasks import usage_prune_task

    made = promotion(
        world,
        "daily",
        rewards=[{"kind": "points_fixed", "value": 5}],
        uses_per_customer_day=1,
        uses_per_day=10,
        budget=D("100.00"),
    )
    week_ago = timezone.now() - timedelta(days=7)
    _both(world, "OLD", sold_at=week_ago)
    _both(world, "NEW")
    assert PromotionUsage.objects.filter(promotion=made).count() == 5  # total, 2 days x 2
    assert usage_prune_task() == 2
    keys = set(PromotionUsage.objects.filter(promotion=made).values_list("key", flat=True))
    assert "total" in keys
    assert all(key == "total" or week_ago.date().isoformat() not in key for key in keys)
    assert _usage(made) == (2, D("10.00"))
