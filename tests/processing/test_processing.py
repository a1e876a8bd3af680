"""Processing services: calculate, confirm, refund, cancel, holds, offline, activation, expiry.

Every scenario ends with the ledger invariants of architecture.md.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty.errors import (
    CardBlocked,
    CardInactive,
    CardNotFound,
    NothingToRefund,
    ReceiptConflict,
    ReceiptNotFound,
    ReceiptNotYetKnown,
    RefundConflict,
    RefundExceedsPurchase,
    SaleTimeOutOfWindow,
    UnknownLine,
)
from loyalty.models import Account, Card, CounterValue, Hold, LedgerEntry, Receipt, TierMembership
from loyalty.services.lots import holds_expire, lots_mature
from processing.refund import purchase_cancel, purchase_get, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.loyalty import (
    CardFactory,
    CounterFactory,
    StoreFactory,
    TerminalFactory,
    TierFactory,
)
from tests.factories.processing import coalition
from tests.processing.answers import calculate_answer, confirm_answer, offline_answers

pytestmark = pytest.mark.django_db
D = Decimal


def purchase(world, receipt_id="R1", lines=(("A", "2", "89.90"), ("B", "1", "1000.00")), **kw):
    return PurchaseRequest(
        receipt_id=receipt_id,
        card=kw.pop("card", world.card.number),
        lines=tuple(
            PurchaseLine(line_no=n, sku=sku, quantity=D(q), price=D(p))
            for n, (sku, q, p) in enumerate(lines, start=1)
        ),
        **kw,
    )


def balance(world) -> Account:
    return Account.objects.get(customer=world.customer, currency=world.currency)


@pytest.fixture
def world():
    return coalition(percent="5")


def test_calculate_and_confirm_give_the_same_numbers(world, assert_ledger_consistent):
    calc = calculate_answer(world.terminal, purchase(world))
    conf = confirm_answer(world.terminal, purchase(world))
    assert calc["status"] == "calculated"
    assert conf["status"] == "confirmed"
    for key in ("total", "discount", "points_spent", "to_pay", "points_earned", "lines"):
        assert calc[key] == conf[key]
    assert conf["total"] == "1179.80"
    assert conf["points_earned"] == "58.99"
    assert sum(D(line["points_earned"]) for line in conf["lines"]) == D("58.99")
    assert balance(world).balance == D("58.99")
    assert conf["balance"] == {"before": "0.00", "after": "58.99", "pending": "0.00"}
    assert_ledger_consistent()


def test_a_retry_replays_and_a_different_body_conflicts(world, assert_ledger_consistent):
    first = confirm_answer(world.terminal, purchase(world))
    again = confirm_answer(world.terminal, purchase(world))
    assert again == first
    assert Receipt.objects.count() == 1
    assert LedgerEntry.objects.count() == 2
    with pytest.raises(ReceiptConflict):
        confirm_answer(world.terminal, purchase(world, lines=(("A", "1", "1.00"),)))
    assert_ledger_consistent()


def test_the_same_receipt_id_at_another_terminal_is_another_receipt(world):
    other = TerminalFactory(store=world.store)
    confirm_answer(world.terminal, purchase(world))
    confirm_answer(other, purchase(world))
    assert Receipt.objects.count() == 2


def test_spend_respects_the_redemption_rules(world, assert_ledger_consistent):
    confirm_answer(world.terminal, purchase(world, "R1", lines=(("A", "1", "10000.00"),)))
    assert balance(world).balance == D("500.00")
    # 50% of 100.00 at most, and at least 1.00 paid in money
    result = confirm_answer(
        world.terminal, purchase(world, "R2", lines=(("A", "1", "100.00"),), spend_points="max")
    )
    assert result["points_spent"] == "50.00"
    assert result["to_pay"] == "50.00"
    assert result["points_earned"] == "2.50"  # earned on what was paid in money
    world.programme.max_spend_percent = D("100")
    world.programme.save()
    result = confirm_answer(
        world.terminal, purchase(world, "R3", lines=(("A", "1", "100.00"),), spend_points="max")
    )
    assert result["points_spent"] == "99.00"
    assert result["to_pay"] == "1.00"
    # asking for more than the balance grants what there is
    result = confirm_answer(
        world.terminal,
        purchase(world, "R4", lines=(("A", "1", "10000.00"),), spend_points="100000"),
    )
    assert D(result["points_spent"]) == D("500.00") - D("50.00") + D("2.50") - D("99.00") + D(
        "0.05"
    )
    assert balance(world).balance == D(result["points_earned"])
    assert_ledger_consistent()


def test_lines_add_up_to_the_totals(world):
    confirm_answer(world.terminal, purchase(world, "R1", lines=(("A", "1", "10000.00"),)))
    lines = tuple((f"S{i}", "1", f"{i}.33") for i in range(1, 16))
    result = confirm_answer(
        world.terminal, purchase(world, "R2", lines=lines, spend_points="37.77")
    )
    for key in ("amount", "discount", "points_spent", "to_pay", "points_earned"):
        total_key = "total" if key == "amount" else key
        assert sum(D(line[key]) for line in result["lines"]) == D(result[total_key])
    for line in result["lines"]:
        assert D(line["to_pay"]) == D(line["amount"]) - D(line["discount"]) - D(
            line["points_spent"]
        )


def test_spending_takes_the_first_expiring_lots_first(assert_ledger_consistent):
    world = coalition(percent="10", lifetime_days=300)
    confirm_answer(world.terminal, purchase(world, "R1", lines=(("A", "1", "1000.00"),)))
    world.reward.lifetime_days = 30
    world.reward.save()
    confirm_answer(world.terminal, purchase(world, "R2", lines=(("A", "1", "1000.00"),)))
    confirm_answer(
        world.terminal, purchase(world, "R3", lines=(("A", "1", "300.00"),), spend_points="120")
    )
    lots = {
        lot.expires_at.date() - timezone.now().date(): lot.remaining
        for lot in balance(world).lots.all()
        if lot.kind == "earn" and lot.amount == D("100.00")
    }
    assert lots[timedelta(days=30)] == D("0.00")
    assert lots[timedelta(days=300)] == D("80.00")
    assert_ledger_consistent()


def test_unknown_blocked_and_unissued_cards(world):
    with pytest.raises(CardNotFound):
        calculate_answer(world.terminal, purchase(world, card="0000000000000"))
    blocked = CardFactory(status=Card.Status.BLOCKED, blocked_at=timezone.now())
    with pytest.raises(CardBlocked):
        confirm_answer(world.terminal, purchase(world, card=blocked.number))
    new = CardFactory(status=Card.Status.NEW)
    with pytest.raises(CardInactive):
        confirm_answer(world.terminal, purchase(world, card=new.number))
    assert Receipt.objects.count() == 0


def test_an_anonymous_receipt_moves_no_points(world, assert_ledger_consistent):
    result = confirm_answer(world.terminal, purchase(world, card=None))
    assert result["points_earned"] == "0.00"
    assert result["customer"] is None
    assert LedgerEntry.objects.count() == 0
    assert confirm_answer(world.terminal, purchase(world, card=None)) == result


def test_partial_refunds_never_take_back_more_than_the_purchase(world, assert_ledger_consistent):
    confirm_answer(world.terminal, purchase(world, "R0", lines=(("X", "1", "1000.00"),)))
    result = confirm_answer(
        world.terminal,
        purchase(world, "R1", lines=(("A", "3", "33.33"), ("B", "1", "10.00")), spend_points="20"),
    )
    earned, spent = D(result["points_earned"]), D(result["points_spent"])
    refunds = [purchase_refund(world.terminal, "R1", f"F{i}", [(1, D("1"))]) for i in range(3)]
    assert sum(D(r["points_reversed"]) for r in refunds) == D(result["lines"][0]["points_earned"])
    assert sum(D(r["to_pay"]) for r in refunds) == D(result["lines"][0]["to_pay"])
    with pytest.raises(RefundExceedsPurchase):
        purchase_refund(world.terminal, "R1", "F9", [(1, D("1"))])
    last = purchase_refund(world.terminal, "R1", "F4", None)
    total_reversed = sum(D(r["points_reversed"]) for r in [*refunds, last])
    total_returned = sum(D(r["points_returned"]) for r in [*refunds, last])
    assert total_reversed == earned
    assert total_returned == spent
    assert last["status"] == "refunded"
    with pytest.raises(NothingToRefund):
        purchase_refund(world.terminal, "R1", "F5", None)
    assert balance(world).balance == D("50.00")  # only R0's points remain
    assert_ledger_consistent()


def test_refund_retries_replay_and_other_bodies_conflict(world, assert_ledger_consistent):
    confirm_answer(world.terminal, purchase(world))
    first = purchase_refund(world.terminal, "R1", "F1", [(2, D("1"))])
    assert purchase_refund(world.terminal, "R1", "F1", [(2, D("1"))]) == first
    with pytest.raises(RefundConflict):
        purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    with pytest.raises(UnknownLine):
        purchase_refund(world.terminal, "R1", "F2", [(7, D("1"))])
    with pytest.raises(ReceiptNotYetKnown):
        purchase_refund(world.terminal, "NOPE", "F3", None)
    assert_ledger_consistent()


def test_cancel_reverses_everything_once(world, assert_ledger_consistent):
    confirm_answer(world.terminal, purchase(world, "R0", lines=(("X", "1", "1000.00"),)))
    confirm_answer(world.terminal, purchase(world, "R1", spend_points="max"))
    purchase_refund(world.terminal, "R1", "F1", [(1, D("1"))])
    cancelled = purchase_cancel(world.terminal, "R1")
    assert purchase_cancel(world.terminal, "R1") == cancelled
    assert cancelled["status"] == "cancelled"
    assert balance(world).balance == D("50.00")
    assert purchase_get(world.terminal, "R1")["status"] == "cancelled"
    assert len(purchase_get(world.terminal, "R1")["refunds"]) == 2
    with pytest.raises(ReceiptNotYetKnown):
        purchase_cancel(world.terminal, "NOPE")
    assert_ledger_consistent()


def test_another_partners_receipt_is_not_found(world):
    confirm_answer(world.terminal, purchase(world))
    stranger = TerminalFactory(store=StoreFactory())
    with pytest.raises(ReceiptNotFound):
        purchase_get(stranger, "R1")
    with pytest.raises(ReceiptNotFound):
        purchase_refund(stranger, "R1", "F1", None)


@pytest.mark.parametrize("policy", ["cap", "debt"])
def test_a_refund_of_points_already_spent_follows_the_policy(policy, assert_ledger_consistent):
    world = coalition(percent="10", refund_shortfall_policy=policy, max_spend_percent=D("100"))
    confirm_answer(world.terminal, purchase(world, "R1", lines=(("A", "1", "1000.00"),)))
    confirm_answer(
        world.terminal, purchase(world, "R2", lines=(("B", "1", "101.00"),), spend_points="max")
    )
    assert balance(world).balance == D("0.10")  # 100 spent; 1.00 paid in money earns 0.10
    refund = purchase_refund(world.terminal, "R1", "F1", None)
    account = balance(world)
    if policy == "cap":
        assert D(refund["shortfall"]) == D("99.90")
        assert account.balance == D("0.00")
    else:
        assert D(refund["debt"]) == D("99.90")
        assert account.balance == D("-99.90")
        # the next earnings repay the debt first
        confirm_answer(world.terminal, purchase(world, "R3", lines=(("A", "1", "2000.00"),)))
        assert balance(world).balance == D("100.10")
    assert_ledger_consistent()


def test_delayed_points_activate_and_lots_expire_once(assert_ledger_consistent):
    world = coalition(percent="10", activation_delay_days=14, lifetime_days=90)
    result = confirm_answer(world.terminal, purchase(world, lines=(("A", "1", "100.00"),)))
    assert result["balance"]["pending"] == "10.00"
    assert balance(world).pending == D("10.00")
    assert lots_mature()["activated"] == 0
    later = timezone.now() + timedelta(days=15)
    assert lots_mature(now=later)["activated"] == 1
    assert lots_mature(now=later)["activated"] == 0
    account = balance(world)
    assert (account.balance, account.pending) == (D("10.00"), D("0.00"))
    much_later = timezone.now() + timedelta(days=91)
    assert lots_mature(now=much_later)["expired"] == 1
    assert lots_mature(now=much_later)["expired"] == 0
    assert balance(world).balance == D("0.00")
    assert_ledger_consistent()


def test_a_hold_reserves_points_until_confirm(world, assert_ledger_consistent):
    world.programme.max_spend_percent = D("100")
    world.programme.save()
    confirm_answer(world.terminal, purchase(world, "R0", lines=(("X", "1", "1000.00"),)))
    held = calculate_answer(
        world.terminal,
        purchase(world, "R1", lines=(("A", "1", "100.00"),), spend_points="50"),
        hold=True,
    )
    assert held["points_spent"] == "50.00"
    assert balance(world).held == D("50.00")
    other = TerminalFactory(store=world.store)
    elsewhere = confirm_answer(
        other, purchase(world, "Z1", lines=(("A", "1", "1000.00"),), spend_points="max")
    )
    assert elsewhere["points_spent"] == "0.00"  # the 50 left are all held
    confirmed = confirm_answer(
        world.terminal, purchase(world, "R1", lines=(("A", "1", "100.00"),), spend_points="50")
    )
    assert confirmed["points_spent"] == "50.00"
    assert balance(world).held == D("0.00")
    assert Hold.objects.get().status == Hold.Status.CONSUMED
    assert_ledger_consistent()


def test_holds_expire_and_cancel_releases_them(world):
    confirm_answer(world.terminal, purchase(world, "R0", lines=(("X", "1", "1000.00"),)))
    calculate_answer(world.terminal, purchase(world, "R1", spend_points="10"), hold=True)
    calculate_answer(world.terminal, purchase(world, "R2", spend_points="10"), hold=True)
    assert balance(world).held == D("20.00")
    assert purchase_cancel(world.terminal, "R1")["hold_released"] is True
    assert holds_expire(now=timezone.now() + timedelta(minutes=11)) == 1
    assert balance(world).held == D("0.00")


def test_offline_receipts_earn_by_the_time_of_sale_and_are_never_refused(assert_ledger_consistent):
    world = coalition(percent="10", lifetime_days=30, offline_spend_cap=D("500"))
    sold = timezone.now() - timedelta(days=3)
    results = offline_answers(
        world.terminal,
        [
            purchase(world, "OFF1", lines=(("A", "1", "100.00"),), sold_at=sold),
            purchase(world, "OFF2", lines=(("A", "1", "100.00"),), sold_at=sold, spend_points="40"),
            purchase(world, "OFF3", sold_at=timezone.now() - timedelta(days=40)),
        ],
    )
    assert [r["status"] for r in results] == ["ok", "ok", "error"]
    assert results[2]["error"]["code"] == SaleTimeOutOfWindow.code
    second = Receipt.objects.get(receipt_id="OFF2")
    assert second.is_offline
    assert second.is_flagged
    assert second.offline_shortfall == D("30.00")  # 10 existed, 40 were spent
    lot = balance(world).lots.filter(kind="earn").order_by("entry_id").first()
    assert lot.expires_at == sold + timedelta(days=30)
    # uploading again changes nothing and answers the same
    again = offline_answers(
        world.terminal,
        [
            purchase(world, "OFF1", lines=(("A", "1", "100.00"),), sold_at=sold),
            purchase(world, "OFF2", lines=(("A", "1", "100.00"),), sold_at=sold, spend_points="40"),
        ],
    )
    assert [r["result"] for r in again] == [r["result"] for r in results[:2]]
    # refunding the overspent receipt gives the covered points back to the programme
    purchase_cancel(world.terminal, "OFF2")
    assert_ledger_consistent()


def test_counters_and_tier_progress_are_undone_by_refunds(world, assert_ledger_consistent):
    purchases = CounterFactory(programme=world.programme, unit="purchases")
    money = CounterFactory(programme=world.programme, unit="amount", code="money")
    TierFactory(programme=world.programme, rank=1, threshold=D("0"), code="base", name="Base")
    TierFactory(
        programme=world.programme, rank=2, threshold=D("1000"), code="silver", name="Silver"
    )
    from promotions.rules.snapshot import snapshot_invalidate

    snapshot_invalidate()
    result = confirm_answer(world.terminal, purchase(world))
    assert result["customer"]["tier"] == "Silver"
    assert CounterValue.objects.get(counter=purchases).value == 1
    assert CounterValue.objects.get(counter=money).value == D("1179.80")
    purchase_refund(world.terminal, "R1", "F1", [(2, D("1"))])
    assert CounterValue.objects.get(counter=purchases).value == 1
    assert CounterValue.objects.get(counter=money).value == D("179.80")
    membership = TierMembership.objects.get(customer=world.customer)
    assert membership.tier.code == "base"
    assert membership.qualifying_amount == D("179.80")
    purchase_cancel(world.terminal, "R1")
    assert CounterValue.objects.get(counter=purchases).value == 0
    assert CounterValue.objects.get(counter=money).value == 0
    assert_ledger_consistent()
