"""Who and when beyond tiers and hours: segments, card series and types, new and referred
customers, days around a customer's date; conditions on single lines and on counters; a
counter step and a next-purchase coupon as rewards. Each through calculate and confirm."""

from __future__ import annotations

import zoneinfo
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.models import MemorableDate, Segment, SegmentMember
from loyalty.models import Card, Counter, CounterValue
from processing.refund import purchase_cancel
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.engine.evaluate import near_date
from promotions.models import CouponGrant, Promotion
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, CardBatchFactory, CounterFactory
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.processing.answers import calculate_answer, confirm_answer, preview_answer

pytestmark = pytest.mark.django_db
D = Decimal
STORE_ZONE = zoneinfo.ZoneInfo("Asia/Novosibirsk")  # the factories' stores


@pytest.fixture
def world():
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    return world


def _sale(world, receipt_id, lines=(("SKU", "1", "100.00"),), card=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card or world.card.number,
        lines=tuple(
            PurchaseLine(n, sku, D(q), D(p)) for n, (sku, q, p) in enumerate(lines, start=1)
        ),
    )


def _both(world, receipt_id, **kw) -> dict:
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, **kw))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, **kw))
    for key in ("discount", "to_pay", "points_earned", "lines", "promotions"):
        assert calculated[key] == confirmed[key], key
    return confirmed


def _fired(answer) -> set[str]:
    return {p["name"] for p in answer["promotions"]}


def _reasons(world, receipt_id="SIM", card=None) -> dict[int, str]:
    _answer, result = preview_answer(world.terminal, _sale(world, receipt_id, card=card))
    return dict(result.blocked)


def _today() -> date:
    return timezone.now().astimezone(STORE_ZONE).date()


def _card(world, **customer):
    return ActiveCardFactory(customer=CustomerFactory(**customer), programme=world.programme).number


def test_a_segment_promotion_rewards_its_members_only(world):
    vip = Segment.objects.create(programme=world.programme, code="vip", name="VIP")
    made = promotion(world, "VIP +10", rewards=[{"kind": "points_fixed", "value": 10}])
    made.segments.set([vip])
    assert _reasons(world)[made.pk] == "audience_segment"
    assert _both(world, "R1")["points_earned"] == "0.00"
    SegmentMember.objects.create(segment=vip, customer=world.customer)
    assert _both(world, "R2")["points_earned"] == "10.00"


def test_card_series_and_card_types(world):
    employees = CardBatchFactory(programme=world.programme, name="Employee cards")
    made = promotion(world, "staff -20%", rewards=[{"kind": "discount_percent", "value": 20}])
    made.card_batches.set([employees])
    assert _both(world, "R1")["discount"] == "0.00"
    staff_card = ActiveCardFactory(
        customer=CustomerFactory(), programme=world.programme, batch=employees
    )
    assert _both(world, "R2", card=staff_card.number)["discount"] == "20.00"
    typed = promotion(
        world, "gift only", rewards=[{"kind": "points_fixed", "value": 1}], card_types=["gift"]
    )
    assert _reasons(world)[typed.pk] == "audience_card"
    Card.objects.filter(pk=world.card.pk).update(card_type="gift")
    assert "gift only" in _fired(_both(world, "R3"))


def test_new_customers_within_days(world):
    promotion(world, "newcomer", rewards=[{"kind": "points_fixed", "value": 7}], new_within_days=30)
    fresh = _card(world, registered_at=timezone.now() - timedelta(days=10))
    old = _card(world, registered_at=timezone.now() - timedelta(days=40))
    assert _both(world, "R1", card=fresh)["points_earned"] == "7.00"
    assert _both(world, "R2", card=old)["points_earned"] == "0.00"


def test_referred_customers_only(world):
    promotion(world, "friend", rewards=[{"kind": "points_fixed", "value": 3}], referred_only=True)
    referred = _card(world, referrer=world.customer)
    assert _both(world, "R1")["points_earned"] == "0.00"
    assert _both(world, "R2", card=referred)["points_earned"] == "3.00"


def test_days_around_the_birthday(world):
    """mechanics.md item 11's window: from 3 days before to 3 days after the birthday."""
    promotion(
        world,
        "birthday x2",
        rewards=[{"kind": "points_percent", "value": 10}],
        around_date="birthday",
        days_before=3,
        days_after=3,
    )
    today = _today()  # years of 1992, a leap year, so that any day of the year exists
    soon = _card(world, birth_date=(today + timedelta(days=2)).replace(year=1992))
    later = _card(world, birth_date=(today - timedelta(days=5)).replace(year=1992))
    nobody = _card(world)  # no birth date
    assert _both(world, "R1", card=soon)["points_earned"] == "10.00"
    assert _both(world, "R2", card=later)["points_earned"] == "0.00"
    assert _both(world, "R3", card=nobody)["points_earned"] == "0.00"


def test_days_around_a_memorable_date(world):
    promotion(
        world,
        "wedding",
        rewards=[{"kind": "points_fixed", "value": 100}],
        around_date="wedding",
        days_after=7,
    )
    wedding = (_today() - timedelta(days=3)).replace(year=2016)  # a leap year
    MemorableDate.objects.create(customer=world.customer, kind="wedding", date=wedding)
    assert _both(world, "R1")["points_earned"] == "100.00"


