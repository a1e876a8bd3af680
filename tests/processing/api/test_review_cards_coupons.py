"""Regressions of the outside review (issue 12, item 9): a card handed out but not activated
earns and spends nothing until its first purchase activates it, and the coupon a purchase
earns for the next one is told to the register (in the answer) and to the customer."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from communications.models import Message
from crm.models import Consent
from loyalty.models import Account, Card
from promotions.models import Coupon, CouponSeries
from tests.factories.crm import ConsentFactory
from tests.factories.promotions import promotion
from tests.processing.api.conftest import API, purchase_body

pytestmark = pytest.mark.django_db

CALCULATE = API + "purchases/calculate"
CONFIRM = API + "purchases/confirm"


def _balance(world) -> D:
    return Account.objects.get(customer=world.customer, currency=world.currency).balance


def test_a_card_not_activated_yet_spends_no_points_and_its_first_purchase_activates_it(
    world, client, assert_ledger_consistent
):
    # given a customer with points, whose card is handed out but not activated
    first = client.post(CONFIRM, purchase_body(world, "EARN-1"), format="json")
    assert first.status_code == 200, first.content
    earned = _balance(world)
    assert earned > 0
    Card.objects.filter(pk=world.card.pk).update(status=Card.Status.ISSUED)
    body = purchase_body(world, "SPEND-1", spend_points="max")

    # when the register calculates and confirms a receipt that asks to spend them
    calculated = client.post(CALCULATE, body, format="json").json()
    confirmed = client.post(CONFIRM, body, format="json").json()

    # then nothing is spent, the cashier is told why, the purchase earns, the card is active
    for answer in (calculated, confirmed):
        assert answer["points_spent"] == "0.00"
        assert "The card is not activated yet" in " ".join(answer["messages"])
    assert _balance(world) > earned
    world.card.refresh_from_db()
    assert world.card.status == Card.Status.ACTIVE

    # and the next purchase, on the activated card, spends
    after = client.post(CONFIRM, purchase_body(world, "SPEND-2", spend_points="100"), format="json")
    assert after.json()["points_spent"] == "100.00"
    assert_ledger_consistent()


def test_the_coupon_a_purchase_earns_is_in_the_answer_and_sent_to_the_customer(
    world, client, assert_ledger_consistent
):
    # given a promotion giving a coupon for the next purchase, its series, and a customer
    # who agreed to e-mails
    promotion(
        world,
        "A coupon for the next purchase",
        rewards=[{"kind": "coupon", "value": 1, "coupon_series": "NEXT10"}],
    )
    CouponSeries.objects.create(
        programme=world.programme, code="NEXT10", name="10 % off", lifetime_days=30
    )
    world.customer.email = "anna@example.com"
    world.customer.save()
    ConsentFactory(customer=world.customer, channel=Consent.Channel.EMAIL)
    body = purchase_body(world, "COUPON-1")

    # when the register confirms, and retries
    first = client.post(CONFIRM, body, format="json")
    again = client.post(CONFIRM, body, format="json")

    # then the answer names the coupon's code and validity, the retry replays it
    assert first.status_code == 200, first.content
    coupon = Coupon.objects.get(customer=world.customer)
    issued = first.json()["coupons_issued"]
    assert [entry["code"] for entry in issued] == [coupon.code]
    assert issued[0]["valid_until"] == coupon.valid_until.isoformat()
    assert again.json() == first.json()
    # and the customer got one message with the code, once
    messages = Message.objects.filter(customer=world.customer)
    assert [m.channel for m in messages] == [Consent.Channel.EMAIL]
    assert coupon.code in messages[0].text
    assert_ledger_consistent()


def test_a_purchase_earning_no_coupon_answers_none(world, client):
    answer = client.post(CONFIRM, purchase_body(world, "PLAIN-1"), format="json").json()
    assert "coupons_issued" not in answer
