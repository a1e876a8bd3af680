"""The campaign calendar and the overlap rule behind it: only promotions that can really meet
on one receipt are reported (not occasion promotions, not amount ranges that exclude each
other, not disjoint days, stores or hours), on save, on bulk activation and in the calendar;
and the live figures of a promotion's page."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from promotions.figures import live_figures
from promotions.models import Promotion, PromotionUsage
from promotions.overlaps import amount_ranges, can_meet, meetings
from promotions.warnings import promotion_warnings
from tests.factories.loyalty import StoreFactory
from tests.factories.processing import coalition
from tests.factories.promotions import group, promotion

pytestmark = pytest.mark.django_db
POINTS = [{"kind": "points_fixed", "value": 10}]
INF = Decimal("Infinity")


@pytest.fixture
def world():
    return coalition(percent="2")  # "Base bonus": active, coalition-wide, no group, no end


def _over(world, name, amount, **fields):
    return promotion(
        world,
        name,
        conditions=[{"kind": "receipt_total", "operator": "gte", "amount": amount}],
        rewards=POINTS,
        **fields,
    )


def _under(world, name, amount, **fields):
    return promotion(
        world,
        name,
        conditions=[{"kind": "receipt_total", "operator": "lt", "amount": amount}],
        rewards=POINTS,
        **fields,
    )


def test_amount_ranges_follow_the_groups(world):
    both = promotion(
        world,
        "Band or big",
        conditions=[
            {"kind": "receipt_total", "operator": "gte", "amount": "100", "or_group": 1},
            {"kind": "receipt_total", "operator": "lt", "amount": "500", "or_group": 1},
            {"kind": "receipt_total", "operator": "gte", "amount": "1000", "or_group": 2},
        ],
        rewards=POINTS,
    )

    assert amount_ranges(both) == [(Decimal(100), Decimal(500)), (Decimal(1000), INF)]
    assert amount_ranges(world.promotion) == [(-INF, INF)]


def test_ranges_that_exclude_each_other_never_meet(world):
    small = _under(world, "Small", "500")
    big = _over(world, "Big", "500")
    middle = _over(world, "Middle", "300")

    assert not can_meet(small, big)
    assert can_meet(small, middle)  # 300 to 500 satisfies both
    assert can_meet(big, middle)


def test_occasions_days_hours_and_stores_that_never_meet(world):
    birthday = promotion(world, "Birthday", trigger="date", trigger_date="birthday", rewards=POINTS)
    weekend = promotion(world, "Weekend", weekdays=[6, 7], rewards=POINTS)
    weekdays = promotion(world, "Weekdays", weekdays=[1, 2, 3, 4, 5], rewards=POINTS)
    morning = promotion(world, "Morning", time_from=time(8), time_to=time(11), rewards=POINTS)
    evening = promotion(world, "Evening", time_from=time(18), time_to=time(22), rewards=POINTS)
    here = promotion(world, "Here", stores=[world.store], rewards=POINTS)
    there = promotion(world, "There", stores=[StoreFactory(partner=world.partner)], rewards=POINTS)

    assert not can_meet(world.promotion, birthday)
    assert not can_meet(weekend, weekdays)
    assert not can_meet(morning, evening)
    assert not can_meet(here, there)
    assert can_meet(world.promotion, weekend)
    assert can_meet(morning, weekdays)


def test_the_save_warning_counts_only_promotions_that_can_meet(world):
    # given: the base promotion is finished; an occasion promotion and an under-500 one run
    Promotion.objects.filter(pk=world.promotion.pk).update(status="finished")
    promotion(world, "Birthday", trigger="date", trigger_date="birthday", rewards=POINTS)
    _under(world, "Small", "500")

    # when: a promotion for receipts of 500 or more is saved
    big = _over(world, "Big", "500")

    # then: nothing to warn about
    with translation.override("en"):
        assert promotion_warnings(big) == []
        medium = _over(world, "Medium", "200")
        (warning,) = promotion_warnings(medium)
    assert "“Big”" in warning
    assert "“Small”" in warning
    assert "Birthday" not in warning


def test_meetings_say_how_promotions_get_along(world):
    best = group(world, "Best", "best")
    together = group(world, "Together", "all")
    a = promotion(world, "A", group=best, priority=5, rewards=POINTS)
    b = promotion(world, "B", group=best, rewards=POINTS)
    c = promotion(world, "C", group=together, rewards=POINTS)
    d = promotion(world, "D", group=together, rewards=POINTS)
    vip = promotion(world, "VIP", exclusive=True, priority=50, rewards=POINTS)

    found = {(m.first.name, m.second.name): m.kind for m in meetings([a, b, c, d, vip])}

    assert found[("A", "B")] == "compete"
    assert ("C", "D") not in found
    assert ("D", "C") not in found
    assert found[("VIP", "A")] == "exclusive"


def test_bulk_activation_shows_the_overlap_warning(world, admin_client):
    draft = promotion(world, "Draft", status="draft", rewards=POINTS)

    page = admin_client.post(
        reverse("admin:promotions_promotion_changelist"),
        {"action": "activate", "_selected_action": [draft.pk]},
        follow=True,
    )

    texts = [str(m) for m in page.context["messages"]]
    assert any("“Draft” runs at the same time as" in text for text in texts)
    draft.refresh_from_db()
    assert draft.status == "active"


def test_the_calendar_shows_bars_by_partner_and_the_meetings(world, admin_client):
    now = timezone.now()
    promotion(
        world,
        "Winter sale",
        partner=world.partner,
        starts_at=now - timedelta(days=3),
        ends_at=now + timedelta(days=10),
        rewards=POINTS,
    )
    promotion(
        world,
        "Old",
        status="finished",
        starts_at=now - timedelta(days=500),
        ends_at=now - timedelta(days=400),
        rewards=POINTS,
    )

    page = admin_client.get(reverse("admin:promotions_promotion_calendar"))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Winter sale" in html
    assert world.partner.name in html
    assert "Old" not in html
    assert "“Winter sale” and “Base bonus” both apply" in html or (
        "“Base bonus” and “Winter sale” both apply" in html
    )
    rows = {row.partner: [bar.promotion.name for bar in row.bars] for row in page.context["rows"]}
    assert rows[world.partner.name] == ["Winter sale"]


def test_the_calendar_refuses_a_user_without_promotions(world, client):
    user = get_user_model().objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(user)

    assert client.get(reverse("admin:promotions_promotion_calendar")).status_code == 403


def test_live_figures_read_budget_and_limits(world):
    made = promotion(world, "Limited", budget=Decimal("1000"), uses_per_customer=1, rewards=POINTS)
    PromotionUsage.objects.create(promotion=made, key="total", uses=3, given=Decimal("250.00"))
    PromotionUsage.objects.create(promotion=made, key="c:1", uses=1, given=Decimal("100"))
    PromotionUsage.objects.create(promotion=made, key="c:2", uses=1, given=Decimal("100"))

    live = live_figures(made)

    assert live.budget_used == Decimal("250.00")
    assert live.budget_left == Decimal("750.00")
    assert live.budget_share == 25
    assert live.limits == {"per_customer": 2}
    assert [period.key for period in live.periods] == ["today", "week", "start"]


def test_a_spending_rule_no_reward_names_is_flagged_in_the_list_and_on_save(world, admin_client):
    from promotions.models import SpendRule

    used = SpendRule.objects.create(programme=world.programme, name="Only shoes")
    world.reward.spend_rule = used
    world.reward.save()
    SpendRule.objects.create(programme=world.programme, name="Forgotten")

    page = admin_client.get(reverse("admin:promotions_spendrule_changelist"))
    html = page.content.decode()
    assert html.count("none: does nothing") == 1

    answer = admin_client.post(
        reverse("admin:promotions_spendrule_add"),
        {"programme": world.programme.pk, "name": "Another", "max_percent": "50"},
        follow=True,
    )
    texts = [str(m) for m in answer.context["messages"]]
    assert any("No reward names the spending rule “Another”" in text for text in texts)
    change = admin_client.get(reverse("admin:promotions_spendrule_change", args=[used.pk]))
    assert 'id="programme-spending-link"' in change.content.decode()
