"""The worked examples of mechanics.md items 9-12 and 17 (counters) that follow a customer's
life: welcome, refer a friend, birthday, happy hours, "3 purchases in February"; and every
trigger beside the receipt, end to end through the services and the daily job, with the ledger
invariants after each."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from crm.models import FamilyMember, MemorableDate
from crm.services import consent_set, customer_create, customer_update
from loyalty.models import Account, Counter, EventType, LedgerEntry, Lot, Posting, Tier
from loyalty.services.cards import customer_register
from processing.events import event_record
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.lifecycle import lifecycle_dates_run
from promotions.models import CouponGrant, LifecycleRun, Promotion, Reward, TriggerFiring
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import CategoryFactory, CounterFactory, ProductFactory, TierFactory
from tests.factories.processing import coalition
from tests.factories.promotions import product_set, promotion
from tests.processing.answers import calculate_answer, confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal
ZONE = zoneinfo.ZoneInfo(settings.TIME_ZONE)


@pytest.fixture
def world():
    """A programme with the base 5% on every purchase."""
    return coalition(percent="5")


def balance(customer, world) -> Decimal:
    account = Account.objects.filter(customer=customer, currency=world.currency).first()
    return account.balance if account else D("0")


def buy(world, receipt_id, amount, card=None, **kw) -> dict:
    request = PurchaseRequest(
        receipt_id=receipt_id,
        card=card or world.card.number,
        lines=(PurchaseLine(line_no=1, sku="X", quantity=D(1), price=D(amount)),),
        **kw,
    )
    return confirm_answer(world.terminal, request)


def today():
    return timezone.localdate()


def end_of(day) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZONE)


# --- 9. Welcome bonus ------------------------------------------------------------------------


def test_9_welcome_bonus_200_points_on_registration_for_30_days(world, assert_ledger_consistent):
    promotion(
        world,
        "Welcome",
        trigger="registration",
        rewards=[{"kind": "points_fixed", "value": 200, "lifetime_days": 30}],
    )
    registration = customer_register(
        terminal=world.terminal, phone="+79005550001", first_name="Ivan"
    )
    newcomer = registration.customer
    assert balance(newcomer, world) == D("200.00")
    lot = Lot.objects.get(account__customer=newcomer)
    assert lot.expires_at == newcomer.registered_at + timedelta(days=30)
    posting = Posting.objects.get(entries__account__customer=newcomer)
    assert posting.kind == Posting.Kind.WELCOME
    assert posting.actor_type == Posting.ActorType.TERMINAL
    # A registration in the back office gets it too; the once-per-life key holds for each.
    operator_made = customer_create(phone="+79005550002", first_name="Olga", source="operator")
    assert balance(operator_made, world) == D("200.00")
    assert TriggerFiring.objects.filter(key="registration").count() == 2
    assert_ledger_consistent()


def test_9_the_welcome_message_goes_through_the_consented_channels(world):
    from communications.models import Message

    promotion(
        world,
        "Welcome",
        trigger="registration",
        customer_message="Welcome, {first_name}! {points} {currency} until {expires}. {unknown}",
        rewards=[{"kind": "points_fixed", "value": 200, "lifetime_days": 30}],
    )
    registration = customer_register(
        terminal=world.terminal,
        phone="+79005550005",
        first_name="Ivan",
        email="ivan@mail.example",
        consents={"sms": True, "email": False, "push": True},
    )
    messages = list(Message.objects.order_by("channel"))
    assert [(m.channel, m.address) for m in messages] == [
        ("push", "+79005550005"),
        ("sms", "+79005550005"),
    ]
    text = messages[0].text
    assert text.startswith("Welcome, Ivan! 200.00 bonus until ")
    assert text.endswith("{unknown}")
    assert messages[0].firing.customer == registration.customer
    # Nobody consented: no message, the points all the same.
    silent = customer_register(terminal=world.terminal, phone="+79005550006", first_name="Olga")
    assert not Message.objects.filter(customer=silent.customer).exists()
    assert balance(silent.customer, world) == D("200.00")


def test_welcome_only_for_registrations_at_the_promotions_stores(world, assert_ledger_consistent):
    from tests.factories.loyalty import StoreFactory

    other_store = StoreFactory(partner=world.partner)
    promotion(
        world,
        "Welcome at the other store",
        trigger="registration",
        stores=[other_store],
        rewards=[{"kind": "points_fixed", "value": 200}],
    )
    here = customer_register(terminal=world.terminal, phone="+79005550003", first_name="A")
    assert balance(here.customer, world) == D("0")
    assert not TriggerFiring.objects.exists()
    assert_ledger_consistent()


def test_a_draft_or_finished_trigger_promotion_rewards_nobody(world):
    promotion(
        world,
        "Welcome (draft)",
        trigger="registration",
        status=Promotion.Status.DRAFT,
        rewards=[{"kind": "points_fixed", "value": 200}],
    )
    made = customer_create(phone="+79005550004", first_name="B")
    assert balance(made, world) == D("0")


# --- 10. Refer a friend ----------------------------------------------------------------------


@pytest.fixture
def referral(world):
    """The three promotions of mechanics.md item 10."""
    promotion(
        world,
        "Newcomer +100",
        trigger="registration",
        referred_only=True,
        rewards=[{"kind": "points_fixed", "value": 100}],
    )
    promotion(
        world,
        "Friend +200 after the first purchase",
        trigger="first_purchase",
        referred_only=True,
        rewards=[{"kind": "points_fixed", "value": 200, "beneficiary": "referrer"}],
    )
    promotion(
        world,
        "Friend 1% of the newcomer's purchases for 90 days",
        referred_only=True,
        new_within_days=90,
        rewards=[{"kind": "points_percent", "value": 1, "beneficiary": "referrer"}],
    )
    return world


def test_10_refer_a_friend(referral, assert_ledger_consistent):
    world = referral
    friend = world.customer
    newcomer = customer_register(
        terminal=world.terminal,
        phone="+79005550010",
        first_name="New",
        referral_code=friend.referral_code.lower(),
    )
    assert newcomer.customer.referrer == friend
    assert balance(newcomer.customer, world) == D("100.00")
    assert balance(friend, world) == D("0")

    calculated = calculate_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id="N1",
            card=newcomer.card.number,
            lines=(PurchaseLine(line_no=1, sku="X", quantity=D(1), price=D("1000.00")),),
        ),
    )
    answer = buy(world, "N1", "1000.00", card=newcomer.card.number)
    assert answer["points_earned"] == calculated["points_earned"] == "50.00"  # the base 5%
    friend_line = [p for p in answer["promotions"] if p.get("to") == "referrer"]
    assert [(p["amount"], p["currency"]) for p in friend_line] == [("10.00", world.currency.code)]
    assert balance(newcomer.customer, world) == D("150.00")
    assert balance(friend, world) == D("210.00")  # +200 after the first purchase, +1%

    buy(world, "N2", "500.00", card=newcomer.card.number)
    assert balance(friend, world) == D("215.00")  # no second +200
    assert TriggerFiring.objects.filter(key="first_purchase").count() == 1

    purchase_cancel(world.terminal, "N2")
    assert balance(friend, world) == D("210.00")  # the friend's 1% of N2 taken back
    purchase_refund(world.terminal, "N1", "R1", [(1, D(1))])
    assert balance(friend, world) == D("200.00")
    assert balance(newcomer.customer, world) == D("100.00")
    assert_ledger_consistent()


def test_10_the_friends_percent_ends_after_90_days(referral, assert_ledger_consistent):
    world = referral
    friend = world.customer
    newcomer = customer_register(
        terminal=world.terminal,
        phone="+79005550011",
        first_name="New",
        referral_code=friend.phone,  # named by phone
    )
    customer_update(customer=newcomer.customer, registered_at=timezone.now() - timedelta(days=91))
    buy(world, "N1", "1000.00", card=newcomer.card.number)
    assert balance(friend, world) == D("200.00")  # the +200, but no 1% any more
    assert_ledger_consistent()


def test_10_a_customer_nobody_referred_gives_nobody_anything(referral, assert_ledger_consistent):
    world = referral
    answer = buy(world, "A1", "1000.00")
    assert all(p.get("to") is None for p in answer["promotions"])
    assert balance(world.customer, world) == D("50.00")
    assert not TriggerFiring.objects.exists()
    assert_ledger_consistent()


# --- 11. Birthday ----------------------------------------------------------------------------


def test_11_birthday_300_points_3_days_before_burning_7_days_after(world, assert_ledger_consistent):
    birthday = today() + timedelta(days=3)
    customer = world.customer
    customer.birth_date = birthday.replace(year=1990)
    customer.save()
    promotion(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        trigger_offset_days=-3,
        rewards=[{"kind": "points_fixed", "value": 300, "expires_days_after_date": 7}],
    )
    assert lifecycle_dates_run() == {"days": 1, "rewarded": 1}
    assert balance(customer, world) == D("300.00")
    lot = Lot.objects.get(account__customer=customer)
    assert lot.expires_at == end_of(birthday + timedelta(days=7))
    firing = TriggerFiring.objects.get()
    assert firing.key == f"date:birthday:{birthday.isoformat()}"
    assert firing.given == D("300.00")
    # Run again the same day: nobody twice.
    assert lifecycle_dates_run() == {"days": 0, "rewarded": 0}
    assert lifecycle_dates_run(today=today()) == {"days": 0, "rewarded": 0}
    assert balance(customer, world) == D("300.00")
    assert_ledger_consistent()


def store_today():
    """Today on the stores' clock (the factories' stores are in Novosibirsk)."""
    return timezone.localtime(timezone.now(), zoneinfo.ZoneInfo("Asia/Novosibirsk")).date()


def test_11_double_points_from_3_days_before_to_3_days_after(world, assert_ledger_consistent):
    customer = world.customer
    customer.birth_date = (store_today() + timedelta(days=3)).replace(year=1991)
    customer.save()
    promotion(
        world,
        "Birthday x2",
        around_date="birthday",
        days_before=3,
        days_after=3,
        rewards=[{"kind": "points_multiplier", "value": 2, "multiplier_of": world.promotion}],
    )
    assert buy(world, "B1", "1000.00")["points_earned"] == "100.00"
    customer.birth_date = (store_today() + timedelta(days=4)).replace(year=1991)
    customer.save()
    assert buy(world, "B2", "1000.00")["points_earned"] == "50.00"
    assert_ledger_consistent()


# --- the daily job: twice a day, after an outage ---------------------------------------------


def test_the_daily_job_catches_up_a_three_day_outage_once(world, assert_ledger_consistent):
    """The job last ran four days ago; the birthdays of the three missed days and of today are
    each rewarded once, and a second run rewards nobody."""
    promotion(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        rewards=[{"kind": "points_fixed", "value": 300, "expires_days_after_date": 30}],
    )
    LifecycleRun.objects.create(job="dates", day=today() - timedelta(days=4))
    people = []
    for back in range(6):  # birthdays 5 days ago ... today
        day = today() - timedelta(days=back)
        people.append(CustomerFactory(birth_date=day.replace(year=1985)))
    assert lifecycle_dates_run() == {"days": 4, "rewarded": 4}
    rewarded = {f.customer_id for f in TriggerFiring.objects.all()}
    assert rewarded == {person.pk for person in people[:4]}  # today and the 3 missed days
    assert lifecycle_dates_run() == {"days": 0, "rewarded": 0}
    assert list(LifecycleRun.objects.order_by("day").values_list("day", flat=True)) == [
        today() - timedelta(days=n) for n in (4, 3, 2, 1, 0)
    ]
    for person in people[:4]:
        assert balance(person, world) == D("300.00")
    assert_ledger_consistent()


def test_a_job_run_lost_midway_gives_the_rest_and_nothing_twice(world, assert_ledger_consistent):
    """A worker killed after rewarding some customers of a day (its run not recorded): the
    next run rewards the others and none of the first twice."""
    promotion(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    people = [CustomerFactory(birth_date=today().replace(year=1980 + n)) for n in range(3)]
    from promotions import lifecycle
    from promotions.rules.snapshot import snapshot_get

    rule = snapshot_get().occasions_of("date")[0]
    lifecycle.promotion_fire(
        snapshot_get(),
        rule,
        lifecycle.Occasion(
            kind="date",
            customer=people[0],
            key=f"date:birthday:{today().isoformat()}",
            at=timezone.now(),
            anchor=today(),
        ),
    )
    assert lifecycle_dates_run() == {"days": 1, "rewarded": 2}
    assert [balance(p, world) for p in people] == [D("300.00")] * 3
    assert_ledger_consistent()


def test_other_dates_child_birthday_anniversary_registration_and_profile_answers(
    world, assert_ledger_consistent
):
    from crm.models import ProfileAnswer, ProfileQuestion

    day = today()
    question = ProfileQuestion.objects.create(
        code="pet_birthday", label="Your pet's birthday", answer_type="date"
    )
    kinds = [
        ("child_birthday", {}),
        ("wedding", {}),
        ("registration", {}),
        ("question", {"trigger_question": question}),
    ]
    for kind, extra in kinds:
        promotion(
            world,
            f"On {kind}",
            trigger="date",
            trigger_date=kind,
            rewards=[{"kind": "points_fixed", "value": 10}],
            **extra,
        )
    parent = CustomerFactory()
    FamilyMember.objects.create(
        customer=parent, relation="child", birth_date=day.replace(year=2015)
    )
    FamilyMember.objects.create(
        customer=parent, relation="child", birth_date=day.replace(year=2018)
    )
    married = CustomerFactory()
    MemorableDate.objects.create(customer=married, kind="wedding", date=day.replace(year=2010))
    veteran = CustomerFactory(registered_at=timezone.now().replace(year=day.year - 2))
    answered = CustomerFactory()
    ProfileAnswer.objects.create(
        customer=answered, question=question, value_date=day.replace(year=2020)
    )
    newcomer = CustomerFactory()  # registered today: no anniversary yet
    lifecycle_dates_run()
    assert balance(parent, world) == D("20.00")  # two children, two birthdays
    assert balance(married, world) == D("10.00")
    assert balance(veteran, world) == D("10.00")
    assert balance(answered, world) == D("10.00")
    assert balance(newcomer, world) == D("0")
    assert_ledger_consistent()


def test_29_february_birthdays_fall_on_28_february_in_other_years(world):
    from promotions.lifecycle import lifecycle_day_run

    promotion(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    leap = CustomerFactory(birth_date=date(2000, 2, 29))
    lifecycle_day_run(date(2027, 2, 28))
    assert TriggerFiring.objects.filter(customer=leap).count() == 1
    lifecycle_day_run(date(2028, 2, 28))  # a leap year: the 29th is its own day
    assert TriggerFiring.objects.filter(customer=leap).count() == 1


# --- 12. Happy hours --------------------------------------------------------------------------


def _tuesday_at(hour: int) -> datetime:
    """Last Tuesday (at least a day ago) at ``hour`` on the stores' clock (Novosibirsk)."""
    zone = zoneinfo.ZoneInfo("Asia/Novosibirsk")
    day = timezone.localtime(timezone.now(), zone).date() - timedelta(days=1)
    while day.isoweekday() != 2:
        day -= timedelta(days=1)
    return datetime.combine(day, time(hour, 30), tzinfo=zone)


