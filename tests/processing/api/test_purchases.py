"""Purchases through HTTP: calculate, confirm and its replays, refund, cancel, read, offline, hold.

The numbers are the services' (tests/processing/test_processing.py covers them); these tests check
the contract the registers see: statuses, codes, and that retries are safe.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.models import Account, Hold, LedgerEntry, Receipt
from loyalty.services.terminals import terminal_key_issue
from tests.factories.loyalty import PartnerFactory, StoreFactory, TerminalFactory
from tests.processing.api.conftest import API, assert_problem, purchase_body

pytestmark = pytest.mark.django_db

CALCULATE = API + "purchases/calculate"
CONFIRM = API + "purchases/confirm"
REFUND = API + "purchases/refund"
CANCEL = API + "purchases/cancel"
OFFLINE = API + "purchases/offline"


def _post(client, url, body):
    return client.post(url, body, format="json")


def _balance(world) -> Decimal:
    return Account.objects.get(customer=world.customer, currency=world.currency).balance


def test_calculate_previews_and_writes_nothing(world, client, row_counts):
    before = row_counts()
    response = _post(client, CALCULATE, purchase_body(world))
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "calculated"
    assert data["total"] == "16169.80"
    assert [line["amount"] for line in data["lines"]] == ["179.80", "15990.00"]
    assert data["customer"]["id"] == world.customer.public_id
    assert row_counts() == before


def test_confirm_commits_once_and_a_replay_answers_the_same(
    world, client, assert_ledger_consistent
):
    body = purchase_body(world)
    # when the register confirms, then retries the same body twice
    first = _post(client, CONFIRM, body)
    second = _post(client, CONFIRM, body)
    third = _post(client, CONFIRM, body)
    # then every answer is 200 and the same, and the purchase was committed once
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json() == second.json() == third.json()
    assert first.json()["status"] == "confirmed"
    assert Receipt.objects.filter(receipt_id=body["receipt_id"]).count() == 1
    assert LedgerEntry.objects.filter(account__customer=world.customer).count() == 1
    assert_ledger_consistent()


def test_confirm_matches_calculate(world, client):
    calc = _post(client, CALCULATE, purchase_body(world)).json()
    conf = _post(client, CONFIRM, purchase_body(world)).json()
    for key in ("total", "discount", "points_spent", "to_pay", "points_earned", "lines"):
        assert calc[key] == conf[key]


def test_a_replay_in_another_phone_notation_or_decimal_spelling_is_the_same(world, client):
    body = purchase_body(world, card=None, phone=world.customer.phone)
    assert _post(client, CONFIRM, body).status_code == 200
    same = purchase_body(
        world,
        card=None,
        phone="8" + world.customer.phone[2:],
        datetime=body["datetime"],  # not a second later: that would be another body
        lines=[
            {"line": 1, "sku": "4601234567890", "quantity": "2.000", "price": "89.9"},
            {"line": 2, "sku": "MATTRESS-A", "quantity": 1, "price": 15990},
        ],
    )
    assert _post(client, CONFIRM, same).status_code == 200


def test_the_same_receipt_id_with_another_body_is_409(world, client, row_counts):
    assert _post(client, CONFIRM, purchase_body(world)).status_code == 200
    before = row_counts()
    other = purchase_body(world, lines=[{"line": 1, "sku": "X", "quantity": "1", "price": "1"}])
    data = assert_problem(_post(client, CONFIRM, other), 409, "receipt_conflict")
    assert data["receipt_id"] == "0042-000173"
    assert row_counts() == before


def test_an_unknown_card_is_404_and_a_blocked_one_409(world, client):
    from django.utils import timezone

    from loyalty.models import Card

    assert_problem(
        _post(client, CONFIRM, purchase_body(world, card="0000000000000")), 404, "card_not_found"
    )
    Card.objects.filter(pk=world.card.pk).update(
        status=Card.Status.BLOCKED, blocked_at=timezone.now()
    )
    assert_problem(_post(client, CALCULATE, purchase_body(world)), 409, "card_blocked")


def test_an_unknown_phone_is_404(world, client):
    body = purchase_body(world, card=None, phone="+79990000000")
    assert_problem(_post(client, CALCULATE, body), 404, "customer_not_found")


def test_a_sale_in_the_future_is_422(world, client):
    from django.utils import timezone

    future = (timezone.now() + timezone.timedelta(hours=2)).isoformat()
    assert_problem(
        _post(client, CONFIRM, purchase_body(world, datetime=future)),
        422,
        "datetime_out_of_window",
    )


def test_get_reads_the_purchase_with_its_refunds(world, client):
    confirmed = _post(client, CONFIRM, purchase_body(world)).json()
    # before any refund
    response = client.get(API + "purchases/0042-000173")
    assert response.status_code == 200
    data = response.json()
    assert data["refunds"] == []
    assert {k: v for k, v in data.items() if k != "refunds"} == confirmed
    # after a partial refund
    _post(
        client,
        REFUND,
        {"receipt_id": "0042-000173", "refund_id": "R-1", "lines": [{"line": 1, "quantity": "1"}]},
    )
    data = client.get(API + "purchases/0042-000173").json()
    assert data["status"] == "partially_refunded"
    assert [refund["refund_id"] for refund in data["refunds"]] == ["R-1"]


def test_get_of_an_unknown_receipt_is_404(world, client):
    assert_problem(client.get(API + "purchases/NOPE"), 404, "receipt_not_found")
    assert_problem(client.get(API + "purchases/" + "x" * 65), 404, "receipt_not_found")
    assert_problem(client.get(API + "purchases/%00"), 404, "receipt_not_found")


def test_a_receipt_id_with_a_slash_can_be_read(world, client):
    assert _post(client, CONFIRM, purchase_body(world, receipt_id="42/173")).status_code == 200
    assert client.get(API + "purchases/42/173").json()["receipt_id"] == "42/173"
    assert client.get(API + "purchases/42%2F173").json()["receipt_id"] == "42/173"


def test_another_partners_receipt_is_404(world, client):
    # given a purchase confirmed by the world's terminal
    _post(client, CONFIRM, purchase_body(world))
    # when a terminal of another partner asks for it
    other = TerminalFactory(store=StoreFactory(partner=PartnerFactory()))
    _key, raw = terminal_key_issue(terminal=other)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    # then it does not exist for them
    assert_problem(client.get(API + "purchases/0042-000173"), 404, "receipt_not_found")
    assert_problem(
        _post(client, REFUND, {"receipt_id": "0042-000173", "refund_id": "R-1"}),
        404,
        "receipt_not_found",
    )


def test_refund_once_per_refund_id(world, client, assert_ledger_consistent):
    _post(client, CONFIRM, purchase_body(world))
    earned = _balance(world)
    body = {
        "receipt_id": "0042-000173",
        "refund_id": "R-1",
        "lines": [{"line": 2, "quantity": "1"}],
    }
    first = _post(client, REFUND, body)
    again = _post(client, REFUND, body)
    assert first.status_code == again.status_code == 200, first.content
    assert first.json() == again.json()
    data = first.json()
    assert data["kind"] == "refund"
    assert data["status"] == "partially_refunded"
    assert [line["line"] for line in data["lines"]] == [2]
    assert _balance(world) < earned
    # the same refund id with other lines is a conflict
    body["lines"] = [{"line": 1, "quantity": "1"}]
    assert_problem(_post(client, REFUND, body), 409, "refund_conflict")
    assert_ledger_consistent()


def test_refund_errors_are_the_services(world, client):
    _post(client, CONFIRM, purchase_body(world))
    unknown = {
        "receipt_id": "0042-000173",
        "refund_id": "R-1",
        "lines": [{"line": 9, "quantity": "1"}],
    }
    assert_problem(_post(client, REFUND, unknown), 422, "unknown_line")
    too_many = {
        "receipt_id": "0042-000173",
        "refund_id": "R-2",
        "lines": [{"line": 1, "quantity": "3"}],
    }
    assert_problem(_post(client, REFUND, too_many), 422, "refund_exceeds_purchase")
    not_yet = {"receipt_id": "NOT-YET", "refund_id": "R-3"}
    response = _post(client, REFUND, not_yet)
    assert_problem(response, 409, "receipt_not_yet_known")
    assert int(response["Retry-After"]) > 0


def test_a_refund_without_lines_returns_everything_left(world, client, assert_ledger_consistent):
    _post(client, CONFIRM, purchase_body(world))
    data = _post(client, REFUND, {"receipt_id": "0042-000173", "refund_id": "R-ALL"}).json()
    assert data["status"] == "refunded"
    assert _balance(world) == 0
    assert_problem(
        _post(client, REFUND, {"receipt_id": "0042-000173", "refund_id": "R-MORE"}),
        409,
        "nothing_to_refund",
    )
    assert_ledger_consistent()


def test_cancel_voids_the_purchase_and_is_safe_to_repeat(world, client, assert_ledger_consistent):
    _post(client, CONFIRM, purchase_body(world))
    first = _post(client, CANCEL, {"receipt_id": "0042-000173"})
    again = _post(client, CANCEL, {"receipt_id": "0042-000173"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["status"] == "cancelled"
    assert _balance(world) == 0
    assert client.get(API + "purchases/0042-000173").json()["status"] == "cancelled"
    assert_problem(
        _post(client, REFUND, {"receipt_id": "0042-000173", "refund_id": "R-1"}),
        409,
        "receipt_cancelled",
    )
    assert_ledger_consistent()


def test_cancel_of_an_unknown_receipt_is_409_not_yet_known(world, client):
    assert_problem(_post(client, CANCEL, {"receipt_id": "NOPE"}), 409, "receipt_not_yet_known")


def test_hold_reserves_points_until_confirm(world, client, assert_ledger_consistent):
    # given a customer with points
    _post(client, CONFIRM, purchase_body(world, receipt_id="EARN"))
    balance = _balance(world)
    assert balance > 0
    # when a register calculates with a hold
    body = purchase_body(world, receipt_id="SPEND", spend_points="max")
    response = _post(client, CALCULATE, {**body, "hold": True})
    assert response.status_code == 200, response.content
    held = Decimal(response.json()["hold"]["points"])
    assert held > 0
    # then the card summary shows them held
    summary = client.get(API + "cards/" + world.card.number).json()
    assert Decimal(summary["balances"][0]["held"]) == held
    # and confirm consumes the hold
    assert _post(client, CONFIRM, body).status_code == 200
    assert not Hold.objects.filter(status=Hold.Status.ACTIVE).exists()
    assert_ledger_consistent()


def test_cancel_releases_a_hold_that_was_never_confirmed(world, client):
    _post(client, CONFIRM, purchase_body(world, receipt_id="EARN"))
    body = purchase_body(world, receipt_id="SPEND", spend_points="max", hold=True)
    _post(client, CALCULATE, body)
    data = _post(client, CANCEL, {"receipt_id": "SPEND"}).json()
    assert data == {"receipt_id": "SPEND", "status": "cancelled", "hold_released": True}
    assert not Hold.objects.filter(status=Hold.Status.ACTIVE).exists()


def test_offline_upload_is_safe_to_repeat(world, client, assert_ledger_consistent):
    receipts = [
        purchase_body(world, receipt_id=f"OFF-{n}", datetime=purchase_body(world)["datetime"])
        for n in range(3)
    ]
    first = _post(client, OFFLINE, {"receipts": receipts})
    again = _post(client, OFFLINE, {"receipts": receipts})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert [item["status"] for item in first.json()["results"]] == ["ok", "ok", "ok"]
    assert Receipt.objects.filter(is_offline=True).count() == 3
    assert_ledger_consistent()


def test_an_offline_item_that_fails_does_not_stop_the_others(world, client):
    receipts = [
        purchase_body(world, receipt_id="OFF-1", card="0000000000000"),
        purchase_body(world, receipt_id="OFF-2"),
    ]
    results = _post(client, OFFLINE, {"receipts": receipts}).json()["results"]
    assert results[0]["status"] == "error"
    assert results[0]["error"]["code"] == "card_not_found"
    assert results[1]["status"] == "ok"
