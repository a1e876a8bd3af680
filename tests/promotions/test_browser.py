"""In a real browser: a marketer logs into the admin, builds a promotion through the forms,
runs it in the receipt simulator and sees the expected numbers.

With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), the builder and the simulator are
saved as the screenshots of docs/marketer-guide.md.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from promotions.models import Promotion
from tests.browser import log_in, screenshot
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_builds_a_promotion_and_simulates_it(live_server, browser_page):
    world = coalition(percent="5")
    ProductFactory(sku="A", name="Lemonade")  # the simulator refuses SKUs not in the catalogue
    ProductFactory(sku="B", name="Bed")
    get_user_model().objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    page = browser_page
    log_in(page, live_server.url, "marketer", "s3cret-pass")

    # The builder: -10 % on receipts of at least 100.00 to pay
    page.goto(f"{live_server.url}/admin/promotions/promotion/add/")
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Ten off a hundred")
    page.fill("#id_code", "ten-off")
    page.select_option("#id_status", "active")
    page.fill("#id_priority", "10")
    page.fill("#id_cashier_message", "10% off from 100.00!")
    page.check("#id_channels_0")  # the store channel only
    for day in range(5):  # Monday to Friday
        page.check(f"#id_weekdays_{day}")
    page.select_option("#id_conditions-0-kind", "receipt_total")
    page.select_option("#id_conditions-0-operator", "gte")
    page.fill("#id_conditions-0-amount", "100.00")
    page.select_option("#id_rewards-0-kind", "discount_percent")
    page.fill("#id_rewards-0-value", "10")
    screenshot(page, "promotion-builder.png")
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")
    promotion = Promotion.objects.get(code="ten-off")
    assert promotion.rewards.get().kind == "discount_percent"
    assert promotion.conditions.get().amount == 100
    assert promotion.versions.get().source == "admin"
    assert promotion.channels == ["store"]
    assert promotion.weekdays == [1, 2, 3, 4, 5]

    # The simulator: a receipt of 179.80 + 40.00 for the world's card, on the next weekday
    day = timezone.localdate() + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    page.goto(f"{live_server.url}/admin/promotions/promotion/simulator/")
    page.fill("#id_sold_at", f"{day.isoformat()}T12:30")
    page.select_option("#id_terminal", str(world.terminal.pk))
    page.fill("#id_card", world.card.number)
    page.fill("#id_lines", "A 2 89.90\nB 1 40.00")
    page.click("input[name=calculate]")
    page.wait_for_selector("#simulation-totals")
    totals = page.inner_text("#simulation-totals")
    # 10 % of 219.80 is 21.98 off; 5 % points of the 197.82 left to pay is 9.89
    assert "219.80" in totals
    assert "21.98" in totals
    assert "197.82" in totals
    assert "9.89" in totals
    assert "Ten off a hundred" in page.inner_text("#simulation-fired")
    screenshot(page, "simulator.png")

    # Below the threshold the promotion gives nothing, and the simulator says why
    page.fill("#id_lines", "B 1 40.00")
    page.click("input[name=calculate]")
    page.wait_for_selector("#simulation-blocked")
    assert "its conditions do not hold" in page.inner_text("#simulation-blocked")
