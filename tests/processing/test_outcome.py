"""``calculate`` and ``confirm`` return a result object (``PurchaseOutcome``); the API renders
it (``processing.api.answers.purchase_answer``), the receipt stores that rendering and a retry
is answered the stored rendering itself."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from loyalty.models import Receipt
from loyalty.services.terminals import terminal_key_issue
from processing.api.answers import purchase_answer
from processing.calculate import purchase_calculate
from processing.confirm import purchase_confirm
from processing.offline import purchases_offline
from processing.outcome import HoldOutcome, PurchaseOutcome
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.processing import coalition
from tests.processing.api.conftest import API, purchase_body

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    return coalition(percent="5")


def _sale(world, receipt_id="R1", price="1000.00", **kw) -> PurchaseRequest:
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number,
        lines=(PurchaseLine(line_no=1, sku="A", quantity=D("1"), price=D(price)),),
        **kw,
    )


def test_confirm_returns_typed_figures_and_stores_their_rendering(world):
    outcome = purchase_confirm(world.terminal, _sale(world))
    assert isinstance(outcome, PurchaseOutcome)
    assert not outcome.replayed
    assert outcome.status == "confirmed"
    assert outcome.result is not None
    assert outcome.result.points_earned == D("50.00")  # Decimals, not text
    assert (outcome.balance_before, outcome.balance_after) == (D("0"), D("50.00"))
    assert outcome.customer_id == world.customer.public_id
    stored = Receipt.objects.get(receipt_id="R1").result
    assert purchase_answer(outcome) == stored
    assert stored["points_earned"] == "50.00"
    assert stored["balance"] == {"before": "0.00", "after": "50.00", "pending": "0.00"}


def test_a_retry_is_answered_the_stored_rendering_byte_for_byte(world):
    purchase_confirm(world.terminal, _sale(world))
    # What an older version stored (here: an extra key) is what the retry answers, unchanged.
    receipt = Receipt.objects.get(receipt_id="R1")
    stored = {**receipt.result, "from_an_older_version": True}
    Receipt.objects.filter(pk=receipt.pk).update(result=stored)
    retry = purchase_confirm(world.terminal, _sale(world))
    assert retry.replayed
    assert retry.result is None
    assert (retry.receipt_id, retry.status) == ("R1", "confirmed")
    assert purchase_answer(retry) == stored


def test_calculate_returns_an_outcome_with_the_hold_it_reserved(world):
    purchase_confirm(world.terminal, _sale(world, "R0", "2000.00"))  # 100.00 points to spend
    outcome = purchase_calculate(
        world.terminal, _sale(world, "R1", spend_points=D("30")), hold=True
    )
    assert outcome.status == "calculated"
    assert isinstance(outcome.hold, HoldOutcome)
    assert outcome.hold.points == D("30")
    assert outcome.hold.expires_at is not None
    answer = purchase_answer(outcome)
    assert answer["hold"]["points"] == "30.00"
    assert answer["hold"]["expires_at"] == outcome.hold.expires_at.isoformat()
    plain = purchase_calculate(world.terminal, _sale(world, "R2"))
    assert plain.hold is None
    assert "hold" not in purchase_answer(plain)


def test_an_offline_upload_returns_outcomes_and_errors_item_by_item(world):
    good = _sale(world, "OFF-1")
    unknown = PurchaseRequest(
        receipt_id="OFF-2",
        card="9999999999999",
        lines=(PurchaseLine(line_no=1, sku="A", quantity=D("1"), price=D("10.00")),),
    )
    items = purchases_offline(world.terminal, [good, unknown])
    assert items[0].outcome is not None
    assert items[0].outcome.result.points_earned == D("50.00")
    assert items[1].outcome is None
    assert items[1].error is not None
    assert items[1].error.code == "card_not_found"


def test_the_api_answers_exactly_what_the_receipt_stored(world):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {terminal_key_issue(terminal=world.terminal)[1]}")
    body = purchase_body(world)
    first = api.post(f"{API}purchases/confirm", body, format="json")
    assert first.status_code == 200, first.content
    stored = Receipt.objects.get(receipt_id="0042-000173").result
    assert first.json() == stored
    again = api.post(f"{API}purchases/confirm", body, format="json")
    assert again.json() == stored
