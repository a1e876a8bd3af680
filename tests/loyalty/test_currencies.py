"""Several currencies, each with its own rules (mechanics.md item 17; docs/pos-integration.md):
a currency's default lifetime of earned points, its share of a receipt it may pay, and every
currency the customer holds in the card summary."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Account, Lot
from loyalty.selectors import customer_balances
from processing.sale import PurchaseLine, PurchaseRequest
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import CurrencyFactory
from tests.factories.processing import coalition
from tests.factories.promotions import promotion
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    world = coalition(percent="5")
    Promotion.objects.filter(pk=world.promotion.pk).update(status=Promotion.Status.FINISHED)
    world.stars = CurrencyFactory(
        programme=world.programme, code="stars", name="Stars", is_default=False
    )
    snapshot_invalidate()
    return world


def _buy(world, receipt_id, price="100.00", **kw) -> dict:
    return confirm_answer(
        world.terminal,
        PurchaseRequest(
            receipt_id=receipt_id,
            card=world.card.number,
            lines=(PurchaseLine(1, "X", D("1"), D(price)),),
            **kw,
        ),
    )


def _lifetime(receipt_id: str, currency) -> timedelta | None:
    lot = Lot.objects.get(receipt__receipt_id=receipt_id, account__currency=currency)
    return lot.expires_at - lot.active_at if lot.expires_at else None


def test_points_expire_after_their_currency_s_lifetime_unless_the_reward_says_otherwise(
    world, assert_ledger_consistent
):
    # given stars that live 30 days, and three promotions giving them
    world.stars.lifetime_days = 30
    world.stars.save()
    plain = promotion(world, "plain", rewards=[{"kind": "points_fixed", "value": 10}])
    plain.rewards.update(currency=world.stars)
    snapshot_invalidate()
    # when a reward says nothing, then the currency's lifetime applies
    _buy(world, "R1")
    assert _lifetime("R1", world.stars) == timedelta(days=30)
    # when the reward has a lifetime of its own, then it wins
    plain.rewards.update(lifetime_days=7)
    snapshot_invalidate()
    _buy(world, "R2")
    assert _lifetime("R2", world.stars) == timedelta(days=7)
    # when the reward names a last day, then that day is the end, not the currency's 30 days
    last_day = timezone.localdate() + timedelta(days=90)
    plain.rewards.update(lifetime_days=None, expires_on=last_day)
    snapshot_invalidate()
    _buy(world, "R3")
    lot = Lot.objects.get(receipt__receipt_id="R3")
    zone = zoneinfo.ZoneInfo(world.store.timezone)
    assert lot.expires_at == datetime.combine(
        last_day + timedelta(days=1), datetime.min.time(), zone
    )
    # a currency without a lifetime: points never expire
    world.stars.lifetime_days = None
    world.stars.save()
    plain.rewards.update(expires_on=None)
    snapshot_invalidate()
    _buy(world, "R4")
    assert _lifetime("R4", world.stars) is None
    assert_ledger_consistent()


def test_the_main_currency_s_own_share_of_a_receipt_overrides_the_programme_s(
    world, assert_ledger_consistent
):
    gift = promotion(world, "credit", rewards=[{"kind": "points_fixed", "value": 800}])
    _buy(world, "CREDIT", price="1.00")
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    snapshot_invalidate()
    # the programme allows 50 %
    assert _buy(world, "R1", price="1000.00", spend_points="max")["points_spent"] == "500.00"
    # the currency allows 20 %
    world.currency.max_spend_percent = D("20")
    world.currency.save()
    assert _buy(world, "R2", price="1000.00", spend_points="max")["points_spent"] == "200.00"
    # a currency worth nothing at the till pays nothing, whatever is asked
    world.currency.rub_rate = D("0")
    world.currency.save()
    assert _buy(world, "R3", price="1000.00", spend_points="max")["points_spent"] == "0.00"
    assert_ledger_consistent()


def test_spend_points_spends_the_main_currency_only(world):
    both = promotion(world, "both", rewards=[{"kind": "points_fixed", "value": 100}])
    stars = promotion(world, "stars", rewards=[{"kind": "points_fixed", "value": 100}])
    stars.rewards.update(currency=world.stars)
    _buy(world, "CREDIT", price="1.00")
    for made in (both, stars):
        Promotion.objects.filter(pk=made.pk).update(status=Promotion.Status.FINISHED)
    snapshot_invalidate()
    assert _buy(world, "R1", price="1000.00", spend_points="max")["points_spent"] == "100.00"
    balances = {
        account.currency.code: account.balance
        for account in Account.objects.filter(customer=world.customer)
    }
    assert balances == {"bonus": D("0"), "stars": D("100")}


def test_the_card_summary_lists_every_currency_the_customer_holds(world):
    # given bonus points, stars pending for a day, and chips that burn in 10 days
    chips = CurrencyFactory(
        programme=world.programme,
        code="chips",
        decimal_places=0,
        rub_rate=D("0"),
        is_default=False,
        lifetime_days=10,
    )
    promotion(world, "bonus", rewards=[{"kind": "points_fixed", "value": "12.50"}])
    stars = promotion(
        world, "stars", rewards=[{"kind": "points_fixed", "value": 3, "activation_delay_days": 1}]
    )
    stars.rewards.update(currency=world.stars)
    earn = promotion(world, "chips", rewards=[{"kind": "points_fixed", "value": 5}])
    earn.rewards.update(currency=chips)
    snapshot_invalidate()
    _buy(world, "R1")
    # then each is listed with its own places, active, pending, held and what expires soon
    balances = {b["currency"]: b for b in customer_balances(world.customer)}
    assert balances["bonus"] == {
        "currency": "bonus",
        "active": "12.50",
        "pending": "0.00",
        "held": "0.00",
        "expiring": [],
    }
    assert balances["stars"]["active"] == "0.00"
    assert balances["stars"]["pending"] == "3.00"
    # the last day, on the clock of the store that gave them (not the back office's)
    chips_expire = timezone.localdate(
        timezone.now() + timedelta(days=10), zoneinfo.ZoneInfo(world.store.timezone)
    )
    assert balances["chips"] == {
        "currency": "chips",
        "active": "5",
        "pending": "0",
        "held": "0",
        "expiring": [{"amount": "5", "date": chips_expire.isoformat()}],
    }


def test_a_currency_s_rules_are_checked():
    from django.core.exceptions import ValidationError

    currency = CurrencyFactory.build(
        programme=CurrencyFactory().programme,
        code="odd",
        lifetime_days=0,
        max_spend_percent=D("120"),
        is_default=False,
    )
    with pytest.raises(ValidationError) as caught:
        currency.full_clean()
    assert {"lifetime_days", "max_spend_percent"} <= set(caught.value.message_dict)