def test_12_happy_hours_double_points_on_category_c_and_a_coupon(world, assert_ledger_consistent):
    category = CategoryFactory()
    ProductFactory(sku="C-1", category=category)
    on_c = product_set(world, "Category C", categories=[category])
    promotion(
        world,
        "x2 on C, Tuesdays 10-12",
        weekdays=[2],
        time_from=time(10, 0),
        time_to=time(12, 0),
        rewards=[
            {
                "kind": "points_multiplier",
                "value": 2,
                "multiplier_of": world.promotion,
                "product_set": on_c,
            }
        ],
    )
    promotion(
        world,
        "Coupon for a happy-hour purchase",
        weekdays=[2],
        time_from=time(10, 0),
        time_to=time(12, 0),
        rewards=[{"kind": "coupon", "value": 1, "coupon_series": "HAPPY"}],
    )

    def sale(receipt_id, hour):
        return PurchaseRequest(
            receipt_id=receipt_id,
            card=world.card.number,
            sold_at=_tuesday_at(hour),
            lines=(
                PurchaseLine(line_no=1, sku="C-1", quantity=D(1), price=D("200.00")),
                PurchaseLine(line_no=2, sku="X", quantity=D(1), price=D("100.00")),
            ),
        )

    answer = confirm_answer(world.terminal, sale("H1", 11))
    assert answer["points_earned"] == "25.00"  # 10 + 5 base, +10 on C
    assert answer["lines"][0]["points_earned"] == "20.00"
    assert answer["lines"][1]["points_earned"] == "5.00"
    grant = CouponGrant.objects.get()
    assert (grant.series, grant.status, grant.customer) == ("HAPPY", "pending", world.customer)
    later = confirm_answer(world.terminal, sale("H2", 13))
    assert later["points_earned"] == "15.00"
    assert CouponGrant.objects.count() == 1
    assert_ledger_consistent()


