"""Defects an outside review found driving the running server (a generated client, schemathesis,
curl): refunds and cancels of receipts loaded from history, the record GET answers for them,
another partner's receipt on refund and cancel, and the places of every amount answered."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.models import Account, Currency, Receipt, Refund
from loyalty.services.terminals import terminal_key_issue
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.history import earned_without_lines, history_receipt, points_given
from tests.factories.loyalty import PartnerFactory, StoreFactory, TerminalFactory
from tests.processing.api.conftest import API, assert_problem, purchase_body
from tests.processing.api.test_exchanges import chips as chips  # noqa: F401 - the fixture
from tests.processing.api.test_schema import _validate
from tests.processing.api.test_schema import openapi as openapi  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
D = Decimal
CONFIRM = API + "purchases/confirm"
REFUND = API + "purchases/refund"
CANCEL = API + "purchases/cancel"
OFFLINE = API + "purchases/offline"

# The decimal strings of the refund and cancel answers, by the places they are given in.
MONEY = {"amount", "to_pay", "discount", "points_spent", "money_back", "balance_after"}
POINTS = {"points_returned", "points_reversed", "shortfall", "debt", "points_earned", "after"}
POINTS |= {"pending", "before", "points", "cost"}


def _post(client, url, body):
    return client.post(url, body, format="json")


def _balance(world) -> Decimal:
    return Account.objects.get(customer=world.customer, currency=world.currency).balance


def _places(text: str) -> int:
    assert re.fullmatch(r"-?\d+(\.\d+)?", text), text
    return len(text.partition(".")[2])


def _amounts(node, path=""):
    """(path, key, value) of every decimal string in an answer."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key in MONEY | POINTS:
                if key == "amount" and node.get("effect") == "points":
                    key = "points"  # a promotion's points
                yield f"{path}{key}", key, value
            else:
                yield from _amounts(value, f"{path}{key}.")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _amounts(item, f"{path}{index}.")


def assert_places(answer: dict, points: int) -> None:
    """Every amount of the answer has its places: money 2, points the currency's."""
    found = list(_amounts(answer))
    assert found
    wrong = [
        (path, value)
        for path, key, value in found
        if _places(value) != (2 if key in MONEY else points)
    ]
    assert not wrong, wrong


def _zero_places(world) -> None:
    Currency.objects.filter(pk=world.currency.pk).update(decimal_places=0)
    snapshot_invalidate()


# --- 7. Every amount in its currency's places --------------------------------------------------


def test_refund_and_cancel_answer_points_in_the_currencys_places(world, client, openapi):
    # given points earned, then a purchase that spends some and earns more
    _post(client, CONFIRM, purchase_body(world, receipt_id="EARN"))
    body = purchase_body(world, spend_points="300.00")
    assert _post(client, CONFIRM, body).status_code == 200
    # when a line is returned, then the rest is cancelled
    refund = _post(
        client,
        REFUND,
        {
            "receipt_id": body["receipt_id"],
            "refund_id": "R-1",
            "lines": [{"line": 1, "quantity": "1"}],
        },
    )
    assert refund.status_code == 200, refund.content
    _validate(openapi, "/api/v1/purchases/refund", "post", refund)
    cancel = _post(client, CANCEL, {"receipt_id": body["receipt_id"]})
    _validate(openapi, "/api/v1/purchases/cancel", "post", cancel)
    # then every amount has two places, zeros too
    for data in (refund.json(), cancel.json()):
        assert_places(data, 2)
        assert (data["shortfall"], data["debt"]) == ("0.00", "0.00")
    returned = [D(data["points_returned"]) for data in (refund.json(), cancel.json())]
    assert sum(returned) == D("300.00")
    assert returned[0] > 0
    # and GET lists the refunds as they were answered
    record = client.get(API + "purchases/" + body["receipt_id"]).json()
    assert record["refunds"] == [refund.json(), cancel.json()]


