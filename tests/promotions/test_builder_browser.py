"""In a real browser, the promotion builder by trigger and reward kind: the fields follow the
choices, the one-line rule follows the form, errors are named at the top; a floating percent
is one banded reward, and the simulator gives the numbers computed here independently.

With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), the builder pages are saved as the
screenshots of docs/marketer-guide.md.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth import get_user_model

from promotions.models import Promotion
from tests.browser import builder_open, log_in, screenshot, summary_contains
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition

pytestmark = pytest.mark.django_db(transaction=True)


def _hidden(page, field_id: str) -> bool:
    return page.evaluate(
        "id => document.getElementById(id).closest('.field-line').classList"
        ".contains('builder-hidden')",
        field_id,
    )


@pytest.fixture
def marketer_page(live_server, browser_page):
    world = coalition(percent="5")
    ProductFactory(sku="A", name="Apples")
    get_user_model().objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    log_in(browser_page, live_server.url, "marketer", "s3cret-pass")
    return world, browser_page, live_server.url


def _floating_percent(receipt: Decimal) -> Decimal:
    """5 % below 100.00, 7 % from 100.00, 10 % from 500.00 of the whole receipt."""
    percent = Decimal(10) if receipt >= 500 else Decimal(7) if receipt >= 100 else Decimal(5)
    return (receipt * percent / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_a_floating_percent_is_one_banded_reward(marketer_page):
    world, page, base = marketer_page

    # given the add page: one condition and one reward to start with, occasion fields hidden
    builder_open(page, base)
    assert page.locator("#id_rewards-TOTAL_FORMS").input_value() == "1"
    assert _hidden(page, "id_event_type")
    assert _hidden(page, "id_trigger_date")
    assert not _hidden(page, "id_weekdays")

    # when the marketer builds it: one discount reward with three bands by receipt amount
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Floating percent")
    page.fill("#id_code", "floating")
    page.select_option("#id_status", "active")
    page.select_option("#id_rewards-0-kind", "discount_percent")
    assert _hidden(page, "id_rewards-0-currency")  # points only
    assert _hidden(page, "id_rewards-0-every_n")
    assert not _hidden(page, "id_rewards-0-bands")
    page.select_option("#id_rewards-0-band_basis", "customer_spend")
    assert not _hidden(page, "id_rewards-0-band_counter")  # the spend counter of the bands
    page.select_option("#id_rewards-0-band_basis", "receipt_amount")
    assert _hidden(page, "id_rewards-0-band_counter")
    page.fill("#id_rewards-0-bands", "0: 5\n100: 7\n500: 10")
    page.click("#id_name")  # leave the field: the form changed

    # then the rule reads as written, before it is saved
    summary_contains(page, "10 % off from 500.00")
    summary_contains(page, "5 % off below 100.00")
    screenshot(page, "builder-bands.png")
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success, #builder-errors")
    assert page.locator("#builder-errors").count() == 0, page.inner_text("#builder-errors")
    reward = Promotion.objects.get(code="floating").rewards.get()
    assert reward.band_basis == "receipt_amount"
    assert [band["from"] for band in reward.bands] == ["0", "100", "500"]

    # and the simulator gives each band's figure (the base 5 % points promotion aside)
    page.goto(base + "/admin/promotions/promotion/simulator/")
    for receipt in ("80.00", "100.00", "499.99", "500.00"):
        page.fill("#id_card", world.card.number)
        page.select_option("#id_terminal", str(world.terminal.pk))
        page.fill("#id_lines", f"A 1 {receipt}")
        page.click("input[name=calculate], button[name=calculate]")
        page.wait_for_selector("#simulation-totals")
        totals = page.inner_text("#simulation-totals")
        assert f"{_floating_percent(Decimal(receipt)):,.2f}" in totals, (receipt, totals)


def test_an_occasion_shows_its_own_fields_and_errors_are_named_at_the_top(marketer_page):
    world, page, base = marketer_page
    builder_open(page, base)

    # when the trigger is a date of the customer
    page.select_option("#id_trigger", "date")

    # then its fields show and the receipt's hide
    assert not _hidden(page, "id_trigger_date")
    assert _hidden(page, "id_weekdays")
    assert _hidden(page, "id_cashier_message")
    page.select_option("#id_trigger_date", "birthday")
    page.fill("#id_trigger_offset_days", "0")
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Birthday bonus")
    page.select_option("#id_rewards-0-kind", "points_fixed")
    page.fill("#id_rewards-0-value", "300")
    page.fill("#id_rewards-0-expires_days_after_date", "7")
    page.click("#id_name")
    summary_contains(page, "On the customer's birthday: +300")

    # when saved without the points' currency
    page.click("[name=_save]")

    # then the error is named at the top, with its row and field, and next to the field
    page.wait_for_selector("#builder-errors")
    top = page.inner_text("#builder-errors")
    assert "Reward 1, Currency: Points need a currency." in top
    assert "Points need a currency." in page.inner_text(".field-currency")
    screenshot(page, "builder-errors.png")
    assert not Promotion.objects.filter(name="Birthday bonus").exists()


def test_the_marketer_s_home_and_the_calendar(marketer_page):
    world, page, base = marketer_page

    # the home page: the running promotions with their figures, in the job's navigation
    page.goto(base + "/admin/")
    page.wait_for_selector("#home-running")
    assert world.promotion.name in page.inner_text("#home-running")
    screenshot(page, "home-marketer.png")

    # the calendar, reached from the promotions' list (and from the navigation's group)
    assert page.locator("a[href='/admin/promotions/promotion/calendar/']").count() >= 1
    page.goto(base + "/admin/promotions/promotion/")
    page.click("#calendar-link")
    page.wait_for_selector("#calendar")
    assert world.promotion.name in page.inner_text("#calendar")
    screenshot(page, "calendar.png")

    # the language switch: the same page in Russian
    page.click("#language-switch button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert "Календарь акций" in page.inner_text("#content-main h1")
    screenshot(page, "calendar-ru.png")

    # and the home page and the builder in Russian, for the guides
    page.goto(base + "/admin/")
    page.wait_for_selector("#home-running")
    assert "Дано скидок" in page.inner_text("#home-running")
    screenshot(page, "home-marketer-ru.png")
    builder_open(page, base)
    page.select_option("#id_rewards-0-kind", "points_fixed")
    page.fill("#id_name", "Каждая 5-я покупка")
    screenshot(page, "builder-ru.png")
