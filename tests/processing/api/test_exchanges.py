"""Exchanges at the register through HTTP: the body's ``exchanges``, the answer's outcomes,
the chips a cancel gives back, the card summary's chips, and every malformed ``exchanges`` a
clear 400 that writes nothing. The numbers are tests/promotions/test_chips.py's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.models import ReceiptExchange
from promotions.models import Promotion
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import CurrencyFactory
from tests.factories.promotions import promotion
from tests.processing.answers import confirm_answer
from tests.processing.api.conftest import API, assert_problem, purchase_body
from tests.processing.api.test_schema import _validate
from tests.processing.api.test_schema import openapi as openapi  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
D = Decimal
CALCULATE = API + "purchases/calculate"
CONFIRM = API + "purchases/confirm"
CANCEL = API + "purchases/cancel"
OFFLINE = API + "purchases/offline"


@pytest.fixture
def chips(world):
    """10 chips for the customer (a purchase), and MUG-50: -50 % for 10 chips."""
    chips = CurrencyFactory(
        programme=world.programme, code="chips", decimal_places=0, rub_rate=D("0"), is_default=False
    )
    gift = promotion(
        world, "10 chips", rewards=[{"kind": "points_fixed", "value": 10, "currency": chips}]
    )
    from processing.sale import PurchaseLine, PurchaseRequest

    confirm_answer(
        world.terminal,
        PurchaseRequest(
            "SEED", card=world.card.number, lines=(PurchaseLine(1, "X", D("1"), D("1.00")),)
        ),
    )
    Promotion.objects.filter(pk=gift.pk).update(status=Promotion.Status.FINISHED)
    promotion(
        world,
        "Half price for 10 chips",
        code="MUG-50",
        exchange_cost=D("10"),
        exchange_currency=chips,
        rewards=[{"kind": "discount_percent", "value": 50}],
    )
    snapshot_invalidate()
    return chips


def _post(client, url, body):
    return client.post(url, body, format="json")


def test_an_exchange_is_shown_by_calculate_and_paid_by_confirm(world, chips, client, openapi):
    body = purchase_body(world, exchanges=["MUG-50", "NOPE"])
    calculated = _post(client, CALCULATE, body)
    assert calculated.status_code == 200, calculated.content
    _validate(openapi, "/api/v1/purchases/calculate", "post", calculated)
    confirmed = _post(client, CONFIRM, body)
    assert confirmed.status_code == 200, confirmed.content
    _validate(openapi, "/api/v1/purchases/confirm", "post", confirmed)
    data = confirmed.json()
    assert data["exchanges"] == calculated.json()["exchanges"]
    assert data["exchanges"][0]["status"] == "applied"
    assert data["exchanges"][0]["cost"] == "10"
    assert data["exchanges"][1] == {
        "code": "NOPE",
        "status": "rejected",
        "reason": "unknown_exchange",
    }
    assert data["discount"] == "8084.90"  # half of 16169.80
    # the same body again is a replay; another list of exchanges is another body
    assert _post(client, CONFIRM, body).json() == data
    other = purchase_body(world, exchanges=["MUG-50"], datetime=body["datetime"])
    assert_problem(_post(client, CONFIRM, other), 409, "receipt_conflict")
    summary = client.get(API + "cards/" + world.card.number).json()
    balances = {b["currency"]: b for b in summary["balances"]}
    assert balances["chips"] == {
        "currency": "chips",
        "active": "0",
        "pending": "0",
        "held": "0",
        "expiring": [],
    }


def test_a_cancel_answers_the_chips_it_gave_back(world, chips, client, openapi):
    body = purchase_body(world, exchanges=["MUG-50"])
    assert _post(client, CONFIRM, body).status_code == 200
    cancelled = _post(client, CANCEL, {"receipt_id": body["receipt_id"]})
    assert cancelled.status_code == 200, cancelled.content
    _validate(openapi, "/api/v1/purchases/cancel", "post", cancelled)
    assert cancelled.json()["exchanges_returned"] == [
        {"code": "MUG-50", "currency": "chips", "points": "10"}
    ]
    record = client.get(API + "purchases/" + body["receipt_id"])
    _validate(openapi, "/api/v1/purchases/{receipt_id}", "get", record)
    summary = client.get(API + "cards/" + world.card.number).json()
    assert {b["currency"]: b["active"] for b in summary["balances"]}["chips"] == "10"


def test_an_offline_receipt_may_carry_exchanges(world, chips, client):
    body = purchase_body(world, receipt_id="OFF-1", exchanges=["MUG-50"])
    answer = _post(client, OFFLINE, {"receipts": [body]})
    assert answer.status_code == 200, answer.content
    (item,) = answer.json()["results"]
    assert item["result"]["exchanges"][0]["status"] == "applied"
    assert ReceiptExchange.objects.count() == 1


def test_an_empty_list_of_exchanges_is_a_receipt_without_any(world, chips, client):
    answer = _post(client, CONFIRM, purchase_body(world, exchanges=[])).json()
    assert "exchanges" not in answer
    assert answer["discount"] == "0.00"


@pytest.fixture
def nothing_written(world, chips, client, row_counts):
    before = row_counts()
    yield
    assert row_counts() == before


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("url", [CALCULATE, CONFIRM])
@pytest.mark.parametrize(
    ("exchanges", "path"),
    [
        ("MUG-50", "exchanges"),  # not a list
        ({"MUG-50": 1}, "exchanges"),
        (None, "exchanges"),
        ([5.5], "exchanges.0"),  # not a string
        ([None], "exchanges.0"),
        ([{"code": "MUG-50"}], "exchanges.0"),
        ([""], "exchanges.0"),  # empty, or blank once stripped
        (["   "], "exchanges.0"),
        (["X" * 65], "exchanges.0"),  # too long
        (["MUG-50", "MUG-50"], "exchanges.1"),  # named twice
        ([f"C{n}" for n in range(21)], "exchanges"),  # too many
    ],
)
def test_a_malformed_exchanges_field_is_a_400(world, client, url, exchanges, path):
    data = assert_problem(
        _post(client, url, purchase_body(world, exchanges=exchanges)), 400, "invalid_request"
    )
    assert path in data["errors"], data["errors"]


@pytest.mark.usefixtures("nothing_written")
def test_a_malformed_offline_item_is_answered_on_its_own(world, client):
    body = purchase_body(world, receipt_id="OFF-1", exchanges=["MUG-50", "MUG-50"])
    (item,) = _post(client, OFFLINE, {"receipts": [body]}).json()["results"]
    assert item["status"] == "error"
    assert item["error"]["code"] == "invalid_request"
    assert "exchanges.1" in item["error"]["errors"]
