"""The back-test is honest: counters replayed in time order, occasions of the period, the cost
on what was paid in money after points, several promotions together with their compatibility,
refusals with a reason. Every expected figure is worked out by hand in the test's comments.

Receipts are stored as the demo's history stores them (rows written directly, the money paid
with points in ``points_spent`` and nothing in ``spent_points``), in a fixed past month; the
factories' store is in Asia/Novosibirsk, the back office in settings.TIME_ZONE.
"""

from __future__ import annotations

import itertools
import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse

from loyalty.models import Counter, CounterValue, Product, Receipt, ReceiptLine
from loyalty.money import allocate
from promotions.backtest import backtest_evaluate, refusal_text
from promotions.models import CouponSeries, Promotion
from reports.models import Backtest
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    ActiveCardFactory,
    CounterFactory,
    ProductFactory,
    ProgrammeFactory,
)
from tests.factories.processing import coalition
from tests.factories.promotions import group, product_set, promotion

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]
D = Decimal
ZONE = zoneinfo.ZoneInfo(settings.TIME_ZONE)
SINCE = datetime(2025, 3, 1, tzinfo=ZONE)
UNTIL = datetime(2025, 4, 1, tzinfo=ZONE)
NUMBERS = itertools.count(1)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=ZONE)


def store_receipt(world, card, sold_at, lines, *, points_spent="0.00") -> Receipt:
    """A receipt row as the demo loader writes it: ``points_spent`` is the money paid with
    points, spread over the lines; ``spent_points`` is left at zero."""
    amounts = [D(price) for _sku, price in lines]
    total = sum(amounts, D("0.00"))
    paid = D(points_spent)
    receipt = Receipt.objects.create(
        terminal=world.terminal,
        store=world.store,
        partner=world.partner,
        receipt_id=f"H{next(NUMBERS):04d}",
        customer=card.customer if card is not None else None,
        card=card,
        currency=world.currency,
        sold_at=sold_at,
        total=total,
        points_spent=paid,
        to_pay=total - paid,
    )
    for no, ((sku, _price), amount, part) in enumerate(
        zip(lines, amounts, allocate(paid, amounts), strict=True), start=1
    ):
        ReceiptLine.objects.create(
            receipt=receipt,
            line_no=no,
            sku=sku,
            product=Product.objects.filter(sku=sku).first(),
            quantity=D("1"),
            price=amount,
            amount=amount,
            points_spent=part,
            to_pay=amount - part,
        )
    return receipt


@pytest.fixture
def world():
    """A programme whose base 5 % promotion is finished: each test builds its own."""
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    ProductFactory(sku="X", partner=None)
    return world


def draft(world, name, **fields) -> Promotion:
    return promotion(world, name, status=Promotion.Status.DRAFT, **fields)


def run(*promotions, since=SINCE, until=UNTIL):
    return backtest_evaluate(promotions=promotions, since=since, until=until)


def own(figures, item: Promotion) -> dict:
    return next(row for row in figures.promotions_json() if row["id"] == item.pk)


# --- counters ----------------------------------------------------------------------------------


