"""Tiers (mechanics.md, item 6): the worked example through calculate and confirm, the record
of each move, and the nightly review that lowers the tier of customers who stopped buying,
on its own and racing purchases on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from loyalty import transactions
from loyalty.models import Programme, Receipt, TierChange, TierMembership
from loyalty.services.ledger import customer_account, partner_account
from loyalty.services.tiers import tiers_review
from loyalty.signals import tier_changed
from loyalty.tasks import tiers_review_task
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory, TierFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import calculate_answer, confirm_answer
from tests.processing.test_races import together

pytestmark = pytest.mark.django_db
D = Decimal
NO_PURCHASE = TierChange.Reason.NO_PURCHASE
LOW_SPEND = TierChange.Reason.LOW_SPEND


@pytest.fixture
def world():
    """Tiers from 0 (5 %), from 100.00 (7 %), from 500.00 (10 %), each percent a promotion for
    its tier; a review period of 30 days, no minimum spend, one tier down."""
    world = coalition(percent="5", tier_review_days=30)
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    tiers = []
    for rank, (code, threshold, percent) in enumerate(
        (("base", "0.00", 5), ("silver", "100.00", 7), ("gold", "500.00", 10)), start=1
    ):
        tier = TierFactory(
            programme=world.programme,
            rank=rank,
            code=code,
            name=code.capitalize(),
            threshold=D(threshold),
        )
        promotion(
            world, f"{tier.name} {percent}%", rewards=[{"kind": "points_percent", "value": percent}]
        ).tiers.set([tier])
        tiers.append(tier)
    world.base, world.silver, world.gold = tiers
    snapshot_invalidate()
    return world


def _sale(world, receipt_id, price, *, quantity="1", card=None, sold_at=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=card or world.card.number,
        lines=(PurchaseLine(1, "X", D(quantity), D(price)),),
        sold_at=sold_at,
    )


def _buy(world, receipt_id, price, **kw) -> dict:
    return confirm_answer(world.terminal, _sale(world, receipt_id, price, **kw))


def _both(world, receipt_id, price) -> tuple[dict, dict]:
    """calculate, then confirm: the same numbers; returns both answers."""
    calculated = calculate_answer(world.terminal, _sale(world, receipt_id, price))
    confirmed = confirm_answer(world.terminal, _sale(world, receipt_id, price))
    for key in ("total", "discount", "points_spent", "to_pay", "points_earned", "promotions"):
        assert calculated[key] == confirmed[key], key
    return calculated, confirmed


def _member(world, tier, amount, *, days, customer=None, **kw) -> TierMembership:
    """A membership in ``tier`` since ``days`` ago."""
    return TierMembership.objects.create(
        customer=customer or world.customer,
        programme=world.programme,
        tier=tier,
        qualifying_amount=D(amount),
        since=timezone.now() - timedelta(days=days),
        **kw,
    )


def _membership(world, customer=None) -> TierMembership:
    return TierMembership.objects.select_related("tier").get(
        customer=customer or world.customer, programme=world.programme
    )


def _set(programme: Programme, **fields) -> None:
    for name, value in fields.items():
        setattr(programme, name, value)
    programme.full_clean()
    programme.save()


# --- The worked example ----------------------------------------------------------------------


def test_6_tiers_the_tier_before_a_receipt_sets_its_percent(world, assert_ledger_consistent):
    # given a new customer, in the entry tier without a membership yet
    # when they buy 100.00, then 400.00, then 100.00
    calculated, first = _both(world, "R1", "100.00")
    _calculated, second = _both(world, "R2", "400.00")
    _calculated, third = _both(world, "R3", "100.00")

    # then each receipt earns the percent of the tier before it, and counts towards the next
    assert calculated["customer"]["tier"] == "Base"
    assert (first["points_earned"], first["customer"]["tier"]) == ("5.00", "Silver")
    assert (second["points_earned"], second["customer"]["tier"]) == ("28.00", "Gold")
    assert (third["points_earned"], third["customer"]["tier"]) == ("10.00", "Gold")
    membership = _membership(world)
    assert (membership.tier, membership.qualifying_amount) == (world.gold, D("600.00"))
    # and each move is on record with its receipt
    moves = TierChange.objects.order_by("pk").values_list(
        "from_tier__code", "to_tier__code", "reason", "receipt__receipt_id"
    )
    assert list(moves) == [
        (None, "silver", "purchase", "R1"),
        ("silver", "gold", "purchase", "R2"),
    ]
    assert_ledger_consistent()


def test_a_first_purchase_below_the_next_threshold_records_no_move(world):
    _buy(world, "R1", "99.99")
    assert _membership(world).tier == world.base
    assert not TierChange.objects.exists()


def test_a_refund_that_takes_back_a_threshold_lowers_the_tier_and_records_it(
    world, assert_ledger_consistent
):
    # given Gold after 2 x 300.00
    _buy(world, "R1", "300.00", quantity="2")
    assert _membership(world).tier == world.gold
    # when one unit is returned
    purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    # then 300.00 count: Silver, recorded with the refunded receipt
    membership = _membership(world)
    assert (membership.tier, membership.qualifying_amount) == (world.silver, D("300.00"))
    change = TierChange.objects.get(reason=TierChange.Reason.REFUND)
    assert (change.from_tier, change.to_tier, change.receipt.receipt_id) == (
        world.gold,
        world.silver,
        "R1",
    )
    assert_ledger_consistent()


# --- The nightly review ------------------------------------------------------------------------


def test_no_purchase_for_the_period_lowers_one_tier(world, assert_ledger_consistent):
    # given a customer who reached Gold with 600.00 and then bought nothing for 31 days
    _buy(world, "R1", "600.00")
    later = timezone.now() + timedelta(days=31)

    # when the review runs
    totals = tiers_review(now=later)

    # then they are Silver since the review, counting from Silver's threshold
    assert totals == {"reviewed": 1, "downgraded": 1, "busy": 0}
    membership = _membership(world)
    assert (membership.tier, membership.qualifying_amount, membership.since) == (
        world.silver,
        D("100.00"),
        later,
    )
    change = TierChange.objects.get(reason=NO_PURCHASE)
    assert (change.from_tier, change.to_tier, change.changed_at) == (
        world.gold,
        world.silver,
        later,
    )
    assert (change.qualifying_amount_before, change.qualifying_amount_after) == (
        D("600.00"),
        D("100.00"),
    )
    assert change.period_spend == D("0.00")
    assert change.receipt is None
    # and the next purchase earns Silver's 7 % and does not put them straight back into Gold
    with mock.patch("django.utils.timezone.now", return_value=later + timedelta(hours=1)):
        answer = _buy(world, "R2", "150.00")
    assert (answer["points_earned"], answer["customer"]["tier"]) == ("10.50", "Silver")
    assert _membership(world).qualifying_amount == D("250.00")
    assert_ledger_consistent()


def test_the_lowest_setting_lowers_to_the_entry_tier(world):
    _set(world.programme, tier_downgrade=Programme.TierDowngrade.LOWEST)
    _member(world, world.gold, "600.00", days=40)

    assert tiers_review()["downgraded"] == 1

    membership = _membership(world)
    assert (membership.tier, membership.qualifying_amount) == (world.base, D("0.00"))
    assert TierChange.objects.get().to_tier == world.base


@pytest.mark.parametrize(
    ("price", "lowered"), [("150.00", True), ("199.99", True), ("200.00", False)]
)
def test_less_than_the_minimum_spend_in_the_period_lowers_the_tier(world, price, lowered):
    # given Gold for 40 days, a minimum of 200.00 in 30 days, a purchase 10 days ago, and a
    # bigger one 35 days ago, before the period (uploaded within a 60-day offline window)
    _set(world.programme, tier_review_min_spend=D("200.00"), offline_window_days=60)
    _member(world, world.gold, "600.00", days=40)
    now = timezone.now()
    _buy(world, "OLD", "1000.00", sold_at=now - timedelta(days=35))
    _buy(world, "R1", price, sold_at=now - timedelta(days=10))

    # when
    totals = tiers_review(now=now)

    # then only the purchase in the period counts
    assert totals == {"reviewed": 1, "downgraded": int(lowered), "busy": 0}
    assert _membership(world).tier == (world.silver if lowered else world.gold)
    if lowered:
        change = TierChange.objects.get(reason=LOW_SPEND)
        assert change.period_spend == D(price)
        assert change.qualifying_amount_before == D("600.00") + D("1000.00") + D(price)


def test_a_partly_refunded_receipt_counts_what_was_kept(world):
    # given a minimum of 200.00 and a 2 x 150.00 purchase in the period, one unit returned
    _set(world.programme, tier_review_min_spend=D("200.00"))
    _member(world, world.gold, "600.00", days=40)
    _buy(world, "R1", "150.00", quantity="2", sold_at=timezone.now() - timedelta(days=5))
    purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    assert Receipt.objects.get().status == Receipt.Status.PARTIALLY_REFUNDED

    tiers_review()

    change = TierChange.objects.get(reason=LOW_SPEND)
    assert (change.to_tier, change.period_spend) == (world.silver, D("150.00"))


def test_a_cancelled_receipt_is_no_purchase(world):
    _member(world, world.gold, "600.00", days=40)
    _buy(world, "R1", "150.00", sold_at=timezone.now() - timedelta(days=5))
    purchase_cancel(world.terminal, "R1")

    assert tiers_review()["downgraded"] == 1

    assert TierChange.objects.get(reason=NO_PURCHASE).to_tier == world.silver


def test_a_purchase_in_the_period_keeps_the_tier_without_a_minimum(world):
    _member(world, world.gold, "600.00", days=40)
    _buy(world, "R1", "0.01", sold_at=timezone.now() - timedelta(days=29))

    assert tiers_review() == {"reviewed": 1, "downgraded": 0, "busy": 0}

    assert _membership(world).tier == world.gold


def test_manual_entry_tier_and_recent_memberships_are_left_alone(world):
    # given no purchases at all, and memberships set by hand, in the entry tier, and in Gold
    # for fewer days than the period
    manual = _member(world, world.gold, "0.00", days=400, is_manual=True)
    entry = _member(world, world.base, "50.00", days=400, customer=CustomerFactory())
    recent = _member(world, world.gold, "600.00", days=29, customer=CustomerFactory())

    assert tiers_review() == {"reviewed": 0, "downgraded": 0, "busy": 0}

    for membership in (manual, entry, recent):
        stored = TierMembership.objects.get(pk=membership.pk)
        assert (stored.tier_id, stored.since) == (membership.tier_id, membership.since)
    assert not TierChange.objects.exists()


def test_a_programme_without_a_review_period_lowers_nobody(world):
    _set(world.programme, tier_review_days=None)
    _member(world, world.gold, "600.00", days=400)

    assert tiers_review() == {"reviewed": 0, "downgraded": 0, "busy": 0}
    assert _membership(world).tier == world.gold


def test_running_twice_lowers_once_and_the_next_period_one_tier_more(world):
    # given Gold for 40 days without a purchase
    _member(world, world.gold, "600.00", days=40)
    now = timezone.now()

    # when the review runs twice in a night
    first = tiers_review(now=now)
    second = tiers_review(now=now + timedelta(minutes=5))

    # then it lowered the tier once
    assert (first["downgraded"], second["downgraded"]) == (1, 0)
    assert _membership(world).tier == world.silver
    assert TierChange.objects.count() == 1
    # and a period later, still without a purchase, one tier more; the entry tier is the floor
    assert tiers_review(now=now + timedelta(days=30))["downgraded"] == 1
    assert _membership(world).tier == world.base
    assert tiers_review(now=now + timedelta(days=90))["reviewed"] == 0
    assert list(TierChange.objects.order_by("pk").values_list("to_tier__code", flat=True)) == [
        "silver",
        "base",
    ]


def test_memberships_are_reviewed_in_chunks(world):
    # given five Gold customers for 40 days; the third bought in the period
    customers = [CustomerFactory() for _ in range(5)]
    for customer in customers:
        _member(world, world.gold, "600.00", days=40, customer=customer)
    card = ActiveCardFactory(customer=customers[2], programme=world.programme)
    _buy(world, "R1", "10.00", card=card.number)

    # when the review reads two memberships at a time
    totals = tiers_review(batch=2)

    # then
    assert totals == {"reviewed": 5, "downgraded": 4, "busy": 0}
    lowered = set(TierChange.objects.values_list("customer_id", flat=True))
    assert lowered == {c.pk for c in customers} - {customers[2].pk}


def test_each_move_tells_the_outer_apps_after_the_commit(world, django_capture_on_commit_callbacks):
    _member(world, world.gold, "600.00", days=40)
    received = []

    def receiver(sender, change, **kwargs):
        received.append(change)

    tier_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            tiers_review()
            assert not received  # not before the commit
    finally:
        tier_changed.disconnect(receiver)
    assert len(callbacks) == 1
    assert [(c.from_tier, c.to_tier) for c in received] == [(world.gold, world.silver)]


def test_the_review_is_a_nightly_celery_task_editable_in_the_admin(world):
    entry = PeriodicTask.objects.get(task="loyalty.tiers_review")
    assert entry.enabled
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week) == ("0", "3", "*")
    assert str(entry.crontab.timezone) == settings.TIME_ZONE
    _member(world, world.gold, "600.00", days=40)

    tiers_review_task.apply()
    tiers_review_task.apply()

    assert TierChange.objects.count() == 1
    assert _membership(world).tier == world.silver


# --- Settings and the admin --------------------------------------------------------------------


def test_the_review_settings_are_validated(world):
    programme = world.programme
    programme.tier_review_days = None
    programme.tier_review_min_spend = D("100.00")
    with pytest.raises(ValidationError) as caught:
        programme.full_clean()
    assert caught.value.error_dict["tier_review_days"][0].code == "tier_review_days_missing"

    programme.tier_review_days = 0
    with pytest.raises(ValidationError) as caught:
        programme.full_clean()
    assert caught.value.error_dict["tier_review_days"][0].code == "min_value"

    programme.tier_review_days = 30
    programme.tier_review_min_spend = D("-0.01")
    with pytest.raises(ValidationError) as caught:
        programme.full_clean()
    assert caught.value.error_dict["tier_review_min_spend"][0].code == "min_value"


def test_the_admin_edits_the_settings_and_only_shows_tier_changes(world, admin_client):
    page = admin_client.get(reverse("admin:loyalty_programme_change", args=[world.programme.pk]))
    assert page.status_code == 200
    for field in ("tier_review_days", "tier_review_min_spend", "tier_downgrade"):
        assert f'name="{field}"' in page.content.decode()
    _member(world, world.gold, "600.00", days=40)
    tiers_review()
    change = TierChange.objects.get()
    assert admin_client.get(reverse("admin:loyalty_tierchange_add")).status_code == 403
    detail = admin_client.get(reverse("admin:loyalty_tierchange_change", args=[change.pk]))
    assert detail.status_code == 200
    assert 'name="reason"' not in detail.content.decode()  # read-only


# --- Racing purchases on PostgreSQL ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_the_review_racing_purchases_of_the_same_customers_loses_nothing(
    round_, world, monkeypatch, assert_ledger_consistent
):
    # given eight customers in Gold for 40 days without a purchase, each with an account, and
    # the partner's settlement account open, as after any earlier purchase at the partner (the
    # very first purchases at a partner racing each other are not this test's subject)
    partner_account(world.partner, world.currency)
    customers = []
    for _ in range(8):
        customer = CustomerFactory()
        card = ActiveCardFactory(customer=customer, programme=world.programme)
        customer_account(customer, world.currency)
        _member(world, world.gold, "600.00", days=40, customer=customer)
        customers.append((customer, card))
    retried = []  # deadlocks and serialization failures that retrying would hide
    sqlstate = transactions.sqlstate

    def recording(exc):
        state = sqlstate(exc)
        # A lock wait past lock_timeout (55P03) is the bounded wait doing its job on a busy
        # machine, not a deadlock or a serialization failure: the retry is the design.
        if state in ("40P01", "40001"):
            retried.append(state)
        return state

    monkeypatch.setattr(transactions, "sqlstate", recording)

    # when two reviews run while each customer buys twice
    def work(i):
        if i < 2:
            return tiers_review()
        customer, card = customers[(i - 2) // 2]
        return _buy(world, f"R{i}", "100.00", card=card.number)

    answers, errors = together(2 + 2 * len(customers), work)

    # then nothing failed, deadlocked or was retried
    assert errors == [None] * len(errors), errors
    assert retried == []
    # and each customer is in one of the two consistent states: the review came first and
    # lowered them, then both purchases counted from Silver's threshold; or a purchase came
    # first and they stayed, with both purchases counted
    for customer, _card in customers:
        membership = _membership(world, customer)
        lowered = TierChange.objects.filter(customer=customer, reason=NO_PURCHASE).count()
        if lowered:
            assert (membership.tier, membership.qualifying_amount) == (world.silver, D("300.00"))
        else:
            assert (membership.tier, membership.qualifying_amount) == (world.gold, D("800.00"))
        assert lowered <= 1
        assert Receipt.objects.filter(customer=customer).count() == 2
    assert sum(answer["downgraded"] for answer in answers[:2]) == (
        TierChange.objects.filter(reason=NO_PURCHASE).count()
    )
    assert_ledger_consistent()
