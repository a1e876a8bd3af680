"""Refunds and cancels at the register after a customer merge, through the POS API.

A purchase made on the merged customer's card before the merge is refunded after it: the
points it earned are taken back from where they now live (the kept customer's account), the
points it spent go back there too, and the merged customer's accounts stay at zero. Every
scenario ends with the ledger invariants.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from crm.models import Customer
from loyalty.models import Account, Card, Lot, Receipt
from loyalty.services.card_operations import customers_merge
from loyalty.services.terminals import terminal_key_issue
from promotions.models import Reward
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.crm import CustomerFactory
from tests.factories.loyalty import ActiveCardFactory
from tests.factories.processing import coalition
from tests.processing.api.conftest import API, purchase_body

pytestmark = pytest.mark.django_db
D = Decimal

CONFIRM = API + "purchases/confirm"
REFUND = API + "purchases/refund"
CANCEL = API + "purchases/cancel"


def _post(client, url, body):
    response = client.post(url, body, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def _sale(card: Card, receipt_id: str, price: str = "1000.00", **extra) -> dict:
    return {
        "receipt_id": receipt_id,
        "card": card.number,
        "lines": [
            {"line": 1, "sku": "A", "quantity": "1", "price": price},
            {"line": 2, "sku": "B", "quantity": "1", "price": price},
        ],
        **extra,
    }


def _balances(customer: Customer) -> tuple[Decimal, Decimal]:
    account = Account.objects.get(kind=Account.Kind.CUSTOMER, customer=customer)
    return account.balance, account.pending


@pytest.fixture
def world():
    return coalition(percent="5")


@pytest.fixture
def client(world) -> APIClient:
    _key, raw = terminal_key_issue(terminal=world.terminal)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return api


@pytest.fixture
def gone(world):
    customer = CustomerFactory()
    customer.card = ActiveCardFactory(programme=world.programme, customer=customer)
    return customer


def test_refund_after_merge_takes_the_points_back_from_the_kept_customer(
    world, client, gone, assert_ledger_consistent
):
    # given: gone earned 100 points (5 % of 2,000) before the merge; keep has 50 of their own
    _post(client, CONFIRM, _sale(gone.card, "G1"))
    _post(client, CONFIRM, _sale(world.card, "K1", price="500.00"))
    customers_merge(keep=world.customer, gone=gone)
    assert _balances(world.customer) == (D("150.00"), D("0.00"))
    # when: one of the two lines is returned at the register after the merge
    data = _post(
        client,
        REFUND,
        {"receipt_id": "G1", "refund_id": "G1-R1", "lines": [{"line": 1, "quantity": "1"}]},
    )
    # then: its 50 points come off the kept customer; the merged one stays at zero
    assert data["status"] == "partially_refunded"
    assert (D(data["points_reversed"]), D(data["shortfall"])) == (D("50"), D("0"))
    assert (D(data["balance"]["after"]), D(data["balance"]["pending"])) == (D("100"), D("0"))
    assert _balances(world.customer) == (D("100.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    # and the rest of the receipt, in a second refund
    data = _post(client, REFUND, {"receipt_id": "G1", "refund_id": "G1-R2"})
    assert (data["status"], D(data["points_reversed"])) == ("refunded", D("50"))
    assert _balances(world.customer) == (D("50.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert_ledger_consistent()


def test_cancel_after_merge_takes_pending_points_back_from_the_kept_customer(
    world, client, gone, assert_ledger_consistent
):
    # given: gone's purchase earned 100 pending points (active in 14 days), then the merge
    world.reward.activation_delay_days = 14
    world.reward.save()
    snapshot_invalidate()
    _post(client, CONFIRM, _sale(gone.card, "G1"))
    customers_merge(keep=world.customer, gone=gone)
    assert _balances(world.customer) == (D("0.00"), D("100.00"))
    # when
    data = _post(client, CANCEL, {"receipt_id": "G1"})
    # then
    assert (data["status"], D(data["points_reversed"])) == ("cancelled", D("100"))
    assert _balances(world.customer) == (D("0.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert Receipt.objects.get(receipt_id="G1").status == Receipt.Status.CANCELLED
    assert_ledger_consistent()


def test_refund_after_merge_of_points_already_spent_follows_the_programme_policy(
    world, client, gone, assert_ledger_consistent
):
    # given: the 100 points gone earned were spent by keep after the merge, on a receipt that
    # earned 45 (5 % of the 900 paid)
    _post(client, CONFIRM, _sale(gone.card, "G1"))
    customers_merge(keep=world.customer, gone=gone)
    _post(client, CONFIRM, _sale(world.card, "K1", price="500.00", spend_points="100"))
    assert _balances(world.customer) == (D("45.00"), D("0.00"))
    # when: the capped policy (the default) takes back what keep has and no more
    data = _post(client, CANCEL, {"receipt_id": "G1"})
    # then: the other 55 points are the programme's shortfall; no balance goes below zero
    assert (D(data["points_reversed"]), D(data["shortfall"])) == (D("100"), D("55"))
    assert _balances(world.customer) == (D("0.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert_ledger_consistent()


def test_refund_after_merge_under_the_debt_policy_leaves_the_debt_with_the_kept_customer(
    world, client, gone, assert_ledger_consistent
):
    world.programme.refund_shortfall_policy = "debt"
    world.programme.save()
    snapshot_invalidate()
    _post(client, CONFIRM, _sale(gone.card, "G1"))
    customers_merge(keep=world.customer, gone=gone)
    _post(client, CONFIRM, _sale(world.card, "K1", price="500.00", spend_points="60"))
    # when
    data = _post(client, CANCEL, {"receipt_id": "G1"})
    # then: the 40 points left of G1's and the 47 K1 earned are taken; 13 are owed by keep
    assert D(data["debt"]) == D("13")
    keep = Account.objects.get(customer=world.customer)
    assert keep.balance == D("-13.00")
    assert Lot.objects.get(account=keep, kind=Lot.Kind.DEBT).remaining == D("-13.00")
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert_ledger_consistent()


def test_points_spent_on_the_merged_receipt_go_back_to_the_kept_customer(
    world, client, gone, assert_ledger_consistent
):
    # given: gone earned 100, then spent 80 on G2 (which earned 5 % of what was paid)
    _post(client, CONFIRM, _sale(gone.card, "G1"))
    _post(client, CONFIRM, _sale(gone.card, "G2", price="100.00", spend_points="80"))
    customers_merge(keep=world.customer, gone=gone)
    balance_after_merge = _balances(world.customer)[0]
    earned_on_g2 = Account.objects.get(customer=gone).lots.filter(receipt__receipt_id="G2")
    earned = sum(lot.amount for lot in earned_on_g2)
    # when: G2 is refunded line by line after the merge
    first = _post(
        client,
        REFUND,
        {"receipt_id": "G2", "refund_id": "G2-R1", "lines": [{"line": 1, "quantity": "1"}]},
    )
    second = _post(client, REFUND, {"receipt_id": "G2", "refund_id": "G2-R2"})
    # then: the 80 spent points are back on keep, once, and what G2 earned is gone
    assert D(first["points_returned"]) + D(second["points_returned"]) == D("80.00")
    assert _balances(world.customer)[0] == balance_after_merge + D("80.00") - earned
    assert _balances(gone) == (D("0.00"), D("0.00"))
    # and a cancel afterwards gives nothing back twice
    _post(client, CANCEL, {"receipt_id": "G2"})
    assert _balances(world.customer)[0] == balance_after_merge + D("80.00") - earned
    assert_ledger_consistent()


def test_refund_after_merge_of_a_receipt_that_rewarded_the_referrer(
    world, client, assert_ledger_consistent
):
    # given: gone referred friend, whose purchase gave gone 20 points; gone is merged into keep
    Reward.objects.create(
        promotion=world.promotion,
        kind=Reward.Kind.POINTS_FIXED,
        value=D("20"),
        currency=world.currency,
        beneficiary=Reward.Beneficiary.REFERRER,
    )
    snapshot_invalidate()
    _post(client, CONFIRM, _sale(world.card, "K1", price="500.00"))
    gone = CustomerFactory()
    friend = CustomerFactory(referrer=gone)
    friend_card = ActiveCardFactory(programme=world.programme, customer=friend)
    _post(client, CONFIRM, _sale(friend_card, "F1"))
    customers_merge(keep=world.customer, gone=gone)
    friend.refresh_from_db()
    assert friend.referrer == world.customer
    assert _balances(world.customer) == (D("70.00"), D("0.00"))
    # when
    _post(client, CANCEL, {"receipt_id": "F1"})
    # then: the referrer's 20 points are taken back from keep, and gone stays at zero
    assert _balances(world.customer) == (D("50.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert _balances(friend) == (D("0.00"), D("0.00"))
    assert_ledger_consistent()


@pytest.mark.parametrize("sql_path", [False, True], ids=["orm", "sql"])
def test_the_merged_customers_old_card_buys_for_the_kept_customer(
    world, client, gone, settings, sql_path, assert_ledger_consistent
):
    if sql_path and connection.vendor != "postgresql":
        pytest.skip("the SQL hot path runs on PostgreSQL only")
    settings.POS_SQL_PATH = sql_path
    # given
    _post(client, CONFIRM, _sale(gone.card, "G1"))
    customers_merge(keep=world.customer, gone=gone)
    # when: the old card is shown at the register after the merge
    data = _post(client, CONFIRM, _sale(gone.card, "G2", spend_points="30"))
    # then: the sale is the kept customer's, and it is refunded to them too
    assert data["customer"]["id"] == world.customer.public_id
    assert D(data["points_spent"]) == D("30")
    assert Receipt.objects.get(receipt_id="G2").customer == world.customer
    _post(client, CANCEL, {"receipt_id": "G2"})
    assert _balances(world.customer) == (D("100.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert_ledger_consistent()


def test_the_merged_customers_phone_is_the_kept_customers_at_the_register(
    world, client, gone, assert_ledger_consistent
):
    # given: keep has no phone, gone has one
    Customer.objects.filter(pk=world.customer.pk).update(phone=None)
    phone = gone.phone
    customers_merge(keep=world.customer, gone=gone)
    # when
    body = purchase_body(world, receipt_id="P1", card=..., phone=phone)
    data = _post(client, CONFIRM, body)
    # then
    assert data["customer"]["id"] == world.customer.public_id
    assert_ledger_consistent()


def test_a_merge_committed_while_the_refund_waited_is_followed(
    world, client, gone, monkeypatch, assert_ledger_consistent
):
    # given: the refund has read where the points are; the merge commits before it locks
    from processing import refund

    _post(client, CONFIRM, _sale(gone.card, "G1"))
    original = refund.merged_accounts
    calls = []

    def merge_in_between(account_ids):
        found = original(account_ids)
        if not calls:
            customers_merge(keep=world.customer, gone=gone)
        calls.append(found)
        return found

    monkeypatch.setattr(refund, "merged_accounts", merge_in_between)
    # when
    data = _post(client, CANCEL, {"receipt_id": "G1"})
    # then: the refund read again and took the points from the kept customer
    assert len(calls) == 2
    assert (D(data["points_reversed"]), D(data["shortfall"])) == (D("100"), D("0"))
    assert _balances(world.customer) == (D("0.00"), D("0.00"))
    assert _balances(gone) == (D("0.00"), D("0.00"))
    assert_ledger_consistent()
