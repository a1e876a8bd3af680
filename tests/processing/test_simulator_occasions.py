"""Occasion promotions in the simulator: a birthday, the welcome bonus, a day of the month,
simulated for a chosen day and customer, or refused with a sentence that says why; nothing is
written."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from processing.simulator import WhatIf, rules_for
from processing.simulator_occasions import occasions_simulate
from promotions.engine import CustomerFacts
from promotions.models import Promotion, TriggerFiring
from tests.factories.promotions import promotion
from tests.processing.simulated import rows_written, world_with_products

pytestmark = pytest.mark.django_db
D = Decimal
NEXT_YEAR = timezone.localdate().year + 1
BIRTHDAY = date(1990, 6, 15)
NOBODY = CustomerFacts(id=0)


@pytest.fixture
def world():
    world = world_with_products()
    promotion(world, "Birthday +300", trigger="date", trigger_date="birthday",
              trigger_offset_days=-3, rewards=[{"kind": "points_fixed", "value": 300}])  # fmt: skip
    promotion(world, "Welcome +200", trigger="registration",
              rewards=[{"kind": "points_fixed", "value": 200, "lifetime_days": 30}])  # fmt: skip
    promotion(world, "The 15th", trigger="monthly", trigger_day=15,
              rewards=[{"kind": "points_fixed", "value": 15}])  # fmt: skip
    return world


def _occasion(world, kind, day, card=True, described=NOBODY):
    simulation = occasions_simulate(
        snapshot=rules_for((), WhatIf()), kind=kind, day=day, terminal=world.terminal,
        card=world.card.number if card else None, described=described, sale_time=time(12),
    )  # fmt: skip
    return simulation, {row.promotion: row for row in simulation.rows}


def test_a_birthday_is_simulated_on_its_day_or_refused_with_the_reason(world):
    before = rows_written()
    _sim, rows = _occasion(world, "date", date(NEXT_YEAR, 6, 12))
    assert rows["Birthday +300"].refusal == "the customer has no birthday on file"
    world.customer.birth_date = BIRTHDAY
    world.customer.save()
    before = rows_written()
    # 3 days before 15 June: 12 June
    simulation, rows = _occasion(world, "date", date(NEXT_YEAR, 6, 12))
    assert rows["Birthday +300"].refusal == ""
    assert rows["Birthday +300"].gives == ["+300.00 bonus"]
    assert "back-office time" in simulation.clock
    _sim, rows = _occasion(world, "date", date(NEXT_YEAR, 6, 1))
    assert rows["Birthday +300"].refusal == (
        f"the customer's birthday is on 15 June: the promotion rewards it on "
        f"{NEXT_YEAR}-06-12, not on {NEXT_YEAR}-06-01"
    )
    assert rows_written() == before


def test_a_described_customer_is_simulated_with_the_birthday_described(world):
    described = CustomerFacts(id=0, birth_date=BIRTHDAY)
    _sim, rows = _occasion(world, "date", date(NEXT_YEAR, 6, 12), card=False, described=described)
    assert rows["Birthday +300"].gives == ["+300.00 bonus"]


def test_the_welcome_bonus_once_in_a_life(world):
    simulation, rows = _occasion(world, "registration", timezone.localdate())
    assert rows["Welcome +200"].gives == ["+200.00 bonus, burning after 30 days"]
    assert "store time" in simulation.clock
    TriggerFiring.objects.create(
        promotion=Promotion.objects.get(name="Welcome +200"), customer=world.customer,
        key="registration", occurred_at=timezone.now() - timedelta(days=3),
    )  # fmt: skip
    _sim, rows = _occasion(world, "registration", timezone.localdate())
    assert rows["Welcome +200"].refusal.startswith(
        "the customer was rewarded for this occasion already, on "
    )


def test_a_day_of_the_month_rewards_only_on_its_day(world):
    _sim, rows = _occasion(world, "monthly", date(NEXT_YEAR, 3, 3))
    assert (
        rows["The 15th"].refusal == f"it rewards on day 15 of the month, not on {NEXT_YEAR}-03-03"
    )
    _sim, rows = _occasion(world, "monthly", date(NEXT_YEAR, 3, 15))
    assert rows["The 15th"].gives == ["+15.00 bonus"]


def test_no_promotion_for_the_occasion_says_so(world):
    simulation, _rows = _occasion(world, "event", timezone.localdate())
    assert simulation.refusal == "No promotion of the programme is started by this occasion."


def test_the_page_simulates_an_occasion_without_lines(world, admin_client):
    world.customer.birth_date = BIRTHDAY
    world.customer.save()
    before = rows_written()
    content = admin_client.post(
        reverse("admin:promotions_promotion_simulator"),
        {
            "terminal": world.terminal.pk,
            "card": world.card.number,
            "lines": "",
            "occasion": "date",
            "occasion_date": f"{NEXT_YEAR}-06-12",
        },
    ).content.decode()
    assert 'id="simulation-occasions"' in content
    assert "+300.00 bonus" in content
    assert 'id="simulation-totals"' not in content
    assert rows_written() == before