# --- 17. "3 purchases in February" and counters reached ----------------------------------------


def test_17_three_purchases_in_a_month_reward_once(world, assert_ledger_consistent):
    monthly = CounterFactory(programme=world.programme, code="month_buys", period="month")
    promotion(
        world,
        "3 purchases this month: +100",
        trigger="counter",
        trigger_counter=monthly,
        trigger_value=3,
        rewards=[{"kind": "points_fixed", "value": 100}],
    )
    for n in range(1, 5):
        buy(world, f"M{n}", "100.00")
    # 4 x 5.00 base, +100 once (the 3rd purchase), not again at the 4th
    assert balance(world.customer, world) == D("120.00")
    firing = TriggerFiring.objects.get()
    assert firing.key.startswith("counter:")
    assert firing.key.endswith("-01")
    assert_ledger_consistent()


def test_events_step_a_counter_and_its_value_starts_a_promotion(world, assert_ledger_consistent):
    reviews = EventType.objects.create(code="review_written", name="Review written")
    counter = Counter.objects.create(
        programme=world.programme, code="reviews", name="Reviews", unit="events", event_type=reviews
    )
    promotion(
        world,
        "+20 per review",
        trigger="event",
        event_type=reviews,
        rewards=[{"kind": "points_fixed", "value": 20}],
    )
    promotion(
        world,
        "5 reviews: +100",
        trigger="counter",
        trigger_counter=counter,
        trigger_value=5,
        rewards=[{"kind": "points_fixed", "value": 100}],
    )
    for n in range(5):
        result, created = event_record(
            world.terminal, event_id=f"rev-{n}", type_code="review_written", card=world.card.number
        )
        assert created
    assert result["counters"] == [{"counter": "reviews", "value": "5"}]
    assert sorted(r["name"] for r in result["rewards"]) == ["+20 per review", "5 reviews: +100"]
    assert balance(world.customer, world) == D("200.00")
    again, created = event_record(
        world.terminal, event_id="rev-4", type_code="review_written", card=world.card.number
    )
    assert not created
    assert again == result
    assert balance(world.customer, world) == D("200.00")
    assert_ledger_consistent()


