"""The receipt simulator: the numbers of calculate, drafts tried before they go live, described
customers, the reasons of promotions that gave nothing, and the admin page."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from loyalty.models import Receipt
from processing.sale import PurchaseLine, PurchaseRequest
from processing.simulator import parse_lines, simulate
from promotions.models import Promotion
from tests.factories.loyalty import TierFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal
LINES = [PurchaseLine(1, "A", D("2"), D("89.90")), PurchaseLine(2, "B", D("1"), D("1000.00"))]


@pytest.fixture
def world():
    world = coalition(percent="5")
    promotion(world, "-10% over 1000", conditions=[
        {"kind": "receipt_total", "operator": "gte", "amount": "1000"}
    ], rewards=[{"kind": "discount_percent", "value": 10}])  # fmt: skip
    return world


def test_the_simulator_answers_what_calculate_answers(world):
    calculated = calculate_answer(
        world.terminal,
        PurchaseRequest(receipt_id="X", card=world.card.number, lines=tuple(LINES)),
    )
    simulation = simulate(terminal=world.terminal, lines=LINES, card=world.card.number)
    for key in ("total", "discount", "to_pay", "points_earned", "lines", "promotions"):
        assert simulation.answer[key] == calculated[key], key
    assert simulation.answer["discount"] == "117.98"
    assert [line["sku"] for line in simulation.lines] == ["A", "B"]


def test_a_draft_is_tried_only_when_asked(world):
    draft = promotion(
        world,
        "double points (draft)",
        status=Promotion.Status.DRAFT,
        rewards=[{"kind": "points_percent", "value": 5}],
    )
    without = simulate(terminal=world.terminal, lines=LINES, card=world.card.number)
    with_draft = simulate(
        terminal=world.terminal, lines=LINES, card=world.card.number, drafts=[draft.pk]
    )
    assert D(with_draft.answer["points_earned"]) == 2 * D(without.answer["points_earned"])
    # the registers still do not see it
    calculated = calculate_answer(
        world.terminal, PurchaseRequest(receipt_id="Y", card=world.card.number, lines=tuple(LINES))
    )
    assert calculated["points_earned"] == without.answer["points_earned"]


def test_a_described_customer_and_the_reasons_of_what_did_not_fire(world):
    gold = TierFactory(programme=world.programme, rank=2, code="gold", name="Gold")
    promotion(world, "Gold +50", tiers=[gold], rewards=[{"kind": "points_fixed", "value": 50}])
    promotion(
        world,
        "Night owls",
        time_from=time(1, 0),
        time_to=time(2, 0),
        rewards=[{"kind": "points_fixed", "value": 10}],
    )
    as_gold = simulate(terminal=world.terminal, lines=LINES, tier_id=gold.pk)
    names = [p["name"] for p in as_gold.answer["promotions"]]
    assert "Gold +50" in names
    anonymous = simulate(terminal=world.terminal, lines=LINES[:1])
    reasons = {name: why for _pid, name, why in anonymous.blocked}
    assert reasons["Gold +50"] == "not for this customer (tier)"
    assert reasons["-10% over 1000"] == "its conditions do not hold"


def test_lines_are_read_with_clear_errors():
    assert parse_lines("A 2 89.9\n# a comment\n\nB 1 1000") == [
        PurchaseLine(1, "A", D("2"), D("89.90")),
        PurchaseLine(2, "B", D("1"), D("1000.00")),
    ]
    for text in ("A 2", "A two 1.00", "A 0 1.00", ""):
        with pytest.raises(ValidationError):
            parse_lines(text)


def test_the_admin_page_simulates_and_loads_a_past_receipt(world, admin_client):
    url = reverse("admin:promotions_promotion_simulator")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {
            "terminal": world.terminal.pk,
            "card": world.card.number,
            "lines": "A 2 89.90\nB 1 1000.00",
            "spend_points": "",
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="simulation-totals"' in content
    assert "117.98" in content
    assert "-10% over 1000" in content
    bad = admin_client.post(url, {"terminal": world.terminal.pk, "lines": "A 2"})
    assert "write SKU, quantity and price" in bad.content.decode()
    confirm_answer(
        world.terminal,
        PurchaseRequest(receipt_id="PAST", card=world.card.number, lines=tuple(LINES)),
    )
    past = Receipt.objects.get(receipt_id="PAST")
    loaded = admin_client.get(url, {"receipt": past.pk}).content.decode()
    assert "A 2 89.90" in loaded
    assert world.card.number in loaded


FLOATING = [
    {"from": "0", "value": "5"},
    {"from": "100", "value": "7"},
    {"from": "500", "value": "10"},
]


def test_the_simulator_shows_which_band_applied(world, admin_client):
    # given a draft: 5 % below 100.00, 7 % from 100.00, 10 % from 500.00 (in points); the
    # "-10% over 1000" and the base 5 % of the world also run
    draft = promotion(world, "Floating percent", status=Promotion.Status.DRAFT, rewards=[
        {"kind": "points_percent", "value": 5, "band_basis": "receipt_amount", "bands": FLOATING}
    ])  # fmt: skip
    lines = [PurchaseLine(1, "A", D("2"), D("89.90")), PurchaseLine(2, "B", D("1"), D("400.00"))]
    # when
    simulation = simulate(
        terminal=world.terminal, lines=lines, card=world.card.number, drafts=[draft.pk]
    )
    # then: 579.80 to pay (no discount below 1000), the 10 % band: 57.98 points, and 28.99
    # of the base 5 %
    total = D("2") * D("89.90") + D("400.00")
    assert total == D("579.80")
    assert simulation.answer["points_earned"] == str(
        (total * D("0.10")).quantize(D("0.01")) + (total * D("0.05")).quantize(D("0.01"))
    )
    (band,) = simulation.bands
    assert band.promotion == "Floating percent"
    assert band.measure == total
    assert band.band == "band 3 of 3: from 500.00"
    assert band.value == "10 %"
    # and below 100.00 the first band, from 100.00 the second, to the kopeck
    small = simulate(
        terminal=world.terminal,
        lines=[PurchaseLine(1, "A", D("1"), D("99.99"))],
        card=world.card.number,
        drafts=[draft.pk],
    )
    assert small.bands[0].band == "band 1 of 3: from 0.00 to below 100.00"
    # the draft's 5 % of 99.99 (5.00) and the base 5 % (5.00)
    assert small.answer["points_earned"] == "10.00"
    # the admin page shows the band
    url = reverse("admin:promotions_promotion_simulator")
    response = admin_client.post(url, {
        "terminal": world.terminal.pk, "card": world.card.number,
        "lines": "A 2 89.90\nB 1 400.00", "spend_points": "", "drafts": [draft.pk],
    })  # fmt: skip
    content = response.content.decode()
    assert 'id="simulation-bands"' in content
    assert "band 3 of 3: from 500.00" in content


def test_a_promotion_below_its_first_band_says_so(world):
    promotion(world, "From 100", rewards=[{
        "kind": "discount_percent", "value": 7, "band_basis": "receipt_amount",
        "bands": [{"from": "100", "value": "7"}],
    }])  # fmt: skip
    simulation = simulate(
        terminal=world.terminal,
        lines=[PurchaseLine(1, "A", D("1"), D("99.99"))],
        card=world.card.number,
    )
    assert ("From 100", "below the first of its bands") in [
        (name, str(why)) for _pid, name, why in simulation.blocked
    ]
