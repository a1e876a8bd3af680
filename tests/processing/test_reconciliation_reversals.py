"""Refunds and cancels of receipts without per-line reward links (loaded from history, as
reports/demo.py makes them) reverse the receipt's own postings, proportionally and
cumulatively; and the ledger check verifies every refunded or cancelled receipt's reversal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from loyalty.models import (
    Account,
    LedgerEntry,
    Lot,
    Posting,
    Receipt,
    ReceiptLine,
    ReceiptLineReward,
    Refund,
)
from loyalty.reconciliation import ledger_violations
from loyalty.services.ledger import Actor, Leg, PostingSpec, partner_account, postings_create
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.history import earned_without_lines, history_receipt, points_given
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def world():
    return coalition(percent="5")


def _balance(world) -> Decimal:
    return Account.objects.get(customer=world.customer, currency=world.currency).balance


def _spend_elsewhere(world, amount) -> None:
    """The customer spends ``amount`` of points at the partner (first-expiring first)."""
    account = Account.objects.get(customer=world.customer, currency=world.currency)
    legs, left = [], D(amount)
    for lot in Lot.objects.filter(account=account, remaining__gt=0).order_by(
        "expires_at", "entry_id"
    ):
        take = min(lot.remaining, left)
        legs.append(Leg(account=account, amount=-take, lot=lot))
        left -= take
        if not left:
            break
    legs.append(Leg(account=partner_account(world.partner, world.currency), amount=D(amount)))
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.ADJUST,
                cause=Posting.Cause.ADJUSTMENT,
                actor=Actor.system("test"),
                legs=legs,
            )
        ]
    )


# --- Refunds of receipts loaded from history ------------------------------------------------


def test_a_cancel_of_a_history_receipt_takes_back_what_it_earned_and_gives_back_what_it_spent(
    world, assert_ledger_consistent
):
    # given 1000 points, then a history receipt of 500.00 that spent 200 and earned 15.00
    points_given(world, "1000")
    receipt = history_receipt(world, "H1", spend="200")
    assert not ReceiptLineReward.objects.filter(line__receipt=receipt).exists()
    assert receipt.result == {}
    assert _balance(world) == D("815.00")
    # when the register cancels it
    answer = purchase_cancel(world.terminal, "H1")
    # then the customer is where they were before the purchase
    assert answer["status"] == "cancelled"
    assert (answer["points_reversed"], answer["points_returned"]) == ("15.00", "200.00")
    assert (answer["shortfall"], answer["debt"]) == ("0.00", "0.00")
    assert _balance(world) == D("1000.00")
    assert answer["balance"] == {"after": "1000.00", "pending": "0.00"}
    assert [line["points_earned"] for line in answer["lines"]] == ["6.00", "9.00"]
    # and a retry moves nothing
    assert purchase_cancel(world.terminal, "H1") == answer
    assert _balance(world) == D("1000.00")
    assert_ledger_consistent()


def test_partial_refunds_of_a_history_receipt_are_proportional_and_never_exceed_it(
    world, assert_ledger_consistent
):
    # lines 2 x 100.00 and 1 x 300.00, 100 points spent (40 + 60), 20.00 earned (8 + 12)
    points_given(world, "100")
    history_receipt(world, "H1", spend="100")
    assert _balance(world) == D("20.00")
    first = purchase_refund(world.terminal, "H1", "F1", [(1, D("1"))])
    assert (first["points_reversed"], first["points_returned"]) == ("4.00", "20.00")
    assert first["status"] == "partially_refunded"
    second = purchase_refund(world.terminal, "H1", "F2", [(1, D("1"))])
    assert (second["points_reversed"], second["points_returned"]) == ("4.00", "20.00")
    assert _balance(world) == D("52.00")  # 20 - 8 + 40
    assert_ledger_consistent()
    last = purchase_refund(world.terminal, "H1", "F3", None)
    assert (last["points_reversed"], last["points_returned"]) == ("12.00", "60.00")
    assert last["status"] == "refunded"
    # altogether exactly what the purchase moved
    assert _balance(world) == D("100.00")
    assert_ledger_consistent()


def test_refunds_of_a_history_receipt_split_odd_amounts_exactly(world, assert_ledger_consistent):
    # three units of one line: 33.33 points spent, 5 % of 266.67 = 13.33 earned
    points_given(world, "50")
    history_receipt(world, "H1", lines=(("A", "3", "100.00"),), spend="33.33")
    parts = [purchase_refund(world.terminal, "H1", f"F{i}", [(1, D("1"))]) for i in range(3)]
    assert [p["points_reversed"] for p in parts] == ["4.44", "4.45", "4.44"]
    assert [p["points_returned"] for p in parts] == ["11.11", "11.11", "11.11"]
    assert _balance(world) == D("50.00")
    assert_ledger_consistent()


@pytest.mark.parametrize("policy", ["cap", "debt"])
def test_history_points_already_spent_follow_the_shortfall_policy(policy, assert_ledger_consistent):
    world = coalition(percent="5", refund_shortfall_policy=policy)
    history_receipt(world, "H1", lines=(("A", "1", "1000.00"),))  # earns 50.00
    _spend_elsewhere(world, "30")
    answer = purchase_cancel(world.terminal, "H1")
    assert answer["points_reversed"] == "50.00"
    if policy == "cap":
        assert (answer["shortfall"], answer["debt"]) == ("30.00", "0.00")
        assert _balance(world) == D("0.00")
    else:
        assert (answer["shortfall"], answer["debt"]) == ("0.00", "30.00")
        assert _balance(world) == D("-30.00")
    assert_ledger_consistent()


def test_a_history_receipt_of_a_merged_customer_is_reversed_where_the_points_went(
    world, assert_ledger_consistent
):
    from loyalty.services.card_operations import customers_merge
    from tests.factories.crm import CustomerFactory

    points_given(world, "100")
    history_receipt(world, "H1", spend="100")  # earns 20.00
    kept = CustomerFactory()
    customers_merge(keep=kept, gone=world.customer)
    purchase_cancel(world.terminal, "H1")
    kept_account = Account.objects.get(customer=kept, currency=world.currency)
    assert kept_account.balance == D("100.00")
    assert _balance(world) == D("0.00")
    assert_ledger_consistent()


def test_linked_receipts_are_reversed_as_before(world, assert_ledger_consistent):
    lines = tuple(
        PurchaseLine(line_no=n, sku=s, quantity=D(q), price=D(p))
        for n, (s, q, p) in enumerate((("A", "2", "100.00"), ("B", "1", "300.00")), start=1)
    )
    points_given(world, "100")
    confirm_answer(
        world.terminal,
        PurchaseRequest(receipt_id="R1", card=world.card.number, lines=lines, spend_points="50"),
    )
    before = _balance(world)
    refund = purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    cancel = purchase_cancel(world.terminal, "R1")
    moved = D(refund["points_returned"]) + D(cancel["points_returned"])
    taken = D(refund["points_reversed"]) + D(cancel["points_reversed"])
    assert (moved, taken) == (D("50.00"), D("22.50"))
    assert _balance(world) == before + moved - taken == D("100.00")
    assert_ledger_consistent()


# --- The ledger check verifies every reversal ---------------------------------------------


def _refund_row(receipt, kind=Refund.Kind.CANCEL, refund_id="", **amounts) -> Refund:
    return Refund.objects.create(
        receipt=receipt,
        terminal=receipt.terminal,
        kind=kind,
        refund_id=refund_id,
        fingerprint="x",
        **amounts,
    )


def test_a_cancelled_receipt_whose_points_never_moved_is_reported(world):
    # given a history receipt voided the way the registers' pipeline used to: status only
    points_given(world, "1000")
    receipt = history_receipt(world, "H1", spend="200")
    _refund_row(receipt)
    ReceiptLine.objects.filter(receipt=receipt).update(refunded_quantity=D("0"))
    Receipt.objects.filter(pk=receipt.pk).update(status=Receipt.Status.CANCELLED)
    # then the ledger check names it, both sides
    problems = [p for p in ledger_violations() if "receipt" in p]
    assert any(f"receipt {receipt.pk}" in p and "earned" in p for p in problems), problems
    assert any(f"receipt {receipt.pk}" in p and "spent" in p for p in problems), problems
    with pytest.raises(CommandError):
        call_command("check_ledger")


def test_a_partial_refund_that_moved_nothing_is_reported(world):
    receipt = history_receipt(world, "H1")
    _refund_row(receipt, Refund.Kind.REFUND, "F1")
    ReceiptLine.objects.filter(receipt=receipt, line_no=1).update(refunded_quantity=D("1"))
    Receipt.objects.filter(pk=receipt.pk).update(status=Receipt.Status.PARTIALLY_REFUNDED)
    problems = ledger_violations()
    assert any(f"receipt {receipt.pk}" in p and "earned" in p for p in problems), problems


def test_a_reversal_that_took_back_too_much_is_reported(world, assert_ledger_consistent):
    lines = (PurchaseLine(line_no=1, sku="A", quantity=D("2"), price=D("100.00")),)
    confirm_answer(world.terminal, PurchaseRequest("R1", card=world.card.number, lines=lines))
    purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    assert_ledger_consistent()  # 5.00 of 10.00 taken back: sound
    receipt = Receipt.objects.get(receipt_id="R1")
    lot = Lot.objects.get(receipt=receipt)
    account = lot.account
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.REFUND,
                cause=Posting.Cause.REFUND,
                cause_ref="F1",
                actor=Actor.system("test"),
                legs=[
                    Leg(account=account, amount=D("-1.00"), lot=lot),
                    Leg(account=partner_account(world.partner, world.currency), amount=D("1.00")),
                ],
                receipt=receipt,
            )
        ]
    )
    problems = ledger_violations()
    assert any(f"receipt {receipt.pk}" in p and "earned" in p for p in problems), problems


def test_a_shortfall_the_refund_does_not_record_is_reported(assert_ledger_consistent):
    world = coalition(percent="5")
    receipt = history_receipt(world, "H1", lines=(("A", "1", "1000.00"),))
    _spend_elsewhere(world, "30")
    purchase_cancel(world.terminal, "H1")
    assert_ledger_consistent()
    Refund.objects.filter(receipt=receipt).update(shortfall=D("0"))
    problems = ledger_violations()
    assert any(f"receipt {receipt.pk}" in p and "shortfall" in p for p in problems), problems


def test_the_check_is_limited_to_the_accounts_asked_for(world):
    receipt = history_receipt(world, "H1")
    _refund_row(receipt)
    Receipt.objects.filter(pk=receipt.pk).update(status=Receipt.Status.CANCELLED)
    mine = list(
        LedgerEntry.objects.filter(posting__receipt=receipt).values_list("account_id", flat=True)
    )
    assert any(f"receipt {receipt.pk}" in p for p in ledger_violations(mine))
    from loyalty.services.ledger import customer_account
    from tests.factories.crm import CustomerFactory

    theirs = [customer_account(CustomerFactory(), world.currency).pk]
    assert not any(f"receipt {receipt.pk}" in p for p in ledger_violations(theirs))


# --- Where the postings cannot be spread over the lines: refused, and reported --------------


def test_a_receipt_whose_points_cannot_be_spread_over_lines_is_refused(
    world, assert_ledger_consistent
):
    from loyalty.errors import ReceiptNotReversible

    receipt = earned_without_lines(world)
    with pytest.raises(ReceiptNotReversible):
        purchase_cancel(world.terminal, "H0")
    assert not Refund.objects.exists()
    assert Receipt.objects.get(pk=receipt.pk).status == Receipt.Status.CONFIRMED
    assert _balance(world) == D("10.00")
    assert_ledger_consistent()
    # and one marked cancelled by other means is reported
    _refund_row(receipt)
    Receipt.objects.filter(pk=receipt.pk).update(status=Receipt.Status.CANCELLED)
    problems = ledger_violations()
    assert any(f"receipt {receipt.pk}" in p and "cannot be spread" in p for p in problems)