# --- the other triggers -------------------------------------------------------------------------


def test_consent_profile_and_tier_triggers_reward_once(world, assert_ledger_consistent):
    from crm.models import ProfileQuestion
    from crm.services import profile_answers_set

    gold = TierFactory(programme=world.programme, code="gold", name="Gold", threshold=D("500"))
    TierFactory(programme=world.programme, code="base", name="Base", threshold=D("0"))
    promotion(
        world,
        "Email consent +30",
        trigger="consent",
        trigger_channel="email",
        rewards=[{"kind": "points_fixed", "value": 30}],
    )
    promotion(
        world,
        "Profile completed +50",
        trigger="profile_completed",
        rewards=[{"kind": "points_fixed", "value": 50}],
    )
    promotion(
        world,
        "Welcome to Gold +70",
        trigger="tier_change",
        trigger_tier=gold,
        rewards=[{"kind": "points_fixed", "value": 70}],
    )
    customer = world.customer
    consent_set(customer=customer, channel="sms", is_granted=True)
    assert balance(customer, world) == D("0")
    consent_set(customer=customer, channel="email", is_granted=True)
    consent_set(customer=customer, channel="email", is_granted=False)
    consent_set(customer=customer, channel="email", is_granted=True)
    assert balance(customer, world) == D("30.00")

    question = ProfileQuestion.objects.create(
        code="pets", label="Pets?", answer_type="boolean", is_required=True
    )
    customer_update(customer=customer, birth_date=date(1990, 5, 5))
    assert balance(customer, world) == D("30.00")  # the required question is not answered
    profile_answers_set(customer=customer, answers={question.code: True})
    profile_answers_set(customer=customer, answers={question.code: False})
    assert balance(customer, world) == D("80.00")

    buy(world, "G1", "600.00")  # 30.00 base; enters Gold
    assert balance(customer, world) == D("180.00")
    purchase_cancel(world.terminal, "G1")  # back down: the base 30 goes back
    buy(world, "G2", "600.00")  # up again: no second welcome to Gold
    assert balance(customer, world) == D("180.00")
    assert TriggerFiring.objects.filter(key__startswith="tier:").count() == 1
    assert Tier.objects.count() == 2
    assert_ledger_consistent()