def test_every_5th_purchase_over_500_replays_the_counter_receipt_by_receipt(world):
    # given "every 5th purchase over 500.00: +100 points", built as live: one promotion steps
    # a counter on purchases over 500.00, the other rewards the 5th, 10th... step
    counted = CounterFactory(programme=world.programme, code="over500", unit=Counter.Unit.STEPS)
    over_500 = {"kind": "receipt_total", "operator": "gte", "amount": "500.01"}
    counting = draft(
        world,
        "count purchases over 500",
        conditions=[over_500],
        rewards=[{"kind": "counter_step", "value": 1, "counter": counted}],
    )
    every_5th = draft(
        world,
        "every 5th: +100",
        conditions=[over_500, {"kind": "nth_purchase", "counter": counted, "quantity": 5}],
        rewards=[{"kind": "points_fixed", "value": 100}],
    )
    first, second = world.card, ActiveCardFactory(programme=world.programme)
    # and a purchase over 500 before the period, which the replay does not count (zero start)
    store_receipt(world, first, at(1) - timedelta(days=3), [("X", "900.00")])
    # and 12 receipts of two customers, stored newest first (the replay goes by time of sale):
    # the first customer's in time order 600, 300, 600, 600, 500.00 (not over), 600, 600, 700:
    # qualifying 1, -, 2, 3, -, 4, 5 (+100 on day 14), 6; the second's 700 x 4: 4 steps only
    plan = [
        (first, 1, "600.00"),
        (second, 2, "700.00"),
        (first, 3, "300.00"),
        (first, 4, "600.00"),
        (second, 5, "700.00"),
        (first, 6, "600.00"),
        (first, 8, "500.00"),
        (second, 9, "700.00"),
        (first, 10, "600.00"),
        (second, 12, "700.00"),
        (first, 14, "600.00"),
        (first, 20, "700.00"),
    ]
    for card, day, amount in reversed(plan):
        store_receipt(world, card, at(day), [("X", amount)])
    live_counters = list(CounterValue.objects.values_list("pk", "value"))

    # when both are back-tested together over March
    figures = run(counting, every_5th)

    # then one reward: the first customer's 5th qualifying purchase, on day 14
    assert figures.receipts_examined == 12
    assert own(figures, every_5th) | {"notes": None} == {
        "id": every_5th.pk,
        "name": "every 5th: +100",
        "refusal": "",
        "receipts_fired": 1,
        "occasions_rewarded": 0,
        "customers_reached": 1,
        "discount_amount": "0.00",
        "points": {world.currency.code: "100.00"},
        "points_worth": "100.00",
        "total_cost": "100.00",
        "counter_steps": "0",
        "coupons": 0,
        "tier_moves": 0,
        "bands": [],
        "notes": None,
    }
    # the counting promotion stepped 6 + 4 qualifying purchases and costs nothing
    counting_row = own(figures, counting)
    assert (counting_row["receipts_fired"], counting_row["counter_steps"]) == (10, "10")
    assert counting_row["total_cost"] == "0.00"
    assert ["counters", {}] in counting_row["notes"]
    assert (figures.total_cost, figures.net_change, figures.receipts_fired) == (
        D("100.00"),
        D("100.00"),
        10,
    )
    # and nothing live was stepped
    assert list(CounterValue.objects.values_list("pk", "value")) == live_counters


def test_a_counter_of_the_month_starts_again_in_each_month(world):
    # given "every 2nd purchase in a month: -50.00", the counter counting purchases monthly
    monthly = CounterFactory(
        programme=world.programme, code="m", unit=Counter.Unit.PURCHASES, period="month"
    )
    second_of_month = draft(
        world,
        "every 2nd purchase of the month",
        conditions=[{"kind": "nth_purchase", "counter": monthly, "quantity": 2}],
        rewards=[{"kind": "discount_fixed", "value": "50.00"}],
    )
    # purchases on 20 and 30 March and 2 April (store time, Novosibirsk): the 2nd of March
    # gets it; 2 April is the 1st of April
    for sold_at in (at(20), at(30), at(31) + timedelta(days=2)):
        store_receipt(world, world.card, sold_at, [("X", "100.00")])

    figures = run(second_of_month, until=datetime(2025, 4, 10, tzinfo=ZONE))

    assert (figures.receipts_fired, figures.discount_amount) == (1, D("50.00"))


# --- occasions ----------------------------------------------------------------------------------