def test_near_date_wraps_the_year_and_handles_29_february():
    assert near_date(date(2026, 12, 30), date(1990, 1, 1), 3, 0)
    assert near_date(date(2027, 1, 2), date(1990, 12, 31), 0, 2)
    assert not near_date(date(2027, 1, 3), date(1990, 12, 31), 0, 2)
    assert near_date(date(2027, 2, 28), date(1992, 2, 29), 0, 0)
    assert near_date(date(2028, 2, 29), date(1992, 2, 29), 0, 0)
    assert not near_date(date(2026, 6, 1), date(1992, 2, 29), 30, 30)


def test_a_condition_on_one_line_and_a_reward_on_big_lines(world):
    yogurts = product_set(world, "any")
    promotion(
        world,
        "3+ of one",
        conditions=[{"kind": "line", "product_set": yogurts, "quantity": 3}],
        rewards=[{"kind": "points_fixed", "value": 5}],
    )
    promotion(
        world,
        "-10% on lines of 2+",
        rewards=[{"kind": "discount_percent", "value": 10, "min_line_quantity": "2"}],
    )
    spread = _both(world, "R1", lines=(("A", "2", "10.00"), ("B", "2", "10.00")))
    assert spread["points_earned"] == "0.00"  # 4 units, but no single line of 3
    assert [line["discount"] for line in spread["lines"]] == ["2.00", "2.00"]
    bulk = _both(world, "R2", lines=(("A", "3", "10.00"), ("B", "1", "10.00")))
    assert "3+ of one" in _fired(bulk)
    assert [line["discount"] for line in bulk["lines"]] == ["3.00", "0.00"]


def test_a_counter_value_condition_sees_this_purchase(world):
    purchases = CounterFactory(programme=world.programme, unit=Counter.Unit.PURCHASES)
    promotion(
        world,
        "from the 3rd purchase",
        conditions=[{"kind": "counter_value", "counter": purchases, "quantity": 3}],
        rewards=[{"kind": "points_fixed", "value": 1}],
    )
    earned = [_both(world, f"R{n}")["points_earned"] for n in range(1, 5)]
    assert earned == ["0.00", "0.00", "1.00", "1.00"]
    assert CounterValue.objects.get(counter=purchases, customer=world.customer).value == 4


def test_a_counter_step_needs_a_customer_and_a_coupon_is_granted_and_withdrawn(world):
    steps = CounterFactory(programme=world.programme, unit=Counter.Unit.STEPS)
    promotion(world, "count", rewards=[{"kind": "counter_step", "value": 1, "counter": steps}])
    coupon = promotion(
        world, "next time", rewards=[{"kind": "coupon", "value": 1, "coupon_series": "NEXT10"}]
    )
    anonymous = PurchaseRequest(receipt_id="A1", lines=(PurchaseLine(1, "X", D(1), D(50)),))
    _answer, result = preview_answer(world.terminal, anonymous)
    assert dict(result.blocked)[coupon.pk] == "anonymous_customer"
    confirm_answer(world.terminal, anonymous)
    assert not CounterValue.objects.filter(counter=steps).exists()
    assert not CouponGrant.objects.exists()
    _both(world, "R1")
    assert CounterValue.objects.get(counter=steps, customer=world.customer).value == 1
    grant = CouponGrant.objects.get()
    assert (grant.series, grant.customer, grant.status) == ("NEXT10", world.customer, "pending")
    purchase_cancel(world.terminal, "R1")
    grant.refresh_from_db()
    assert grant.status == "withdrawn"
    assert CounterValue.objects.get(counter=steps, customer=world.customer).value == 0


def test_the_simulator_describes_a_customer_by_birthday_and_segments(world):
    from processing.simulator import simulate

    vip = Segment.objects.create(programme=world.programme, code="vip", name="VIP")
    segment_only = promotion(world, "VIP", rewards=[{"kind": "points_fixed", "value": 10}])
    segment_only.segments.set([vip])
    promotion(
        world,
        "birthday",
        rewards=[{"kind": "points_fixed", "value": 5}],
        around_date="birthday",
        days_before=1,
        days_after=1,
    )
    lines = [PurchaseLine(1, "X", D(1), D("100.00"))]
    plain = simulate(terminal=world.terminal, lines=lines)
    assert plain.answer["points_earned"] == "0.00"
    described = simulate(
        terminal=world.terminal,
        lines=lines,
        birth_date=_today().replace(year=1992),
        segment_ids=[vip.pk],
    )
    assert described.answer["points_earned"] == "15.00"


def test_a_promotion_for_one_terminal(world):
    from tests.factories.loyalty import TerminalFactory

    other = TerminalFactory(store=world.store)
    made = promotion(world, "till 2 only", rewards=[{"kind": "points_fixed", "value": 2}])
    made.terminals.set([other])
    assert _reasons(world)[made.pk] == "other_terminal"
    assert confirm_answer(other, _sale(world, "R1"))["points_earned"] == "2.00"
    assert confirm_answer(world.terminal, _sale(world, "R2"))["points_earned"] == "0.00"