def test_trigger_budget_and_per_day_limit_hold(world, assert_ledger_consistent):
    promotion(
        world,
        "Welcome, first 2 only",
        trigger="registration",
        budget=D("400.00"),
        rewards=[{"kind": "points_fixed", "value": 200}],
    )
    made = [customer_create(phone=f"+7900555010{n}", first_name="X") for n in range(3)]
    assert [balance(c, world) for c in made] == [D("200.00"), D("200.00"), D("0")]
    assert_ledger_consistent()


def test_an_occasion_reward_with_a_counter_step_and_a_coupon(world, assert_ledger_consistent):
    steps = Counter.objects.create(
        programme=world.programme, code="quests", name="Quests", unit="steps"
    )
    promotion(
        world,
        "Registration: a step and a coupon",
        trigger="registration",
        rewards=[
            {"kind": "counter_step", "value": 1, "counter": steps},
            {"kind": "coupon", "value": 1, "coupon_series": "WELCOME10"},
        ],
    )
    made = customer_create(phone="+79005550200", first_name="Q")
    assert made.counter_values.get(counter=steps).value == D("1")
    grant = CouponGrant.objects.get(customer=made)
    assert grant.receipt is None
    assert grant.firing.key == "registration"
    assert LedgerEntry.objects.count() == 0
    assert_ledger_consistent()