def test_a_birthday_bonus_rewards_the_birthdays_that_fall_in_the_period(world):
    # given "+300 points 3 days before the birthday"
    birthday = draft(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        trigger_offset_days=-3,
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    registered = datetime(2020, 1, 1, tzinfo=ZONE)

    def person(born):
        return CustomerFactory(birth_date=born, registered_at=registered)

    anna = person(date(1990, 3, 10))  # rewarded on 7 March
    person(date(1985, 3, 2))  # 27 February: before the period
    vera = person(date(1992, 4, 2))  # 30 March, though the birthday is in April
    person(date(1970, 4, 5))  # 2 April: after the period
    person(None)  # no birth date
    leap = person(date(2000, 2, 29))  # 28 February 2025 less 3 days: 25 February, before

    # when
    figures = run(birthday)

    # then Anna and Vera: 2 x 300.00
    row = own(figures, birthday)
    assert (row["occasions_rewarded"], row["customers_reached"]) == (2, 2)
    assert row["points"] == {world.currency.code: "600.00"}
    assert row["total_cost"] == "600.00"
    assert ["occasion_days", {"zone": settings.TIME_ZONE}] in row["notes"]
    assert (figures.occasions_rewarded, figures.total_cost, figures.net_change) == (
        2,
        D("600.00"),
        D("600.00"),
    )
    assert figures.receipts_examined == 0  # no receipt promotion: no receipt is read
    assert own(figures, birthday)["customers_reached"] == len({anna.pk, vera.pk})
    assert leap.birth_date.month == 2


def test_a_birthday_before_the_customer_registered_is_not_rewarded(world):
    # given "+300 points on the birthday", and three customers whose birthdays fall in March
    birthday = draft(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    joined = datetime(2025, 3, 12, 9, tzinfo=ZONE)
    # registered on 12 March at 09:00: the daily job (00:20) had rewarded the 10th and the 12th
    # before she was a customer, and rewards the 20th
    CustomerFactory(birth_date=date(1990, 3, 10), registered_at=joined)
    CustomerFactory(birth_date=date(1990, 3, 12), registered_at=joined)
    later = CustomerFactory(birth_date=date(1990, 3, 20), registered_at=joined)

    # when
    figures = run(birthday)

    # then only the birthday after the registration: as the days of the month, an occasion of
    # a day before the customer registered is none of theirs
    row = own(figures, birthday)
    assert (row["occasions_rewarded"], row["customers_reached"]) == (1, 1)
    assert row["points"] == {world.currency.code: "300.00"}
    assert later.registered_at < datetime(2025, 3, 20, tzinfo=ZONE)


def test_a_birthday_is_rewarded_once_per_year_and_limits_count_in_the_period(world):
    # given a birthday bonus on the day itself with a budget of 600.00, and a period of two
    # years and a month: three birthdays, each once, the third after the budget is spent
    birthday = draft(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        budget=D("600.00"),
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    CustomerFactory(birth_date=date(1990, 3, 10), registered_at=datetime(2020, 1, 1, tzinfo=ZONE))

    figures = run(birthday, until=datetime(2027, 4, 1, tzinfo=ZONE))

    # 2025 and 2026 (600.00 given: the budget is spent), then 2027 is refused by the budget
    row = own(figures, birthday)
    assert (row["occasions_rewarded"], row["total_cost"]) == (2, "600.00")
    assert ["limits", {}] in row["notes"]


def test_welcome_first_purchase_and_events_of_the_period(world):
    from loyalty.models import CustomerEvent, EventType

    welcome = draft(
        world,
        "Welcome +200",
        trigger="registration",
        rewards=[{"kind": "points_fixed", "value": 200}],
    )
    first_buy = draft(
        world,
        "First purchase +50",
        trigger="first_purchase",
        rewards=[{"kind": "points_fixed", "value": 50}],
    )
    review = EventType.objects.create(code="review", name="Review")
    reviewed = draft(
        world,
        "Review +20",
        trigger="event",
        event_type=review,
        rewards=[{"kind": "points_fixed", "value": 20}],
    )
    # two registrations in March, one in February
    newcomers = [
        CustomerFactory(registered_at=at(5)),
        CustomerFactory(registered_at=at(25)),
        CustomerFactory(registered_at=at(1) - timedelta(days=10)),
    ]
    # first purchases: the new card's in March; the world's customer bought in February first
    new_card = ActiveCardFactory(programme=world.programme, customer=newcomers[0])
    store_receipt(world, new_card, at(6), [("X", "10.00")])
    store_receipt(world, new_card, at(7), [("X", "10.00")])
    store_receipt(world, world.card, at(1) - timedelta(days=2), [("X", "10.00")])
    store_receipt(world, world.card, at(3), [("X", "10.00")])
    # three reviews in March (two of one customer), one in April
    for n, (person, when) in enumerate(
        [
            (newcomers[0], at(8)),
            (newcomers[0], at(9)),
            (newcomers[1], at(26)),
            (newcomers[1], at(31) + timedelta(days=3)),
        ]
    ):
        CustomerEvent.objects.create(
            terminal=world.terminal,
            partner=world.partner,
            event_id=f"E{n}",
            type=review,
            customer=person,
            occurred_at=when,
        )

    figures = run(welcome, first_buy, reviewed)

    assert own(figures, welcome)["total_cost"] == "400.00"  # 2 x 200
    assert own(figures, first_buy)["total_cost"] == "50.00"  # one first purchase
    assert own(figures, reviewed)["total_cost"] == "60.00"  # 3 x 20, each event once
    assert figures.total_cost == D("510.00")


# --- the cost after points -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rub_rate", "worth"),
    [
        # 10 % of what was paid in money: 600.00 and 200.00 -> 80.00 points
        ("1.0000", "80.00"),
        # a point worth 0.50 RUB: the 400.00 RUB paid were 800 points, spent again; the same
        # 80.00 points are worth 40.00 RUB
        ("0.5000", "40.00"),
    ],
)
def test_the_cost_is_on_what_was_paid_in_money_after_points(world, rub_rate, worth):
    # given a receipt of 1000.00 of which 400.00 paid with points, stored as the demo stores it
    # (no points debited recorded), and one of 200.00 paid in money
    world.currency.rub_rate = D(rub_rate)
    world.currency.save()
    world.programme.max_spend_percent = D("50")
    world.programme.save()
    store_receipt(
        world, world.card, at(2), [("X", "700.00"), ("X", "300.00")], points_spent="400.00"
    )
    store_receipt(world, world.card, at(3), [("X", "200.00")])
    ten_percent = draft(world, "10 %", rewards=[{"kind": "points_percent", "value": "10"}])

    # when
    figures = run(ten_percent)

    # then 10 % of 600.00 + 200.00 = 80.00 points, not 10 % of 1200.00 = 120.00
    row = own(figures, ten_percent)
    assert row["points"] == {world.currency.code: "80.00"}
    assert (row["total_cost"], figures.total_cost) == (worth, D(worth))


def test_a_receipt_written_by_confirm_is_read_the_same_way(world):
    """confirm records both the money paid with points and the points debited: the same
    figure as for the demo's receipt above."""
    from processing.sale import PurchaseLine, PurchaseRequest
    from tests.processing.answers import confirm_answer

    world.programme.max_spend_percent = D("50")
    world.programme.save()
    gift = promotion(world, "credit", rewards=[{"kind": "points_fixed", "value": "400"}])
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="CREDIT",
            card=world.card.number,
            lines=(PurchaseLine(1, "X", D("1"), D("1.00")),),
        ),
    )
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    sold_at = datetime.now(ZONE) - timedelta(hours=1)
    confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="R1",
            card=world.card.number,
            sold_at=sold_at,
            spend_points=D("400"),
            lines=(PurchaseLine(1, "X", D("1"), D("1000.00")),),
        ),
    )
    receipt = Receipt.objects.get(receipt_id="R1")
    assert (receipt.points_spent, receipt.spent_points) == (D("400.00"), D("400"))
    ten_percent = draft(world, "10 %", rewards=[{"kind": "points_percent", "value": "10"}])

    figures = run(
        ten_percent, since=sold_at - timedelta(minutes=1), until=sold_at + timedelta(minutes=1)
    )

    assert figures.total_cost == D("60.00")  # 10 % of the 600.00 paid in money