def test_a_currency_without_decimals_is_answered_in_whole_points(world, client, openapi):
    _zero_places(world)
    _post(client, CONFIRM, purchase_body(world, receipt_id="EARN"))
    body = purchase_body(world, spend_points="300")
    confirmed = _post(client, CONFIRM, body).json()
    assert_places(confirmed, 0)
    refund = _post(
        client,
        REFUND,
        {
            "receipt_id": body["receipt_id"],
            "refund_id": "R-1",
            "lines": [{"line": 2, "quantity": "1"}],
        },
    ).json()
    cancel = _post(client, CANCEL, {"receipt_id": body["receipt_id"]}).json()
    for data in (refund, cancel):
        assert_places(data, 0)
        assert data["debt"] == "0"
    # the offline answer is the confirm's, in the same places
    offline = _post(
        client, OFFLINE, {"receipts": [purchase_body(world, receipt_id="OFF-1")]}
    ).json()
    assert offline["results"][0]["status"] == "ok"
    assert_places(offline["results"][0]["result"], 0)


def test_a_stored_answer_is_replayed_as_it_was_given(world, client):
    # given a refund and a cancel answered before the places were fixed
    body = purchase_body(world)
    _post(client, CONFIRM, body)
    request = {
        "receipt_id": body["receipt_id"],
        "refund_id": "R-1",
        "lines": [{"line": 1, "quantity": "1"}],
    }
    _post(client, REFUND, request)
    _post(client, CANCEL, {"receipt_id": body["receipt_id"]})
    for refund in Refund.objects.all():
        old = {**refund.result, "points_reversed": "4.5000", "shortfall": "0"}
        Refund.objects.filter(pk=refund.pk).update(result=old)
    # then their retries answer what was answered then, byte for byte
    again = _post(client, REFUND, request)
    assert again.json()["points_reversed"] == "4.5000"
    assert again.json()["shortfall"] == "0"
    assert _post(client, CANCEL, {"receipt_id": body["receipt_id"]}).json()["shortfall"] == "0"
    record = client.get(API + "purchases/" + body["receipt_id"]).json()
    assert [r["shortfall"] for r in record["refunds"]] == ["0", "0"]


# --- 1. Receipts loaded from history: their postings are reversed ------------------------------


def test_a_cancel_of_a_history_receipt_moves_its_points_back(
    world, client, assert_ledger_consistent
):
    # given 1000 points and a history receipt that spent 200 of them and earned 15.00
    points_given(world, "1000")
    history_receipt(world, "H1", spend="200")
    assert _balance(world) == D("815.00")
    # when the register cancels it
    response = _post(client, CANCEL, {"receipt_id": "H1"})
    # then the points move back and the answer says so
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["points_reversed"], data["points_returned"]) == ("15.00", "200.00")
    assert _balance(world) == D("1000.00")
    assert_ledger_consistent()


def test_a_refund_of_a_history_receipt_is_proportional(world, client, assert_ledger_consistent):
    points_given(world, "100")
    history_receipt(world, "H1", spend="100")  # lines 2 x 100.00 and 300.00; 20.00 earned
    body = {"receipt_id": "H1", "refund_id": "R-1", "lines": [{"line": 2, "quantity": "1"}]}
    data = _post(client, REFUND, body).json()
    assert (data["points_reversed"], data["points_returned"]) == ("12.00", "60.00")
    assert _balance(world) == D("68.00")
    assert_ledger_consistent()


def test_a_receipt_that_cannot_be_reversed_is_refused_with_a_code(world, client, row_counts):
    earned_without_lines(world)
    before = row_counts()
    response = _post(client, CANCEL, {"receipt_id": "H0"})
    data = assert_problem(response, 409, "receipt_not_reversible")
    assert data["receipt_id"] == "H0"
    assert row_counts() == before


# --- 4. Another partner's receipt is not found, on refund and cancel as on GET ----------------


def _stranger(client, partner=None):
    """Switch the client to a register of another partner (or of ``partner``)."""
    other = TerminalFactory(store=StoreFactory(partner=partner or PartnerFactory()))
    _key, raw = terminal_key_issue(terminal=other)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return other


