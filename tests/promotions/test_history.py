"""Receipts sold earlier than a promotion's change (offline uploads) are evaluated with the
promotion versions in force at their time of sale."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from processing.sale import PurchaseLine, PurchaseRequest
from promotions.exchange import version_record
from promotions.models import Promotion, PromotionVersion, Reward
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer, offline_answers

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    return world


def _sale(world, receipt_id, sold_at=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number,
        lines=(PurchaseLine(1, "X", D(1), D("100.00")),),
        sold_at=sold_at,
    )


def _saved(made: Promotion, days_ago: float) -> PromotionVersion:
    """Keep the promotion as it is now as a version saved ``days_ago``."""
    version = version_record(made, source="admin")
    PromotionVersion.objects.filter(pk=version.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    snapshot_invalidate()
    return version


def test_an_offline_receipt_gets_the_percent_in_force_when_it_was_sold(world):
    made = promotion(world, "accrual", rewards=[{"kind": "points_percent", "value": 5}])
    Promotion.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=10))
    _saved(made, days_ago=10)
    Reward.objects.filter(promotion=made).update(value=D("7"))
    _saved(made, days_ago=1)
    three_days_ago = timezone.now() - timedelta(days=3)
    calculated = calculate_answer(world.terminal, _sale(world, "OFF-1", three_days_ago))
    [item] = offline_answers(world.terminal, [_sale(world, "OFF-1", three_days_ago)])
    assert calculated["points_earned"] == item["result"]["points_earned"] == "5.00"
    assert confirm_answer(world.terminal, _sale(world, "NOW-1"))["points_earned"] == "7.00"
    hours_ago = timezone.now() - timedelta(hours=2)  # after the change
    assert (
        confirm_answer(world.terminal, _sale(world, "NOW-2", hours_ago))["points_earned"] == "7.00"
    )


def test_a_promotion_paused_since_still_rewards_what_was_sold_while_it_ran(world):
    made = promotion(world, "+10", rewards=[{"kind": "points_fixed", "value": 10}])
    Promotion.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=10))
    _saved(made, days_ago=10)
    Promotion.objects.filter(pk=made.pk).update(status=Promotion.Status.PAUSED)
    made.refresh_from_db()
    _saved(made, days_ago=1)
    two_days_ago = timezone.now() - timedelta(days=2)
    [item] = offline_answers(world.terminal, [_sale(world, "OFF-1", two_days_ago)])
    assert item["result"]["points_earned"] == "10.00"
    assert confirm_answer(world.terminal, _sale(world, "NOW-1"))["points_earned"] == "0.00"


def test_a_promotion_created_after_the_sale_does_not_apply_to_it(world):
    made = promotion(world, "new", rewards=[{"kind": "points_fixed", "value": 10}])
    Promotion.objects.filter(pk=made.pk).update(created_at=timezone.now() - timedelta(days=1))
    _saved(made, days_ago=1)
    two_days_ago = timezone.now() - timedelta(days=2)
    [item] = offline_answers(world.terminal, [_sale(world, "OFF-1", two_days_ago)])
    assert item["result"]["points_earned"] == "0.00"
    assert confirm_answer(world.terminal, _sale(world, "NOW-1"))["points_earned"] == "10.00"


def test_a_receipt_of_now_never_reads_the_versions(world):
    made = promotion(world, "accrual", rewards=[{"kind": "points_percent", "value": 5}])
    _saved(made, days_ago=1)
    calculate_answer(world.terminal, _sale(world, "WARM"))  # compiles the rules
    with CaptureQueriesContext(connection) as queries:
        calculate_answer(world.terminal, _sale(world, "R1"))
    assert not [q for q in queries if "promotionversion" in q["sql"]]
