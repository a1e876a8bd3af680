"""Races on PostgreSQL, with real threads released together by a barrier (reliability.md T3,
T4, T6): duplicates credit once, concurrent spends never overdraw, refunds stay within the
purchase, and the ledger invariants hold at the end."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from loyalty.errors import LoyaltyError, RefundExceedsPurchase, RequestInProgress
from loyalty.models import Account, Posting, Receipt, ReceiptLine, Refund
from loyalty.services.lots import lots_mature
from processing.refund import purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.loyalty import TerminalFactory
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


def request(world, receipt_id, price="100.00", quantity="1", spend=None):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=world.card.number,
        lines=(PurchaseLine(1, "SKU", D(quantity), D(price)),),
        spend_points=spend,
    )


def together(count, work):
    """Run ``work(i)`` in ``count`` threads released at once; return answers and errors."""
    barrier = threading.Barrier(count)
    answers, errors = [None] * count, [None] * count

    def run(i):
        try:
            barrier.wait()
            answers[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - every outcome is checked by the caller
            errors[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers, errors


def balance(world):
    return Account.objects.get(customer=world.customer, currency=world.currency).balance


@pytest.mark.parametrize("round_", range(3))
def test_fifty_concurrent_confirms_of_one_receipt_credit_once(round_, assert_ledger_consistent):
    world = coalition(percent="5")
    answers, errors = together(50, lambda i: confirm_answer(world.terminal, request(world, "R")))
    unexpected = [e for e in errors if e is not None and not isinstance(e, RequestInProgress)]
    assert not unexpected, unexpected
    results = [a for a in answers if a is not None]
    assert results
    assert all(result == results[0] for result in results)
    assert Receipt.objects.count() == 1
    assert Posting.objects.filter(kind=Posting.Kind.EARN).count() == 1
    assert balance(world) == D("5.00")
    assert_ledger_consistent()


@pytest.mark.parametrize("round_", range(3))
def test_fifty_concurrent_spends_of_the_whole_balance_leave_exactly_zero(
    round_, assert_ledger_consistent
):
    world = coalition(percent="10", max_spend_percent=D("100"), min_money_payment=D("0.00"))
    confirm_answer(world.terminal, request(world, "SEED", price="1000.00"))
    world.promotion.status = world.promotion.Status.PAUSED  # the spends earn nothing
    world.promotion.save()
    assert balance(world) == D("100.00")
    answers, errors = together(
        50,
        lambda i: confirm_answer(
            world.terminal, request(world, f"S{i}", price="100.00", spend="100.00")
        ),
    )
    assert not [e for e in errors if e is not None], errors
    granted = sorted(D(answer["points_spent"]) for answer in answers)
    assert granted[-1] == D("100.00")
    assert granted[:-1] == [D("0.00")] * 49
    assert balance(world) == D("0.00")
    assert_ledger_consistent()


def test_twenty_copies_of_one_refund_apply_once(assert_ledger_consistent):
    world = coalition(percent="10")
    confirm_answer(world.terminal, request(world, "R", quantity="10", price="10.00"))
    answers, errors = together(
        20, lambda i: purchase_refund(world.terminal, "R", "F", [(1, D("3"))])
    )
    assert not [e for e in errors if e is not None and not isinstance(e, RequestInProgress)]
    assert Refund.objects.count() == 1
    assert ReceiptLine.objects.get().refunded_quantity == D("3")
    assert balance(world) == D("7.00")
    assert_ledger_consistent()


def test_twenty_refunds_over_claiming_a_line_never_return_more_than_bought(
    assert_ledger_consistent,
):
    world = coalition(percent="10")
    confirm_answer(world.terminal, request(world, "R", quantity="10", price="10.00"))
    answers, errors = together(
        20, lambda i: purchase_refund(world.terminal, "R", f"F{i}", [(1, D("1"))])
    )
    refused = [e for e in errors if e is not None]
    assert all(isinstance(e, RefundExceedsPurchase | RequestInProgress) for e in refused), refused
    assert ReceiptLine.objects.get().refunded_quantity == D("10")
    assert Refund.objects.count() == 10
    assert balance(world) == D("0.00")
    assert_ledger_consistent()


def test_refunds_racing_purchases_and_the_expiry_job_keep_the_invariants(
    assert_ledger_consistent,
):
    world = coalition(percent="10", max_spend_percent=D("100"), lifetime_days=30)
    others = [TerminalFactory(store=world.store) for _ in range(3)]
    for i in range(10):
        confirm_answer(world.terminal, request(world, f"P{i}", price="200.00"))

    def work(i):
        if i < 10:
            return purchase_refund(world.terminal, f"P{i}", f"F{i}", None)
        if i < 19:
            terminal = others[i % 3]
            return confirm_answer(terminal, request(world, f"N{i}", price="50.00", spend="max"))
        return lots_mature()

    answers, errors = together(20, work)
    assert not [e for e in errors if e is not None and not isinstance(e, LoyaltyError)], errors
    assert balance(world) >= 0
    assert_ledger_consistent()


def test_a_partner_account_another_transaction_is_creating_is_never_used_before_it_commits(
    assert_ledger_consistent,
):
    """The first purchases at a new partner: one transaction creates the partner's settlement
    account; a purchase racing it must wait for the account rather than use one it cannot see
    (a foreign-key violation)."""
    from django.db import transaction

    from loyalty.models import Partner
    from loyalty.services.ledger import partner_account, system_accounts_forget

    world = coalition(percent="5")
    assert not Account.objects.filter(kind=Account.Kind.PARTNER).exists()
    system_accounts_forget()
    created, go = threading.Event(), threading.Event()
    errors = []

    def create_and_hold():
        try:
            with transaction.atomic():
                partner_account(Partner.objects.get(pk=world.partner.pk), world.currency.pk)
                created.set()
                go.wait(5)
                time.sleep(0.5)
        except Exception as exc:  # noqa: BLE001 - checked below
            errors.append(exc)
        finally:
            connection.close()

    def buy():
        try:
            created.wait(5)
            go.set()
            return confirm_answer(world.terminal, request(world, "R1"))
        finally:
            connection.close()

    holder = threading.Thread(target=create_and_hold)
    holder.start()
    answer = buy()
    holder.join(10)
    assert not errors
    assert answer["points_earned"] == "5.00"
    assert Account.objects.filter(kind=Account.Kind.PARTNER).count() == 1
    assert_ledger_consistent()
