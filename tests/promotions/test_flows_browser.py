"""In a real browser, promotions built in the builder and checked in the receipt simulator and
the back-test against figures computed here: "buy 2, the 3rd free" and a birthday bonus.

With SCREENSHOTS_DIR set, the back-test page is saved for docs/marketer-guide.md."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from tests.browser import backtest_run, builder_open, log_in, pick, screenshot, summary_contains
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition
from tests.factories.promotions import product_set
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def marketer_page(live_server, browser_page):
    world = coalition(percent="5")
    yogurt = ProductFactory(sku="Y", name="Yogurt")
    world.yogurts = product_set(world, "Yogurts", products=[yogurt])
    get_user_model().objects.create_superuser("marketer", "m@example.com", "s3cret-pass")
    log_in(browser_page, live_server.url, "marketer", "s3cret-pass")
    return world, browser_page, live_server.url


def test_buy_two_the_third_free_in_the_simulator_and_the_back_test(marketer_page):
    world, page, base = marketer_page

    # when the marketer builds it
    builder_open(page, base)
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Third yogurt free")
    page.select_option("#id_status", "active")
    page.select_option("#id_rewards-0-kind", "every_nth")
    page.fill("#id_rewards-0-value", "100")
    page.fill("#id_rewards-0-every_n", "3")
    page.select_option("#id_rewards-0-product_set", str(world.yogurts.pk))
    page.click("#id_name")
    summary_contains(page, "every 3rd unit free on “Yogurts”")
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")
    promotion = Promotion.objects.get(name="Third yogurt free")

    # then the simulator: 3 yogurts at 30.00 = 90.00, the cheapest of each 3 free (30.00 off),
    # 60.00 to pay, and the base promotion's 5 % points of it (3.00)
    page.goto(base + "/admin/promotions/promotion/simulator/")
    page.select_option("#id_terminal", str(world.terminal.pk))
    page.fill("#id_card", world.card.number)
    page.fill("#id_lines", "Y 3 30.00")
    page.click("[name=calculate]")
    page.wait_for_selector("#simulation-totals")
    totals = page.inner_text("#simulation-totals")
    for figure in ("90.00", "30.00", "60.00", "3.00"):
        assert figure in totals, (figure, totals)

    # and the back-test over two receipts: 7 yogurts (2 free) and 2 yogurts (none)
    for receipt_id, units in (("H1", "7"), ("H2", "2")):
        confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=receipt_id,
                card=world.card.number,
                lines=(PurchaseLine(1, "Y", Decimal(units), Decimal("30.00")),),
            ),
        )
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(), time(0)))
    figures = backtest_run(
        page, base, "Third yogurt", midnight - timedelta(days=10), midnight + timedelta(days=1)
    )
    screenshot(page, "backtest.png")
    # 2 × 30.00 free on H1, nothing on H2
    assert figures["Figures by promotion"][0][:5] == ["Third yogurt free", "1", "0", "1", "60.00"]
    assert figures["Discount it gives"] == "60.00"
    backtest = promotion.backtests.get()
    assert backtest.receipts_fired == 1
    assert backtest.discount_amount == Decimal("60.00")


def test_a_birthday_bonus_in_the_simulator_and_the_back_test(marketer_page):
    world, page, base = marketer_page
    today = timezone.localdate()
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    world.customer.birth_date = today.replace(year=1988)  # a leap year: 29 February too
    world.customer.registered_at = long_ago
    world.customer.save()

    # when the marketer builds "+300 points on the birthday, burning a week after"
    builder_open(page, base)
    page.select_option("#id_trigger", "date")
    page.select_option("#id_trigger_date", "birthday")
    page.fill("#id_trigger_offset_days", "0")
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Birthday +300")
    page.select_option("#id_status", "active")
    page.select_option("#id_rewards-0-kind", "points_fixed")
    page.fill("#id_rewards-0-value", "300")
    pick(page, "id_rewards-0-currency", world.currency.code)
    page.fill("#id_rewards-0-expires_days_after_date", "7")
    page.click("#id_name")
    summary_contains(page, "On the customer's birthday: +300")
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Promotion.objects.get(name="Birthday +300").rewards.get().value == 300

    # then the simulator, for the customer's birthday today: +300 points
    page.goto(base + "/admin/promotions/promotion/simulator/")
    page.select_option("#id_terminal", str(world.terminal.pk))
    page.fill("#id_card", world.card.number)
    page.select_option("#id_occasion", "date")
    page.fill("#id_occasion_date", today.isoformat())
    page.click("[name=calculate]")
    page.wait_for_selector("#simulation-occasions")
    occasions = page.inner_text("#simulation-occasions")
    assert "Birthday +300" in occasions
    assert "300" in occasions

    # and the back-test over the last 10 days and today, for customers born (in a leap year)
    # on its first day, 5 days ago and today (with the card above), the day before it starts
    # and the day after it ends, one with no birth date on file, and one who registered
    # yesterday, after her birthday 5 days ago (she was not a customer then)
    midnight = timezone.make_aware(datetime.combine(today, time(0)))
    since, until = midnight - timedelta(days=10), midnight + timedelta(days=1)
    customers = [world.customer]
    for days, registered in ((10, long_ago), (5, long_ago), (11, long_ago), (-1, long_ago)):
        born = (today - timedelta(days=days)).replace(year=1988)
        customers.append(CustomerFactory(birth_date=born, registered_at=registered))
    customers.append(CustomerFactory(birth_date=None, registered_at=long_ago))
    born = (today - timedelta(days=5)).replace(year=1988)
    customers.append(CustomerFactory(birth_date=born, registered_at=midnight - timedelta(days=1)))
    figures = backtest_run(page, base, "Birthday +300", since, until)

    # then the birthdays of the period, of customers registered by then, get +300 each:
    # worked out here day by day
    rewarded = [
        person
        for person in customers
        if person.birth_date is not None
        and any(
            (day.month, day.day) == (person.birth_date.month, person.birth_date.day)
            and person.registered_at <= timezone.make_aware(datetime.combine(day, time(0)))
            for day in (since.date() + timedelta(days=n) for n in range((until - since).days))
        )
    ]
    assert len(rewarded) == 3  # today, 5 and 10 days ago
    points = Decimal(300) * len(rewarded)
    worth = points * world.currency.rub_rate
    assert figures["Receipts examined"] == "0"  # an occasion promotion reads no receipt
    assert figures["Occasions rewarded"] == str(len(rewarded))
    assert figures["Customers reached"] == str(len(rewarded))
    assert figures["Figures by promotion"][0][:7] == [
        "Birthday +300",
        "0",
        str(len(rewarded)),
        str(len(rewarded)),
        "0.00",
        f"{points:.2f} {world.currency.code}",
        f"{worth:.2f}",
    ]
    assert figures["Total cost"] == f"{worth:.2f}"
    assert figures["Net change of cost"] == f"{worth:.2f}"
