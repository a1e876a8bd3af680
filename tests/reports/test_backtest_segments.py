"""The back-test reads each customer's segments as of each sale: the segments' membership
history (``SegmentMembershipChange``) where there is one, the member row's ``added_at``
where there is none; read per chunk of customers, never per receipt."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Segment, SegmentMember, SegmentMembershipChange
from crm.segments.refresh import segment_refresh
from promotions.backtest_facts import segment_timeline
from promotions.models import Promotion
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, ProductFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.reports.test_backtest_honest import ZONE, at, run, store_receipt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]
LINES = [("X", "100.00")]


@pytest.fixture
def world():
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    ProductFactory(sku="X", partner=None)
    return world


def _segment(world, code: str, kind=Segment.Kind.MANUAL, rule=None) -> Segment:
    return Segment.objects.create(
        programme=world.programme, code=code, name=code.upper(), kind=kind, rule=rule
    )


def _for_members(world, *segments) -> Promotion:
    made = promotion(
        world,
        "10 points for members",
        status=Promotion.Status.DRAFT,
        rewards=[{"kind": "points_fixed", "value": 10}],
    )
    made.segments.set(segments)
    return made


def _card(world):
    return ActiveCardFactory(customer=CustomerFactory(), programme=world.programme)


def _fired(figures, item: Promotion) -> tuple[int, int]:
    row = next(row for row in figures.promotions_json() if row["id"] == item.pk)
    return row["receipts_fired"], row["customers_reached"]


def _change(segment, customer, change, moment) -> None:
    SegmentMembershipChange.objects.create(
        segment=segment, customer=customer, change=change, at=moment
    )


def test_who_entered_after_a_receipt_is_not_rewarded_for_it_and_who_left_after_it_is(world):
    # given a rule segment: one customer entered it on the 10th, another left it on the 10th
    vip = _segment(world, "vip", Segment.Kind.RULES, {"op": "and", "items": []})
    newcomer, leaver = _card(world), _card(world)
    SegmentMember.objects.create(segment=vip, customer=newcomer.customer, added_at=at(10))
    _change(vip, newcomer.customer, "entered", at(10))
    _change(vip, leaver.customer, "entered", datetime(2024, 1, 1, tzinfo=ZONE))
    _change(vip, leaver.customer, "left", at(10))
    # each bought on the 5th and on the 15th
    for card in (newcomer, leaver):
        store_receipt(world, card, at(5), LINES)
        store_receipt(world, card, at(15), LINES)
    made = _for_members(world, vip)

    figures = run(made)

    # then the newcomer's 15th and the leaver's 5th are rewarded, nothing else
    assert _fired(figures, made) == (2, 2)
    assert figures.receipts_examined == 4


def test_the_newcomer_alone_is_rewarded_only_after_entering(world):
    vip = _segment(world, "vip", Segment.Kind.RULES, {"op": "and", "items": []})
    newcomer = _card(world)
    SegmentMember.objects.create(segment=vip, customer=newcomer.customer, added_at=at(10))
    _change(vip, newcomer.customer, "entered", at(10))
    store_receipt(world, newcomer, at(5), LINES)
    made = _for_members(world, vip)

    assert _fired(run(made), made) == (0, 0)  # a member now, not on the 5th

    store_receipt(world, newcomer, at(10), LINES)  # sold at the very moment of entering
    assert _fired(run(made), made) == (1, 1)


def test_the_leaver_alone_is_rewarded_only_before_leaving(world):
    vip = _segment(world, "vip", Segment.Kind.RULES, {"op": "and", "items": []})
    leaver = _card(world)
    _change(vip, leaver.customer, "left", at(10))  # no member row now; a member before
    store_receipt(world, leaver, at(15), LINES)
    made = _for_members(world, vip)

    assert _fired(run(made), made) == (0, 0)

    store_receipt(world, leaver, at(9), LINES)
    assert _fired(run(made), made) == (1, 1)


def test_a_member_without_history_counts_from_when_they_were_added(world):
    # given a segment filled by hand, the customer added on the 20th
    manual = _segment(world, "staff")
    card = _card(world)
    SegmentMember.objects.create(segment=manual, customer=card.customer, added_at=at(20))
    store_receipt(world, card, at(15), LINES)
    store_receipt(world, card, at(25), LINES)
    made = _for_members(world, manual)

    assert _fired(run(made), made) == (1, 1)  # the 25th only


def test_a_real_refresh_records_the_history_the_back_test_reads(world):
    # given a rule "bought in the first week of March", refreshed on the 10th: the customer
    # who bought on the 5th entered then
    rule = {
        "op": "and",
        "items": [
            {
                "kind": "purchases",
                "measure": "count",
                "min": 1,
                "window": {"from": "2025-03-01", "to": "2025-03-07"},
            }
        ],
    }
    buyers = _segment(world, "buyers", Segment.Kind.RULES, rule)
    card = _card(world)
    store_receipt(world, card, at(5), LINES)
    store_receipt(world, card, at(15), LINES)
    assert segment_refresh(buyers.pk, now=at(10)).entered == 1
    made = _for_members(world, buyers)

    # then the receipt of the 5th, sold before the refresh found them, gets nothing
    assert _fired(run(made), made) == (1, 1)


def test_segments_are_read_per_chunk_of_customers_not_per_receipt(world):
    vip = _segment(world, "vip")
    made = _for_members(world, vip)
    card = _card(world)
    SegmentMember.objects.create(segment=vip, customer=card.customer, added_at=at(1))
    store_receipt(world, card, at(2), LINES)
    with CaptureQueriesContext(connection) as one:
        run(made)
    for day in range(3, 13):
        other = _card(world)
        SegmentMember.objects.create(segment=vip, customer=other.customer, added_at=at(1))
        _change(vip, other.customer, "entered", at(1))
        store_receipt(world, card, at(day), LINES)
        store_receipt(world, other, at(day), LINES)
    with CaptureQueriesContext(connection) as many:
        figures = run(made)

    assert _fired(figures, made) == (21, 11)
    reads = [q["sql"] for q in many.captured_queries if "crm_segmentmembershipchange" in q["sql"]]
    assert len(reads) == 1
    assert len(many) == len(one)


# --- the timeline by itself -----------------------------------------------------------------

T0 = datetime(2025, 3, 1, tzinfo=ZONE)


def _t(days: int) -> datetime:
    return T0 + timedelta(days=days)


def test_the_timeline_follows_entries_and_exits_in_order():
    timeline = segment_timeline(
        {1: _t(1)}, {1: [(_t(1), True), (_t(3), False), (_t(5), True)], 2: [(_t(4), False)]}
    )

    assert timeline.at(_t(0)) == {2}  # 2 was left on day 4, so a member before
    assert timeline.at(_t(1)) == {1, 2}
    assert timeline.at(_t(3)) == {2}
    assert timeline.at(_t(4)) == set()
    assert timeline.at(_t(6)) == {1}
    assert timeline.at(None) == {1}


def test_a_member_put_back_after_leaving_counts_from_the_row_added():
    # left at a refresh on day 3, then added back by hand on day 6 (no history row for it)
    timeline = segment_timeline({1: _t(6)}, {1: [(_t(1), True), (_t(3), False)]})

    assert timeline.at(_t(2)) == {1}
    assert timeline.at(_t(4)) == set()
    assert timeline.at(_t(6)) == {1}


def test_a_member_row_older_than_its_history_follows_the_history():
    # the row says "since day 1", the history "entered on day 5": the history wins
    timeline = segment_timeline({1: _t(1)}, {1: [(_t(5), True)]})

    assert timeline.at(_t(2)) == set()
    assert timeline.at(_t(5)) == {1}


def test_changes_at_one_moment_give_the_state_after_all_of_them():
    timeline = segment_timeline({}, {1: [(_t(2), True), (_t(2), False)], 2: [(_t(2), True)]})

    assert timeline.at(_t(1)) == set()
    assert timeline.at(_t(2)) == {2}
    assert len(timeline.times) == 1


def test_no_rows_no_segments():
    timeline = segment_timeline({}, {})

    assert timeline.at(_t(1)) == frozenset()
    assert timeline.at(None) == frozenset()