def test_anonymised_customers_get_nothing(world):
    promotion(
        world,
        "Birthday +300",
        trigger="date",
        trigger_date="birthday",
        rewards=[{"kind": "points_fixed", "value": 300}],
    )
    CustomerFactory(birth_date=today().replace(year=1980), is_anonymised=True)
    assert lifecycle_dates_run()["rewarded"] == 0


def test_reward_validation_for_occasion_promotions(world):
    from django.core.exceptions import ValidationError

    made = promotion(world, "Welcome", trigger="registration", rewards=[])
    reward = Reward(promotion=made, kind="points_percent", value=D(5), currency=world.currency)
    with pytest.raises(ValidationError) as error:
        reward.full_clean()
    assert "kind" in error.value.message_dict
    made.trigger = "date"
    with pytest.raises(ValidationError) as error:
        made.full_clean()
    assert "trigger_date" in error.value.message_dict
    made.trigger = "counter"
    with pytest.raises(ValidationError) as error:
        made.full_clean()
    assert {"trigger_counter", "trigger_value"} <= set(error.value.message_dict)
    made.trigger = "registration"
    made.weekdays = [2]
    with pytest.raises(ValidationError) as error:
        made.full_clean()
    assert "weekdays" in error.value.message_dict


# --- 18. Chains (quests) -----------------------------------------------------------------------