# --- several promotions together ------------------------------------------------------------------


def test_promotions_together_resolve_exclusive_and_groups_as_on_a_live_receipt(world):
    # given the base 5 % (live, priority 0), and tested together: an exclusive -10 % on
    # cheese (priority 10), 8 % points (priority 5) and 3 % points (priority 4), the last two
    # in one group of mode "first"
    Promotion.objects.filter(pk=world.promotion.pk).update(
        status=Promotion.Status.ACTIVE, starts_at=datetime(2020, 1, 1, tzinfo=ZONE)
    )
    cheese = product_set(world, "Cheese", products=[ProductFactory(sku="CHEESE", partner=None)])
    accrual = group(world, "Accrual", "first")
    exclusive = draft(
        world,
        "-10 % cheese",
        priority=10,
        exclusive=True,
        rewards=[{"kind": "discount_percent", "value": "10", "product_set": cheese}],
    )
    eight = draft(
        world, "8 %", priority=5, group=accrual, rewards=[{"kind": "points_percent", "value": "8"}]
    )
    three = draft(
        world, "3 %", priority=4, group=accrual, rewards=[{"kind": "points_percent", "value": "3"}]
    )
    store_receipt(world, world.card, at(2), [("CHEESE", "100.00"), ("X", "200.00")])

    # when
    figures = run(exclusive, eight, three)

    # then the cheese line: -10.00, and no points (the exclusive stops everything below it);
    # the other line: 8 % = 16.00 points; 3 % loses it to 8 % in the group; the base 5 % is
    # in no group: 10.00 points on it
    assert own(figures, exclusive)["total_cost"] == "10.00"
    assert own(figures, eight)["points"] == {world.currency.code: "16.00"}
    assert own(figures, three)["receipts_fired"] == 0
    assert own(figures, three)["total_cost"] == "0.00"
    assert (figures.discount_amount, figures.points_worth, figures.total_cost) == (
        D("10.00"),
        D("16.00"),
        D("26.00"),
    )
    # without them the base gives 5 % of 300.00 = 15.00; with them 10.00 + 16.00 = 26.00
    assert (figures.discount_change, figures.points_worth_change, figures.net_change) == (
        D("10.00"),
        D("11.00"),
        D("21.00"),
    )


