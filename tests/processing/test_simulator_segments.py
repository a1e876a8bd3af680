"""The simulator and segments: a described customer is given segments, rule and manual alike,
on the page as in the function; a real customer (by their card) is simulated with the
segments they are in, a rule segment's as of its last refresh."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import Segment
from crm.segments.refresh import segment_refresh
from processing.sale import PurchaseLine
from processing.simulator import simulate
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, ProductFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion

pytestmark = pytest.mark.django_db
LINES = [PurchaseLine(1, "A", Decimal("1"), Decimal("100.00"))]


@pytest.fixture
def world():
    world = coalition(percent="5")
    ProductFactory(sku="A", name="Apples")
    # a rule segment "holds a card of the programme", refreshed, and a segment filled by hand
    world.holders = Segment.objects.create(
        programme=world.programme,
        code="holders",
        name="Card holders",
        kind=Segment.Kind.RULES,
        rule={"op": "and", "items": [{"kind": "card"}]},
    )
    world.staff = Segment.objects.create(programme=world.programme, code="staff", name="Staff")
    world.for_holders = promotion(
        world, "Holders +7", rewards=[{"kind": "points_fixed", "value": 7}]
    )
    world.for_holders.segments.set([world.holders])
    world.for_staff = promotion(world, "Staff +3", rewards=[{"kind": "points_fixed", "value": 3}])
    world.for_staff.segments.set([world.staff])
    return world


def _fired(simulation) -> set[str]:
    return {row["name"] for row in simulation.answer["promotions"]}


def _refused(simulation) -> dict[str, str]:
    return {name: why for _pid, name, why in simulation.blocked}


def test_a_described_customer_is_given_rule_and_manual_segments(world):
    nobody = simulate(terminal=world.terminal, lines=LINES)
    assert _fired(nobody) & {"Holders +7", "Staff +3"} == set()
    assert set(_refused(nobody)) >= {"Holders +7", "Staff +3"}

    in_both = simulate(
        terminal=world.terminal, lines=LINES, segment_ids=[world.holders.pk, world.staff.pk]
    )
    assert _fired(in_both) >= {"Holders +7", "Staff +3"}
    assert in_both.answer["points_earned"] == "15.00"  # 5 % of 100 + 7 + 3

    in_rule_only = simulate(terminal=world.terminal, lines=LINES, segment_ids=[world.holders.pk])
    assert in_rule_only.answer["points_earned"] == "12.00"


def test_a_card_holder_is_simulated_with_the_segments_they_are_in(world):
    # before any refresh the rule segment has no members: the holder is not in it yet
    before = simulate(terminal=world.terminal, lines=LINES, card=world.card.number)
    assert "Holders +7" in _refused(before)

    assert segment_refresh(world.holders.pk).entered == 1
    world.staff.customers.add(world.customer)
    after = simulate(terminal=world.terminal, lines=LINES, card=world.card.number)

    assert _fired(after) >= {"Holders +7", "Staff +3"}
    assert after.answer["points_earned"] == "15.00"  # 5 % of 100 + 7 + 3


def test_a_card_ignores_the_described_segments(world):
    other = ActiveCardFactory(customer=CustomerFactory(), programme=world.programme)
    simulation = simulate(
        terminal=world.terminal, lines=LINES, card=other.number, segment_ids=[world.staff.pk]
    )

    assert "Staff +3" in _refused(simulation)


def test_the_page_offers_both_kinds_of_segment_and_simulates_with_them(world, admin_client):
    url = reverse("admin:promotions_promotion_simulator")
    page = admin_client.get(url).content.decode()
    assert "Card holders" in page
    assert "Staff" in page

    response = admin_client.post(
        url,
        {
            "terminal": world.terminal.pk,
            "lines": "A 1 100.00",
            "segments": [world.holders.pk, world.staff.pk],
            "spend_points": "",
        },
    )

    content = response.content.decode()
    totals = content.split('id="simulation-totals"')[1].split("</table>")[0]
    assert "<th>15.00</th>" in totals
    assert response.context["simulation"].answer["points_earned"] == "15.00"