def test_18_a_chain_unlocks_each_step_after_the_one_before(world, assert_ledger_consistent):
    """Step 1: buy a coffee (+10). Step 2: write a review once step 1 is done (+20). The last
    step: a purchase of 500.00 once step 2 is done gives the prize (+500), once. Undoing a
    step (a cancel) locks the next one again."""
    coffee = product_set(world, "Coffee", products=[ProductFactory(sku="COFFEE")])
    reviews = EventType.objects.create(code="review_written", name="Review")
    step1 = promotion(
        world,
        "Quest 1: a coffee",
        uses_per_customer=1,
        conditions=[{"kind": "contains", "product_set": coffee}],
        rewards=[{"kind": "points_fixed", "value": 10}],
    )
    step2 = promotion(
        world,
        "Quest 2: a review",
        trigger="event",
        event_type=reviews,
        uses_per_customer=1,
        conditions=[{"kind": "promotion_done", "done_promotion": step1}],
        rewards=[{"kind": "points_fixed", "value": 20}],
    )
    promotion(
        world,
        "Quest 3: the prize",
        uses_per_customer=1,
        conditions=[
            {"kind": "promotion_done", "done_promotion": step2},
            {"kind": "receipt_total", "amount": "500.00"},
        ],
        rewards=[{"kind": "points_fixed", "value": 500}],
    )

    def review(n):
        return event_record(
            world.terminal, event_id=f"r{n}", type_code="review_written", card=world.card.number
        )[0]["rewards"]

    def coffee_receipt(receipt_id):
        return confirm_answer(
            world.terminal,
            PurchaseRequest(
                receipt_id=receipt_id,
                card=world.card.number,
                lines=(PurchaseLine(line_no=1, sku="COFFEE", quantity=D(1), price=D("100.00")),),
            ),
        )

    assert buy(world, "Q0", "600.00")["points_earned"] == "30.00"  # no prize: step 2 not done
    assert review(0) == []  # step 1 not done
    coffee_receipt("Q1")  # +5 base, +10 step 1
    purchase_cancel(world.terminal, "Q1")  # step 1 undone
    assert review(1) == []
    coffee_receipt("Q2")
    assert [r["name"] for r in review(2)] == ["Quest 2: a review"]
    assert review(3) == []  # step 2 is done once
    assert buy(world, "Q3", "600.00")["points_earned"] == "530.00"  # 30 base + the prize
    assert buy(world, "Q4", "600.00")["points_earned"] == "30.00"
    # 30 (Q0) + 15 (Q2) + 20 (review) + 530 (Q3) + 30 (Q4)
    assert balance(world.customer, world) == D("625.00")
    assert_ledger_consistent()


def test_a_chain_step_must_count_per_customer(world):
    from django.core.exceptions import ValidationError

    from promotions.models import Condition

    loose = promotion(world, "Any purchase", rewards=[{"kind": "points_fixed", "value": 1}])
    follower = promotion(world, "Next", rewards=[{"kind": "points_fixed", "value": 1}])
    condition = Condition(promotion=follower, kind="promotion_done", done_promotion=loose)
    with pytest.raises(ValidationError) as error:
        condition.full_clean()
    assert "done_promotion" in error.value.message_dict
    itself = Condition(promotion=follower, kind="promotion_done", done_promotion=follower)
    with pytest.raises(ValidationError):
        itself.full_clean()
    with pytest.raises(ValidationError):
        Condition(promotion=follower, kind="promotion_done").full_clean()
