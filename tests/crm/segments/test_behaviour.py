"""The behaviour conditions (promo_share, wallet_share, spend_growth, churn_risk) on their edges
by hand: the bounds themselves, refunds, cancels, windows, customers for whom the measure is
not defined, and the checks of their parameters. test_behaviour_oracle.py covers them at
random."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from crm.errors import RuleParamsInvalid
from crm.segments.compile import rule_members
from crm.segments.rules import rule_clean
from loyalty.models import Receipt, ReceiptLineReward, Refund, RefundLine
from promotions.models import Promotion
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import (
    CategoryFactory,
    PartnerFactory,
    ProductFactory,
    ProgrammeFactory,
    ReceiptFactory,
    ReceiptLineFactory,
    StoreFactory,
    TerminalFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal
DAY = timedelta(days=1)


def found(programme, now, kind, negated=False, **params) -> set:
    rule = rule_clean(
        {"op": "and", "items": [{"kind": kind, "not": negated, **params}]},
        programme_id=programme.pk,
    )
    return set(rule_members(rule, programme_id=programme.pk, now=now).values_list("pk", flat=True))


def buy(customer, terminal, at, *lines, status=Receipt.Status.CONFIRMED):
    """A receipt of ``lines`` (to_pay, discount, product), amounts adding up."""
    total = sum((D(pay) + D(off) for pay, off, _p in lines), D("0.00"))
    to_pay = sum((D(pay) for pay, _off, _p in lines), D("0.00"))
    receipt = ReceiptFactory(
        terminal=terminal,
        customer=customer,
        sold_at=at,
        total=total,
        discount=total - to_pay,
        to_pay=to_pay,
        status=status,
    )
    made = [
        ReceiptLineFactory(
            receipt=receipt,
            line_no=no,
            product=product,
            price=D(pay) + D(off),
            amount=D(pay) + D(off),
            discount=D(off),
            to_pay=D(pay),
        )
        for no, (pay, off, product) in enumerate(lines, start=1)
    ]
    return receipt, made


def refund(receipt, line, quantity: str, money: str):
    made = Refund.objects.create(
        receipt=receipt,
        terminal=receipt.terminal,
        kind=Refund.Kind.REFUND,
        refund_id=f"F{receipt.pk}-{line.pk}",
        fingerprint="x",
        to_pay=D(money),
        amount=D(money),
    )
    RefundLine.objects.create(
        refund=made, line=line, quantity=D(quantity), amount=D(money), to_pay=D(money)
    )
    line.refunded_quantity += D(quantity)
    line.save(update_fields=["refunded_quantity"])
    fully = all(one.refunded_quantity == one.quantity for one in receipt.lines.all())
    receipt.status = Receipt.Status.REFUNDED if fully else Receipt.Status.PARTIALLY_REFUNDED
    receipt.save(update_fields=["status"])
    return made


@pytest.fixture
def shop():
    now = timezone.now().replace(microsecond=0)
    programme = ProgrammeFactory()
    partners = [PartnerFactory(), PartnerFactory()]
    terminals = [TerminalFactory(store=StoreFactory(partner=partner)) for partner in partners]
    return now, programme, partners, terminals


def check_refused(programme, kind, param, **params):
    with pytest.raises(RuleParamsInvalid) as caught:
        rule_clean({"op": "and", "items": [{"kind": kind, **params}]}, programme_id=programme.pk)
    assert caught.value.param == param


# --- promo_share ---------------------------------------------------------------------------


def test_promo_share_is_the_money_bought_at_a_discount_over_all_money(shop):
    now, programme, _partners, (t1, _t2) = shop
    ann, bob, cat = CustomerFactory.create_batch(3)
    # ann: 80.00 paid for a line discounted by 20.00, 20.00 for a line at full price: 80 %
    buy(ann, t1, now - DAY, ("80.00", "20.00", None), ("20.00", "0.00", None))
    # cat paid only with points: no money, no share
    buy(cat, t1, now - DAY, ("0.00", "0.00", None))
    share = {"basis": "discount"}
    assert found(programme, now, "promo_share", min="80", **share) == {ann.pk}
    assert found(programme, now, "promo_share", min="80.01", **share) == set()
    assert found(programme, now, "promo_share", max="80", **share) == {ann.pk}
    assert found(programme, now, "promo_share", max="79.99", **share) == set()
    # bob bought nothing and cat spent no money: they are in no range, and in every NOT
    assert found(programme, now, "promo_share", min="0", max="100", **share) == {ann.pk}
    negated = found(programme, now, "promo_share", negated=True, min="0", max="100", **share)
    assert {bob.pk, cat.pk} <= negated
    assert ann.pk not in negated


def test_promo_share_is_net_of_refunds_and_leaves_out_cancels_and_the_window(shop):
    now, programme, _partners, (t1, _t2) = shop
    dan = CustomerFactory()
    # the discounted line of 100.00 half returned: 50.00 kept on promotion of 100.00 kept
    receipt, (discounted, _plain) = buy(
        dan, t1, now - 5 * DAY, ("100.00", "10.00", None), ("50.00", "0.00", None)
    )
    discounted.quantity = D("2.000")
    discounted.save(update_fields=["quantity"])
    refund(receipt, discounted, "1", "50.00")
    # a cancelled purchase at a discount and one long ago count for nothing
    buy(dan, t1, now - DAY, ("500.00", "50.00", None), status=Receipt.Status.CANCELLED)
    buy(dan, t1, now - 40 * DAY, ("500.00", "50.00", None))
    share = {"basis": "discount", "window": {"last_days": 30}}
    assert found(programme, now, "promo_share", min="50", max="50", **share) == {dan.pk}
    # all time: 550.00 of 600.00
    assert found(programme, now, "promo_share", basis="discount", min="91.66") == {dan.pk}
    assert found(programme, now, "promo_share", basis="discount", min="91.67") == set()


def test_promo_share_of_named_promotions_counts_their_line_rewards_but_not_refund_rows(shop):
    now, programme, _partners, (t1, _t2) = shop
    campaign = Promotion.objects.create(programme=programme, name="Campaign")
    base = Promotion.objects.create(programme=programme, name="Base 2 %")
    eve, fay = CustomerFactory.create_batch(2)
    # eve: the campaign gave points on a line of 30.00 (no discount); the base on both
    receipt, (first, second) = buy(eve, t1, now - DAY, ("30.00", "0", None), ("70.00", "0", None))
    for line in (first, second):
        ReceiptLineReward.objects.create(line=line, promotion=base, effect="discount", amount=1)
    ReceiptLineReward.objects.create(line=first, promotion=campaign, effect="discount", amount=1)
    # fay: only a refund's (negative) row names the campaign
    receipt, (line,) = buy(fay, t1, now - DAY, ("40.00", "0", None))
    made = refund(receipt, line, "0.5", "0.00")
    ReceiptLineReward.objects.create(
        line=line, refund=made, promotion=campaign, effect="discount", amount=-1
    )
    named = {"basis": "promotions", "promotions": [campaign.pk]}
    assert found(programme, now, "promo_share", min="30", max="30", **named) == {eve.pk}
    assert found(programme, now, "promo_share", max="0", **named) == {fay.pk}
    both = {"basis": "promotions", "promotions": [campaign.pk, base.pk]}
    assert found(programme, now, "promo_share", min="100", **both) == {eve.pk}
    # at a discount: neither bought anything at a discount
    assert found(programme, now, "promo_share", basis="discount", max="0") == {eve.pk, fay.pk}


def test_promo_share_parameters_are_checked(shop):
    _now, programme, _partners, _terminals = shop
    other = Promotion.objects.create(programme=ProgrammeFactory(code="other"), name="Elsewhere")
    check_refused(programme, "promo_share", "promotions", basis="promotions", min="10")
    check_refused(
        programme, "promo_share", "promotions", basis="discount", promotions=[other.pk], min="1"
    )
    check_refused(
        programme, "promo_share", "promotions", basis="promotions", promotions=[other.pk], min="1"
    )
    check_refused(programme, "promo_share", "min", basis="discount")
    check_refused(programme, "promo_share", "max", basis="discount", max="100.01")
    check_refused(programme, "promo_share", "max", basis="discount", min="50", max="40")
    check_refused(programme, "promo_share", "basis", basis="price", min="1")


# --- wallet_share --------------------------------------------------------------------------


def test_wallet_share_by_partner_and_by_category_with_subcategories(shop):
    now, programme, (ours, theirs), (t1, t2) = shop
    root = CategoryFactory()
    cheese = ProductFactory(category=CategoryFactory(parent=root))
    ann, bob, cat = CustomerFactory.create_batch(3)
    buy(ann, t1, now - DAY, ("60.00", "0", cheese), ("40.00", "0", None))
    buy(ann, t2, now - DAY, ("300.00", "0", cheese))
    buy(bob, t2, now - DAY, ("10.00", "0", None))
    mine = {"partners": [ours.pk]}
    assert found(programme, now, "wallet_share", min="25", max="25", **mine) == {ann.pk}
    assert found(programme, now, "wallet_share", max="24.99", **mine) == {bob.pk}
    assert found(programme, now, "wallet_share", min="25.01", **mine) == set()
    # cheese (a subcategory's product) is 360.00 of 400.00 = 90 %; at our partner 60.00: 15 %
    assert found(programme, now, "wallet_share", categories=[root.pk], min="90") == {ann.pk}
    assert found(programme, now, "wallet_share", categories=[root.pk], min="90.01") == set()
    both = {"partners": [ours.pk], "categories": [root.pk]}
    assert found(programme, now, "wallet_share", min="15", max="15", **both) == {ann.pk}
    # cat spent nothing: in no range, even from 0
    assert cat.pk not in found(programme, now, "wallet_share", min="0", **mine)
    assert cat.pk in found(programme, now, "wallet_share", negated=True, min="0", **mine)


def test_wallet_share_parameters_are_checked(shop):
    _now, programme, (ours, _theirs), _terminals = shop
    check_refused(programme, "wallet_share", "partners", min="10")
    check_refused(programme, "wallet_share", "min", partners=[ours.pk])
    check_refused(programme, "wallet_share", "min", partners=[ours.pk], min="-1")


# --- spend_growth --------------------------------------------------------------------------


def test_spend_growth_against_the_window_before(shop):
    now, programme, _partners, (t1, _t2) = shop
    ann, bob, cat, dan = CustomerFactory.create_batch(4)
    window = {"window": {"last_days": 30}}
    # ann: 100.00 in the 30 days before the window, 150.00 in it: +50 %; the first moment of
    # the window is the window's, the first moment of the one before is that one's
    buy(ann, t1, now - 60 * DAY, ("100.00", "0", None))
    buy(ann, t1, now - 60 * DAY - timedelta(seconds=1), ("999.00", "0", None))
    buy(ann, t1, now - 30 * DAY, ("150.00", "0", None))
    # bob: 100.00 before, nothing now: -100 %
    buy(bob, t1, now - 45 * DAY, ("100.00", "0", None))
    # cat: nothing before, 10.00 now: growth without limit
    buy(cat, t1, now, ("10.00", "0", None))
    # dan: nothing in either window
    buy(dan, t1, now - 61 * DAY, ("10.00", "0", None))
    assert found(programme, now, "spend_growth", min="50", max="50", **window) == {ann.pk}
    assert found(programme, now, "spend_growth", min="50.01", max="99", **window) == set()
    assert found(programme, now, "spend_growth", max="49.99", **window) == {bob.pk}
    assert found(programme, now, "spend_growth", max="-100", **window) == {bob.pk}
    assert found(programme, now, "spend_growth", min="-99.99", **window) == {ann.pk, cat.pk}
    assert found(programme, now, "spend_growth", min="1000000", **window) == {cat.pk}
    assert found(programme, now, "spend_growth", min="-100", **window) == {ann.pk, bob.pk, cat.pk}
    negated = found(programme, now, "spend_growth", negated=True, min="-100", **window)
    assert dan.pk in negated
    assert not {ann.pk, bob.pk, cat.pk} & negated


def test_spend_growth_of_dates_compares_the_same_number_of_days_before(shop):
    now, programme, _partners, (t1, _t2) = shop
    ann = CustomerFactory()
    today = timezone.localdate(now)
    start = today - 9 * DAY  # ten days up to today; before: the ten days up to start - 1
    zone = ZoneInfo(settings.TIME_ZONE)

    def at(day):
        return dt.datetime.combine(day, dt.time.min, tzinfo=zone)

    buy(ann, t1, at(start - 10 * DAY), ("100.00", "0", None))
    buy(ann, t1, at(start - 11 * DAY), ("500.00", "0", None))  # before the window before
    buy(ann, t1, at(start) - timedelta(seconds=1), ("100.00", "0", None))
    buy(ann, t1, at(start), ("50.00", "0", None))
    window = {"window": {"from": start.isoformat(), "to": today.isoformat()}}
    assert found(programme, now, "spend_growth", min="-75", max="-75", **window) == {ann.pk}


def test_spend_growth_parameters_are_checked(shop):
    _now, programme, _partners, _terminals = shop
    check_refused(programme, "spend_growth", "window", min="10")
    check_refused(programme, "spend_growth", "window", window={"from": "2026-01-01"}, min="10")
    check_refused(programme, "spend_growth", "min", window={"last_days": 30})
    check_refused(programme, "spend_growth", "min", window={"last_days": 30}, min="-100.01")


# --- churn_risk ----------------------------------------------------------------------------


def test_churn_risk_is_the_time_since_the_last_purchase_over_the_mean_interval(shop):
    now, programme, _partners, (t1, _t2) = shop
    ann, bob, cat = CustomerFactory.create_batch(3)
    # ann: every ten days, the last twenty days ago: overdue 2.00 (the last's fraction of a
    # second is dropped: whole seconds)
    for at in (now - 40 * DAY, now - 30 * DAY, now - 20 * DAY + timedelta(microseconds=700000)):
        buy(ann, t1, at, ("10.00", "0", None))
    # a cancelled purchase yesterday does not count
    buy(ann, t1, now - DAY, ("10.00", "0", None), status=Receipt.Status.CANCELLED)
    # bob: two purchases ten days apart, the last five days ago: 0.50
    buy(bob, t1, now - 15 * DAY, ("10.00", "0", None))
    buy(bob, t1, now - 5 * DAY, ("10.00", "0", None))
    # cat: three purchases at one moment: no interval
    for _ in range(3):
        buy(cat, t1, now - 5 * DAY, ("10.00", "0", None))
    assert found(programme, now, "churn_risk", min="2") == {ann.pk}
    assert found(programme, now, "churn_risk", min="2.01") == set()
    assert found(programme, now, "churn_risk", max="2") == {ann.pk}
    assert found(programme, now, "churn_risk", max="1.99") == set()
    assert found(programme, now, "churn_risk", min="0", min_purchases=4) == set()
    assert found(programme, now, "churn_risk", min="0.5", max="0.5", min_purchases=2) == {bob.pk}
    # a window that leaves out ann's first purchase: interval 10 days still, and bob's 2
    recent = {"window": {"last_days": 35}, "min_purchases": 2}
    assert found(programme, now, "churn_risk", min="2", max="2", **recent) == {ann.pk}
    assert cat.pk in found(programme, now, "churn_risk", negated=True, min="0")


def test_churn_risk_parameters_are_checked(shop):
    _now, programme, _partners, _terminals = shop
    check_refused(programme, "churn_risk", "min")
    check_refused(programme, "churn_risk", "min", min="-1")
    check_refused(programme, "churn_risk", "min_purchases", min="1", min_purchases=1)
    check_refused(programme, "churn_risk", "max", min="3", max="2")
