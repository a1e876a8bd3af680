"""A promotion whose audience is the segment of an RFM cell rewards the cell's members only;
after the customers move (a recompute and the segment's refresh) it rewards the others; and
the registers pay no extra query for it: they read the member rows as for any segment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Segment
from loyalty.models import Receipt
from loyalty.rfm.compute import rfm_recompute
from loyalty.rfm.segments import rfm_cell_segments_create, rfm_segments_refresh
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import ActiveCardFactory, ReceiptFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.loyalty.rfm_helpers import scheme_make
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


def _sale(card, receipt_id: str) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card.number,
        lines=(PurchaseLine(1, "SKU", D("1"), D("100.00")),),
    )


def _past(world, customer, days: int) -> None:
    ReceiptFactory(
        terminal=world.terminal,
        customer=customer,
        currency=world.currency,
        sold_at=timezone.now() - timedelta(days=days),
        receipt_id=f"past-{customer.pk}-{days}",
    )


def _points(answer) -> str:
    return answer["points_earned"]


def test_a_promotion_for_the_lost_cell_follows_the_rfm_runs(django_capture_on_commit_callbacks):
    # given ann, who bought a year and a half ago (lost), and bob, who bought yesterday
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    ann, ann_card = world.customer, world.card
    bob_card = ActiveCardFactory(programme=world.programme)
    bob = bob_card.customer
    _past(world, ann, days=500)
    _past(world, bob, days=1)
    scheme = scheme_make(
        world.programme,
        recency_scoring="thresholds",
        recency_bounds="30, 60, 120, 240",
        frequency_scoring="thresholds",
        frequency_bounds="2, 3, 5, 8",
    )
    rfm_recompute(scheme.pk)
    rfm_cell_segments_create(scheme)
    lost = Segment.objects.get(code=f"rfm.{scheme.code}.lost")
    win_back = promotion(world, "win back", rewards=[{"kind": "points_fixed", "value": 10}])
    win_back.segments.set([lost])
    snapshot_invalidate()

    # when both buy, the lost one is rewarded, the other not
    with django_capture_on_commit_callbacks(execute=True):
        assert _points(confirm_answer(world.terminal, _sale(ann_card, "A-1"))) == "10.00"
        assert _points(confirm_answer(world.terminal, _sale(bob_card, "B-1"))) == "0.00"

    # when a year later ann's purchase today makes her recent, and bob is lost
    Receipt.objects.filter(customer=bob).update(sold_at=timezone.now() - timedelta(days=600))
    Receipt.objects.filter(customer=ann, receipt_id="A-1").update(sold_at=timezone.now())
    rfm_recompute(scheme.pk)
    assert rfm_segments_refresh(scheme.pk).refreshed == 11

    # then the promotion rewards bob, not ann
    assert _points(confirm_answer(world.terminal, _sale(ann_card, "A-2"))) == "0.00"
    assert _points(confirm_answer(world.terminal, _sale(bob_card, "B-2"))) == "10.00"


def _measured(world, card, receipt_id: str) -> tuple[int, int, dict]:
    calculate_answer(world.terminal, _sale(card, f"{receipt_id}-warm"))  # the rules snapshot
    with CaptureQueriesContext(connection) as calculated:
        calculate_answer(world.terminal, _sale(card, receipt_id))
    with CaptureQueriesContext(connection) as confirmed:
        answer = confirm_answer(world.terminal, _sale(card, receipt_id))
    sent = [q["sql"] for q in confirmed.captured_queries if "SAVEPOINT" not in q["sql"]]
    return len(calculated.captured_queries), len(sent), answer


def test_an_rfm_cell_audience_adds_no_query_to_calculate_or_confirm(
    django_capture_on_commit_callbacks,
):
    # given a promotion for a segment filled by hand, the customer in it
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    _past(world, world.customer, days=500)
    manual = Segment.objects.create(programme=world.programme, code="by-hand", name="By hand")
    manual.customers.add(world.customer)
    members_only = promotion(world, "members", rewards=[{"kind": "points_fixed", "value": 10}])
    members_only.segments.set([manual])
    snapshot_invalidate()
    with django_capture_on_commit_callbacks(execute=True):  # opens the accounts
        confirm_answer(world.terminal, _sale(world.card, "W-0"))
    by_hand = _measured(world, world.card, "R-1")

    # when the audience becomes the customer's RFM cell
    scheme = scheme_make(world.programme)
    rfm_recompute(scheme.pk)
    rfm_cell_segments_create(scheme)
    cell = Segment.objects.get(members__customer=world.customer, code__startswith="rfm.")
    members_only.segments.set([cell])
    snapshot_invalidate()
    by_cell = _measured(world, world.card, "R-2")

    # then the promotion rewards the customer, in as many queries as before
    assert by_hand[2]["points_earned"] == by_cell[2]["points_earned"] == "10.00"
    assert by_cell[:2] == by_hand[:2]
    if connection.vendor == "postgresql":
        assert by_cell[:2] == (1, 4)