# --- refusals ------------------------------------------------------------------------------------


def test_what_cannot_be_computed_is_refused_with_a_reason_never_a_zero(world, admin_client):
    series = CouponSeries.objects.create(programme=world.programme, code="S", name="S")
    with_coupon = draft(
        world,
        "With a coupon",
        coupon_series=series,
        rewards=[{"kind": "discount_percent", "value": "5"}],
    )
    exchange = draft(
        world,
        "Exchange",
        code="SWAP",
        exchange_cost=D("100"),
        exchange_currency=world.currency,
        rewards=[{"kind": "discount_fixed", "value": "50.00"}],
    )
    profile = draft(
        world,
        "Profile +50",
        trigger="profile_completed",
        rewards=[{"kind": "points_fixed", "value": 50}],
    )
    consent = draft(
        world, "Consent +10", trigger="consent", rewards=[{"kind": "points_fixed", "value": 10}]
    )
    local_welcome = draft(
        world,
        "Welcome at one store",
        trigger="registration",
        stores=[world.store],
        rewards=[{"kind": "points_fixed", "value": 200}],
    )
    fine = draft(world, "5 %", rewards=[{"kind": "points_percent", "value": "5"}])
    store_receipt(world, world.card, at(2), [("X", "100.00")])
    backtest = Backtest.objects.create(promotion=fine, since=SINCE, until=UNTIL)
    backtest.companions.set([with_coupon, exchange, profile, consent, local_welcome])

    # when it runs (queued on commit, eagerly here)
    from reports.services.backtests import backtest_perform, backtest_queue

    backtest_queue(backtest=backtest)
    assert backtest_perform(backtest_id=backtest.pk, run_number=backtest.run_number) == "done"
    backtest.refresh_from_db()

    # then the one it can compute has its figures, the others a reason each
    refusals = {row["name"]: row["refusal"] for row in backtest.per_promotion}
    assert refusals == {
        "5 %": "",
        "With a coupon": "coupon",
        "Exchange": "exchange",
        "Profile +50": "profile_completed",
        "Consent +10": "consent",
        "Welcome at one store": "registration_scope",
    }
    assert all("total_cost" not in row for row in backtest.per_promotion if row["refusal"])
    assert backtest.total_cost == D("5.00")
    page = admin_client.get(reverse("admin:reports_backtest_change", args=[backtest.pk]))
    for code in ("coupon", "exchange", "profile_completed", "consent", "registration_scope"):
        sentence = refusal_text(code)
        assert sentence.split(",")[0] in page.content.decode().replace("&#x27;", "'")
    assert "Not back-tested:" in page.text


def test_companions_of_another_programme_are_refused_by_the_form(world, admin_client):
    fine = draft(world, "5 %", rewards=[{"kind": "points_percent", "value": "5"}])
    other_programme = ProgrammeFactory(code="other", name="Other")
    elsewhere = Promotion.objects.create(
        programme=other_programme, name="Elsewhere", starts_at=SINCE
    )
    response = admin_client.post(
        reverse("admin:reports_backtest_add"),
        {
            "promotion": fine.pk,
            "companions": [elsewhere.pk],
            "since_0": "2025-03-01",
            "since_1": "00:00:00",
            "until_0": "2025-04-01",
            "until_1": "00:00:00",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["companions"] == [
        f"Choose promotions of the same programme as {fine}."
    ]
    assert not Backtest.objects.exists()
