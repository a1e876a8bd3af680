"""In a real browser, promotions built in the builder and checked in the receipt simulator and
the back-test against figures computed here: "buy 2, the 3rd free", "every 5th purchase over
500.00: +100 points" and a birthday bonus.

With SCREENSHOTS_DIR set, the back-test page is saved for docs/marketer-guide.md."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from loyalty.models import Counter, Receipt
from processing.refund import purchase_cancel
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from tests.browser import backtest_run, builder_open, log_in, pick, screenshot, summary_contains
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, CounterFactory, ProductFactory
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
    assert figures["Figures by promotion"][0][:8] == [
        "Birthday +300",
        "0",
        str(len(rewarded)),
        str(len(rewarded)),
        "0.00",
        f"{points:.2f} {world.currency.code}",
        "0",  # counter steps
        f"{worth:.2f}",
    ]
    assert figures["Total cost"] == f"{worth:.2f}"
    assert figures["Net change of cost"] == f"{worth:.2f}"


@dataclass
class Sale:
    """A receipt the test made, as the back-test should see it."""

    customer: int | None
    sold_at: datetime
    amount: Decimal
    cancelled: bool = False


def _sell(world, number: int, card, amount: str, sold_at=None) -> Sale:
    """Confirm a receipt of one television at ``amount`` (``card`` None: anonymous)."""
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id=f"S{number}",
            card=card.number if card is not None else None,
            sold_at=sold_at,
            lines=(PurchaseLine(1, "TV", Decimal(1), Decimal(amount)),),
        ),
    )
    receipt = Receipt.objects.get(terminal=world.terminal, receipt_id=f"S{number}")
    return Sale(receipt.customer_id, receipt.sold_at, receipt.total)


def _every_5th_over_500(sales: list[Sale], since: datetime, until: datetime):
    """What the back-test should find, worked out here: per customer, from zero at the start
    of the period and in time order, the purchases over 500.00 (not cancelled) are counted,
    and the 5th, 10th... is rewarded."""
    counted: Tally[int] = Tally()
    qualifying, rewarded = [], []
    for sale in sorted(sales, key=lambda s: s.sold_at):
        if sale.cancelled or not since <= sale.sold_at < until:
            continue
        if sale.customer is None or sale.amount <= Decimal("500.00"):
            continue
        counted[sale.customer] += 1
        qualifying.append(sale)
        if counted[sale.customer] % 5 == 0:
            rewarded.append(sale)
    return qualifying, rewarded


def test_every_5th_purchase_over_500_in_the_simulator_and_the_back_test(marketer_page):
    world, page, base = marketer_page
    ProductFactory(sku="TV", name="Television")
    CounterFactory(
        programme=world.programme,
        code="over500",
        name="Purchases over 500",
        unit=Counter.Unit.STEPS,
    )
    today = timezone.localdate()

    # when the marketer builds it as the guide says, in two promotions: one steps a counter on
    # each purchase over 500.00...
    builder_open(page, base)
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Count purchases over 500")
    page.select_option("#id_status", "active")
    page.select_option("#id_conditions-0-kind", "receipt_total")
    page.select_option("#id_conditions-0-operator", "gte")
    page.fill("#id_conditions-0-amount", "500.01")
    page.select_option("#id_rewards-0-kind", "counter_step")
    page.fill("#id_rewards-0-value", "1")
    summary_contains(page, "+1 on “…”")  # no counter yet
    # a pick in an autocomplete alone (no other field touched) updates the summary
    pick(page, "id_rewards-0-counter", "Purchases over 500")
    summary_contains(
        page, "Every purchase of at least 500.01 at any store: +1 on “Purchases over 500”"
    )
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")

    # ...the other gives +100 points, burning on 31 December, on every 5th step of it
    builder_open(page, base)
    page.select_option("#id_programme", str(world.programme.pk))
    page.fill("#id_name", "Every 5th over 500: +100")
    page.select_option("#id_status", "active")
    page.select_option("#id_conditions-0-kind", "receipt_total")
    page.select_option("#id_conditions-0-operator", "gte")
    page.fill("#id_conditions-0-amount", "500.01")
    page.click("#conditions-group .add-row")
    page.select_option("#id_conditions-1-kind", "nth_purchase")
    page.fill("#id_conditions-1-quantity", "5")
    pick(page, "id_conditions-1-counter", "Purchases over 500")
    page.select_option("#id_rewards-0-kind", "points_fixed")
    page.fill("#id_rewards-0-value", "100")
    pick(page, "id_rewards-0-currency", world.currency.code)
    page.fill("#id_rewards-0-expires_on", f"{today.year}-12-31")
    page.click("#id_name")
    summary_contains(
        page,
        "Every purchase of at least 500.01, on every 5th step of “Purchases over 500” at any "
        "store: +100 Bonus points, burning 31 Dec",
    )
    page.click("[name=_save]")
    page.wait_for_selector(".messagelist .success")
    every_5th = Promotion.objects.get(name="Every 5th over 500: +100")
    assert sorted(every_5th.conditions.values_list("kind", flat=True)) == [
        "nth_purchase",
        "receipt_total",
    ]

    # given a history the back-test replays (sold before the promotions existed, so the live
    # counter never saw it): Boris, 7 purchases over 500.00 and one of 480.00; Vera, one
    # before the period, 10 in it (and one of exactly 500.00, and a cancelled one); an
    # anonymous 900.00 (no customer: not counted)
    boris = ActiveCardFactory(programme=world.programme)
    vera = ActiveCardFactory(programme=world.programme)
    midnight = timezone.make_aware(datetime.combine(today, time(0)))
    since, until = midnight - timedelta(days=20), midnight + timedelta(days=1)
    numbers = iter(range(1, 100))

    def days_ago(days: int) -> datetime:
        return midnight - timedelta(days=days, hours=-12)

    sales = [_sell(world, next(numbers), vera, "700.00", days_ago(25))]
    for day, amount in zip(
        range(12, 4, -1), ["510", "520", "480", "530", "540", "550", "560", "570"], strict=True
    ):
        sales.append(_sell(world, next(numbers), boris, amount, days_ago(day)))
    for day in range(15, 4, -1):
        amount = "500.00" if day == 9 else "600.00"
        sales.append(_sell(world, next(numbers), vera, amount, days_ago(day) + timedelta(hours=1)))
    cancelled = next(numbers)
    sales.append(_sell(world, cancelled, vera, "900.00", days_ago(4)))
    purchase_cancel(world.terminal, f"S{cancelled}")
    sales[-1].cancelled = True
    sales.append(_sell(world, next(numbers), None, "900.00", days_ago(3)))

    # and Anna buys today, the promotions live: 600.00, 700.00 and 300.00 (the counter is at 2)
    anna = world.card
    for amount in ("600.00", "700.00", "300.00"):
        sales.append(_sell(world, next(numbers), anna, amount))

    # then the simulator, for Anna's next 600.00: the counter steps 2 -> 3, not a multiple of 5
    page.goto(base + "/admin/promotions/promotion/simulator/")
    effects, refusals = _simulate(page, world, "TV 1 600.00")
    assert "counter Purchases over 500 +1: 2 → 3" in effects, effects
    assert "counter Purchases over 500 goes 2 → 3: no multiple of 5" in refusals, refusals
    # and for 480.00 nothing: the condition that fails, with its value
    effects, refusals = _simulate(page, world, "TV 1 480.00")
    assert "counter Purchases over 500" not in effects, effects
    assert refusals.count("receipt 480.00 < 500.01") == 2, refusals

    # when Anna buys 800.00 and 650.00 more (the counter is at 4), her next 600.00 is the 5th:
    # +100 points besides the base 5 % (30.00)
    for amount in ("800.00", "650.00"):
        sales.append(_sell(world, next(numbers), anna, amount))
    effects, refusals = _simulate(page, world, "TV 1 600.00")
    assert "counter Purchases over 500 +1: 4 → 5" in effects, effects
    assert "Every 5th over 500: +100" in effects, effects
    assert "130.00" in page.inner_text("#simulation-totals")
    sales.append(_sell(world, next(numbers), anna, "600.00"))

    # and the back-test of both together over the last 20 days, against the replay worked out
    # here: counters from zero at the period's start, receipt by receipt in time order
    qualifying, rewarded = _every_5th_over_500(sales, since, until)
    assert (len(qualifying), len(rewarded)) == (22, 4)  # Anna 5 (1), Boris 7 (1), Vera 10 (2)
    figures = backtest_run(
        page,
        base,
        "Every 5th over 500",
        since,
        until,
        companions=("Count purchases over 500",),
    )
    examined = [s for s in sales if not s.cancelled and since <= s.sold_at < until]
    assert figures["Receipts examined"] == str(len(examined))
    assert figures["Receipts where it fired"] == str(len(qualifying))
    assert figures["Customers reached"] == str(len({s.customer for s in qualifying}))
    points = Decimal(100) * len(rewarded)
    worth = points * world.currency.rub_rate
    by_promotion = {row[0]: row[1:8] for row in figures["Figures by promotion"]}
    assert by_promotion["Every 5th over 500: +100"] == [
        str(len(rewarded)),
        "0",  # occasions
        str(len({s.customer for s in rewarded})),
        "0.00",  # discount
        f"{points:.2f} {world.currency.code}",
        "0",  # counter steps
        f"{worth:.2f}",
    ]
    assert by_promotion["Count purchases over 500"] == [
        str(len(qualifying)),
        "0",
        str(len({s.customer for s in qualifying})),
        "0.00",
        "–",  # a counter step costs nothing
        str(len(qualifying)),  # one step a qualifying purchase
        "0.00",
    ]
    assert figures["Points by currency"] == [
        [world.currency.code, f"{points:.2f}", f"{worth:.2f}", f"{points:.2f}", f"{worth:.2f}"]
    ]
    assert figures["Total cost"] == f"{worth:.2f}"
    assert figures["Net change of cost"] == f"{worth:.2f}"  # the base 5 % is unchanged


def _simulate(page, world, lines: str) -> tuple[str, str]:
    """The simulator's effects and refusals for a receipt of the world's card now."""
    page.select_option("#id_terminal", str(world.terminal.pk))
    page.fill("#id_card", world.card.number)
    page.fill("#id_lines", lines)
    with page.expect_navigation():  # the page before may show a result too
        page.click("[name=calculate]")
    page.wait_for_selector("#simulation-totals")
    return page.inner_text("#simulation-fired"), page.inner_text("#simulation-blocked")