def test_another_partners_receipt_is_not_found_on_refund_and_cancel(
    world, client, row_counts, openapi
):
    # given a purchase of the world's partner
    body = purchase_body(world)
    assert _post(client, CONFIRM, body).status_code == 200
    # when a register of another partner returns or voids it
    _stranger(client)
    before = row_counts()
    refund = _post(client, REFUND, {"receipt_id": body["receipt_id"], "refund_id": "R-1"})
    cancel = _post(client, CANCEL, {"receipt_id": body["receipt_id"]})
    # then it does not exist for them, as GET says: 404, nothing to retry
    _validate(openapi, "/api/v1/purchases/refund", "post", refund)
    _validate(openapi, "/api/v1/purchases/cancel", "post", cancel)
    for response in (refund, cancel, client.get(API + "purchases/" + body["receipt_id"])):
        data = assert_problem(response, 404, "receipt_not_found")
        assert "Retry-After" not in response
        assert data["receipt_id"] == body["receipt_id"]
    assert row_counts() == before
    assert Receipt.objects.get().status == "confirmed"


def test_an_id_no_register_has_confirmed_may_still_arrive(world, client):
    # an offline upload may be pending: retry later
    for response in (
        _post(client, REFUND, {"receipt_id": "NOT-YET", "refund_id": "R-1"}),
        _post(client, CANCEL, {"receipt_id": "NOT-YET"}),
    ):
        assert_problem(response, 409, "receipt_not_yet_known")
        assert int(response["Retry-After"]) > 0


def test_an_id_two_registers_of_the_partner_confirmed_is_not_found_at_a_third(world, client):
    # given the same receipt id confirmed at two registers of the partner
    assert _post(client, CONFIRM, purchase_body(world, receipt_id="0001")).status_code == 200
    _stranger(client, world.partner)
    assert _post(client, CONFIRM, purchase_body(world, receipt_id="0001")).status_code == 200
    # when a third register of the partner returns "0001", it cannot tell which: 404
    _stranger(client, world.partner)
    refund = _post(client, REFUND, {"receipt_id": "0001", "refund_id": "R-1"})
    assert_problem(refund, 404, "receipt_not_found")
    assert_problem(_post(client, CANCEL, {"receipt_id": "0001"}), 404, "receipt_not_found")
    assert set(Receipt.objects.values_list("status", flat=True)) == {"confirmed"}


def test_a_cancel_still_releases_this_registers_hold_of_an_id_another_partner_used(world, client):
    # another partner confirmed "0001"; this register only calculated its own "0001" with a hold
    _post(client, CONFIRM, purchase_body(world, receipt_id="EARN"))
    other = _stranger(client)
    _post(client, CONFIRM, purchase_body(world, receipt_id="0001"))
    _key, raw = terminal_key_issue(terminal=world.terminal)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    held = _post(
        client,
        API + "purchases/calculate",
        {**purchase_body(world, receipt_id="0001", spend_points="max"), "hold": True},
    )
    assert D(held.json()["hold"]["points"]) > 0
    answer = _post(client, CANCEL, {"receipt_id": "0001"}).json()
    assert answer == {"receipt_id": "0001", "status": "cancelled", "hold_released": True}
    assert Receipt.objects.get(terminal=other, receipt_id="0001").status == "confirmed"


# --- 2. GET of a receipt without a stored answer: the documented record from its rows ---------


