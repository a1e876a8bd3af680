"""A promotion whose audience is a rule segment costs the registers nothing more than one whose
audience is a segment filled by hand: both read the member rows, in the same round trips
(on PostgreSQL's SQL path: calculate one, confirm four)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Segment, SegmentMember
from crm.segments.refresh import segment_refresh
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.crm import SegmentFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


def _sale(world, receipt_id: str) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number,
        lines=(PurchaseLine(1, "SKU", D("1"), D("100.00")),),
    )


def _measured(world, receipt_id: str) -> tuple[int, int, dict]:
    """Queries of a calculate and of the confirm after it (savepoints aside), and the answer."""
    calculate_answer(world.terminal, _sale(world, f"{receipt_id}-warm"))  # the rules snapshot
    with CaptureQueriesContext(connection) as calculated:
        calculate_answer(world.terminal, _sale(world, receipt_id))
    with CaptureQueriesContext(connection) as confirmed:
        answer = confirm_answer(world.terminal, _sale(world, receipt_id))
    sent = [q["sql"] for q in confirmed.captured_queries if "SAVEPOINT" not in q["sql"]]
    return len(calculated.captured_queries), len(sent), answer


def test_a_rule_segment_audience_adds_no_query_to_calculate_or_confirm(
    django_capture_on_commit_callbacks,
):
    # given a promotion for the members of a segment filled by hand, the customer in it
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    manual = SegmentFactory(programme=world.programme)
    SegmentMember.objects.create(segment=manual, customer=world.customer)
    members_only = promotion(world, "members", rewards=[{"kind": "points_fixed", "value": 10}])
    members_only.segments.set([manual])
    snapshot_invalidate()
    with django_capture_on_commit_callbacks(execute=True):  # opens the accounts
        confirm_answer(world.terminal, _sale(world, "W-0"))
    by_hand = _measured(world, "R-1")

    # when the audience becomes a rule segment the customer is refreshed into
    rule = SegmentFactory(
        programme=world.programme,
        kind=Segment.Kind.RULES,
        rule={"op": "and", "items": [{"kind": "card", "statuses": ["active"]}]},
    )
    assert segment_refresh(rule.pk).size == 1
    members_only.segments.set([rule])
    snapshot_invalidate()
    by_rule = _measured(world, "R-2")

    # then the promotion rewards the customer, in as many queries as before
    assert by_hand[2]["points_earned"] == by_rule[2]["points_earned"] == "10.00"
    assert by_rule[:2] == by_hand[:2]
    if connection.vendor == "postgresql":
        assert by_rule[:2] == (1, 4)
