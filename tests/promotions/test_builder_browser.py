"""In a real browser, the promotion builder by trigger and reward kind: the fields follow the
choices, the one-line rule follows the form, errors are named at the top; a floating percent
is one banded reward, and the simulator and the back-test give the numbers computed here
independently.

With SCREENSHOTS_DIR set (``SCREENSHOTS_DIR=docs/images``), the builder pages are saved as the
screenshots of docs/marketer-guide.md.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from processing.refund import purchase_cancel
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from tests.browser import backtest_run, builder_open, log_in, screenshot, summary_contains
from tests.factories.loyalty import ActiveCardFactory, ProductFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

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


def _percent_of(amount: Decimal, percent: Decimal | int) -> Decimal:
    return (amount * Decimal(percent) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _band(receipt: Decimal) -> int:
    """The floating percent's band of a receipt: 1 below 100.00, 2 from 100.00, 3 from 500.00."""
    return 3 if receipt >= 500 else 2 if receipt >= 100 else 1


def _floating_percent(receipt: Decimal) -> Decimal:
    """5 % below 100.00, 7 % from 100.00, 10 % from 500.00 of the whole receipt."""
    return _percent_of(receipt, {1: 5, 2: 7, 3: 10}[_band(receipt)])


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

    # and the back-test over the last 10 days: receipts sold before it existed, of two
    # customers and an anonymous one (a discount needs no customer), one of two lines (the
    # band is the whole receipt's), on the bands' edges and half a kopeck; a cancelled receipt
    # and one sold before the period are not examined
    boris = ActiveCardFactory(programme=world.programme)
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time(0)))
    since, until = midnight - timedelta(days=10), midnight + timedelta(days=1)
    history = [  # (days ago, card, line amounts, cancelled)
        (15, world.card, ["900.00"], False),
        (9, world.card, ["80.00"], False),
        (8, world.card, ["99.99"], False),
        (7, boris, ["100.00"], False),
        (6, None, ["250.00"], False),
        (5, boris, ["60.00", "50.00"], False),
        (4, world.card, ["499.99"], False),
        (3, boris, ["500.00"], False),
        (2, world.card, ["1234.56"], False),
        (2, boris, ["700.00"], True),
    ]
    examined = []  # (customer or None, receipt amount)
    for number, (days, card, amounts, cancelled) in enumerate(history, start=1):
        sold_at = midnight - timedelta(days=days) + timedelta(hours=12)
        confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=f"B{number}",
                card=card.number if card is not None else None,
                sold_at=sold_at,
                lines=tuple(
                    PurchaseLine(n, "A", Decimal(1), Decimal(amount))
                    for n, amount in enumerate(amounts, start=1)
                ),
            ),
        )
        if cancelled:
            purchase_cancel(world.terminal, f"B{number}")
        elif sold_at >= since:
            examined.append((card, sum(Decimal(amount) for amount in amounts)))
    figures = backtest_run(page, base, "Floating percent", since, until)

    # then, worked out here: each receipt's band and discount; the base 5 % in points is
    # earned on what is left to pay, so it falls by 5 % of the discount (rounded per receipt)
    bands: dict[int, list] = {1: [0, Decimal(0)], 2: [0, Decimal(0)], 3: [0, Decimal(0)]}
    points_change = Decimal(0)
    for card, amount in examined:
        discount = _floating_percent(amount)
        bands[_band(amount)][0] += 1
        bands[_band(amount)][1] += discount
        if card is not None:  # anonymous receipts earn no points
            points_change += _percent_of(amount - discount, 5) - _percent_of(amount, 5)
    discount = sum(given for _count, given in bands.values())
    assert discount == Decimal("249.66")  # 9.00 + 67.20 + 173.46
    assert figures["Receipts examined"] == str(len(examined)) == "8"
    assert figures["Receipts where it fired"] == "8"  # the first band starts at 0
    assert figures["Customers reached"] == str(len({c for c, _a in examined if c})) == "2"
    assert figures["Discount it gives"] == f"{discount:.2f}"
    assert figures["Total cost"] == f"{discount:.2f}"
    shown = {
        1: ("from 0 to below 100", "5"),
        2: ("from 100 to below 500", "7"),
        3: ("from 500", "10"),
    }
    assert figures["By band"] == [
        ["Floating percent", "1", *shown[band], str(count), f"{given:.2f} RUB"]
        for band, (count, given) in bands.items()
    ]
    rate = world.currency.rub_rate
    assert figures["Change of all discounts"] == f"{discount:.2f}"
    assert figures["Change of all points' worth"] == f"{points_change * rate:.2f}"
    assert figures["Net change of cost"] == f"{discount + points_change * rate:.2f}"


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