def test_get_of_a_history_receipt_answers_the_documented_record(world, client, openapi):
    from loyalty.models import TierMembership
    from tests.factories.loyalty import TierFactory

    silver = TierFactory(programme=world.programme, name="Silver")
    TierMembership.objects.create(customer=world.customer, programme=world.programme, tier=silver)
    points_given(world, "1000")
    history_receipt(world, "H1", spend="200")
    response = client.get(API + "purchases/H1")
    assert response.status_code == 200, response.content
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", response)
    assert response.json() == {
        "receipt_id": "H1",
        "status": "confirmed",
        "customer": {"id": world.customer.public_id, "tier": "Silver"},
        "total": "500.00",
        "discount": "0.00",
        "points_spent": "200.00",
        "to_pay": "300.00",
        "points_earned": "15.00",
        "balance": {"before": "1000.00", "after": "815.00", "pending": "0.00"},
        "lines": [
            {
                "line": 1,
                "amount": "200.00",
                "discount": "0.00",
                "points_spent": "80.00",
                "to_pay": "120.00",
                "points_earned": "6.00",
            },
            {
                "line": 2,
                "amount": "300.00",
                "discount": "0.00",
                "points_spent": "120.00",
                "to_pay": "180.00",
                "points_earned": "9.00",
            },
        ],
        "promotions": [],
        "coupons": [],
        "messages": [],
        "refunds": [],
    }
    # after a refund, with it and the new status
    body = {"receipt_id": "H1", "refund_id": "R-1", "lines": [{"line": 1, "quantity": "1"}]}
    refund = _post(client, REFUND, body).json()
    again = client.get(API + "purchases/H1")
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", again)
    assert again.json()["status"] == "partially_refunded"
    assert again.json()["refunds"] == [refund]
    assert again.json()["balance"] == response.json()["balance"]  # as at the sale


def test_get_of_a_history_receipt_that_moved_no_points(world, client, openapi):
    # the balance at its time of sale; a later purchase does not count
    points_given(world, "100")
    history_receipt(world, "H1", percent="0")
    later = timezone.now() - timedelta(days=1)
    history_receipt(world, "H2", lines=(("A", "1", "100.00"),), sold_at=later)
    response = client.get(API + "purchases/H1")
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", response)
    assert response.json()["balance"] == {"before": "100.00", "after": "100.00", "pending": "0.00"}
    assert response.json()["points_earned"] == "0.00"


def test_get_of_a_history_receipt_in_a_currency_without_decimals(world, client, openapi):
    _zero_places(world)
    history_receipt(world, "H1", lines=(("A", "1", "500.00"),))  # earns 25
    response = client.get(API + "purchases/H1")
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", response)
    data = response.json()
    assert (data["points_earned"], data["lines"][0]["points_earned"]) == ("25", "25")
    assert data["balance"] == {"before": "0", "after": "25", "pending": "0"}
    assert_places(data, 0)


def test_get_of_an_anonymous_history_receipt(world, client, openapi):
    receipt = history_receipt(world, "H1", percent="0")
    Receipt.objects.filter(pk=receipt.pk).update(customer=None, card=None, currency=None)
    response = client.get(API + "purchases/H1")
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", response)
    assert response.json()["customer"] is None
    assert response.json()["balance"] == {"before": "0.00", "after": "0.00", "pending": "0.00"}


def test_a_record_built_from_the_rows_is_what_confirm_answered(world, client, openapi):
    # a purchase confirmed here, whose stored answer is lost: its rows say the same
    _post(client, CONFIRM, purchase_body(world, receipt_id="EARN"))
    body = purchase_body(world, spend_points="300.00")
    confirmed = _post(client, CONFIRM, body).json()
    Receipt.objects.filter(receipt_id=body["receipt_id"]).update(result={})
    response = client.get(API + "purchases/" + body["receipt_id"])
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", response)
    assert response.json() == {**confirmed, "refunds": []}


def test_certificates_and_exchanges_given_back_are_in_their_places(world, chips, client):
    from tests.processing.api.test_certificates import _sold

    certificate = _sold(world)
    lines = [{"line": 1, "sku": "MUG", "quantity": "3", "price": "100.00"}]
    body = purchase_body(
        world, lines=lines, exchanges=["MUG-50"], certificates=[{"code": certificate.code}]
    )
    assert _post(client, CONFIRM, body).status_code == 200
    refunds = [
        _post(
            client,
            REFUND,
            {
                "receipt_id": body["receipt_id"],
                "refund_id": f"R-{n}",
                "lines": [lines[0] | {"quantity": "1"}],
            },
        ).json()
        for n in range(3)
    ]
    given_back = [
        [entry["points"] for entry in data.pop("exchanges_returned", [])] for data in refunds
    ]
    assert given_back == [[], [], ["10"]]  # chips: no decimals, once the mug is all returned
    for data in refunds:
        assert_places(data, 2)
    assert [c["amount"] for r in refunds for c in r["certificates_returned"]] == ["50.00"] * 3
