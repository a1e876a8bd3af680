"""What-if programme settings: the spending rules tried in one simulation, the live programme
and the registers' rules untouched. Numbers from mechanics.md item 7, worked out here."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from loyalty.models import Programme
from processing.simulator import WhatIf, simulate
from promotions.rules.snapshot import snapshot_get
from tests.factories.history import points_given
from tests.processing.simulated import line, rows_written, world_with_products

pytestmark = pytest.mark.django_db
D = Decimal
RECEIPT = [line(1, "B", "1", "1000.00")]


@pytest.fixture
def world():
    world = world_with_products(max_spend_percent=D("50.00"), min_money_payment=D("1.00"))
    points_given(world, "800.00")
    return world


def _spend(world, what_if=None):
    return simulate(
        terminal=world.terminal, lines=RECEIPT, card=world.card.number, spend_points="max",
        what_if=what_if,
    ).totals  # fmt: skip


def test_the_share_paid_with_points_and_the_minimum_money_payment_apply_to_the_simulation_only(
    world,
):
    before = rows_written()
    programme = Programme.objects.get(pk=world.programme.pk)
    # live: at most 50% of 1000.00 = 500.00 in points; 5% of the 500.00 left = 25.00 earned
    live = _spend(world)
    assert (live["points_spent"], live["to_pay"], live["points_earned"]) == (
        "500.00", "500.00", "25.00",
    )  # fmt: skip
    # what if all but 1.00 may be paid with points: the 800 points held, 200.00 to pay, 10.00
    everything = _spend(world, WhatIf(max_spend_percent=D("100")))
    assert (everything["points_spent"], everything["to_pay"], everything["points_earned"]) == (
        "800.00", "200.00", "10.00",
    )  # fmt: skip
    # what if 300.00 must be paid in money: 1000.00 - 300.00 = 700.00 in points, 15.00 earned
    floor = _spend(world, WhatIf(max_spend_percent=D("100"), min_money_payment=D("300.00")))
    assert (floor["points_spent"], floor["to_pay"], floor["points_earned"]) == (
        "700.00", "300.00", "15.00",
    )  # fmt: skip
    # the live programme, its cached rules and the registers' answer are as they were
    # (rows_written compares every field of every programme row)
    assert rows_written() == before
    assert Programme.objects.get(pk=programme.pk).max_spend_percent == D("50.00")
    assert snapshot_get().programmes[programme.pk].max_spend_percent == D("50.00")
    assert snapshot_get().programmes[programme.pk].min_money_payment == D("1.00")
    assert _spend(world) == live


def test_the_what_if_fields_of_the_page_take_a_decimal_comma_in_russian(world, admin_client):
    before = rows_written()
    with translation.override("ru"):  # the page's language (restored after the request)
        response = admin_client.post(
            reverse("admin:promotions_promotion_simulator"),
            {
                "terminal": world.terminal.pk,
                "card": world.card.number,
                "lines": "B 1 1000,00",
                "spend_points": "max",
                "max_spend_percent": "100",
                "min_money_payment": "300,00",
            },
            HTTP_ACCEPT_LANGUAGE="ru",
        )
    content = response.content.decode().replace("\xa0", " ")
    assert 'id="simulation-what-if"' in content
    assert "700,00" in content  # paid with points
    assert rows_written() == before
