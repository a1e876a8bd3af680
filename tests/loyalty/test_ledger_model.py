"""A hypothesis state machine against one customer's account, checked after every step against
a plain-Python model of the lots (reliability.md T2): purchases with random spends, identical
and conflicting retries, partial refunds, cancels, and days passing with the activation and
expiry job run (twice). The model predicts the balance and the pending points exactly; the
ledger invariants must hold after every step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from loyalty.errors import ReceiptCancelled, ReceiptConflict, RefundExceedsPurchase
from loyalty.models import Account
from loyalty.money import quantize
from loyalty.reconciliation import ledger_violations
from loyalty.services.lots import lots_mature
from processing.refund import purchase_cancel, purchase_refund
from processing.sale import PurchaseLine, PurchaseRequest
from tests.factories.processing import coalition
from tests.processing.answers import confirm_answer

D = Decimal
ZERO = D("0")
DAY = timedelta(days=1)


@dataclass
class LotModel:
    amount: Decimal
    remaining: Decimal
    active_at: object
    expires_at: object
    pending: bool = True


@dataclass
class ReceiptModel:
    quantity: int
    price: Decimal
    request: PurchaseRequest
    result: dict
    earned: Decimal
    spent: Decimal
    lot: LotModel | None
    sources: list = field(default_factory=list)  # [lot, taken, returned]
    refunded: int = 0
    cancelled: bool = False


def share(value, done, whole):
    return value if done >= whole else quantize(value * done / whole)


class Clock:
    def __init__(self):
        self.now = timezone.now()

    def __call__(self):
        return self.now


# The modules of the purchase pipeline that read the clock.
PIPELINE_MODULES = (
    "processing.calculate",
    "processing.confirm",
    "processing.refund",
    "processing.sale",
    "processing.tiers",
    "loyalty.services.lots",
)


class LedgerMachine(RuleBasedStateMachine):
    delay = 1  # days before earned points become active

    def __init__(self):
        super().__init__()
        # Each example runs in a transaction rolled back at its end; like a TestCase's, it lets
        # the services open their durable transactions inside it.
        self.atomic = transaction.atomic()
        self.atomic._from_testcase = True
        self.atomic.__enter__()
        self.clock = Clock()
        self.patch = pytest.MonkeyPatch()
        for module in PIPELINE_MODULES:
            self.patch.setattr(f"{module}.timezone.now", self.clock)
        self.patch.setattr("loyalty.services.ledger.timezone.now", self.clock)
        self.world = coalition(percent="10", activation_delay_days=self.delay, lifetime_days=30)
        self.lots: list[LotModel] = []
        self.receipts: dict[str, ReceiptModel] = {}
        self.count = 0

    def teardown(self):
        self.patch.undo()
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- the model ---------------------------------------------------------------------
    def mature(self):
        now = self.clock.now
        for lot in self.lots:
            if lot.pending and lot.remaining and lot.active_at <= now:
                lot.pending = False
            if not lot.pending and lot.remaining and lot.expires_at <= now:
                lot.remaining = ZERO

    def live(self):
        return [
            lot
            for lot in self.lots
            if not lot.pending and lot.remaining > 0 and lot.expires_at > self.clock.now
        ]

    # --- rules ---------------------------------------------------------------------------
    @rule(
        quantity=st.integers(1, 3),
        price=st.integers(100, 50000).map(lambda k: D(k) / 100),
        spend=st.one_of(st.none(), st.just("max"), st.integers(0, 5000).map(D)),
    )
    def purchase(self, quantity, price, spend):
        self.count += 1
        receipt_id = f"R{self.count}"
        request = PurchaseRequest(
            receipt_id=receipt_id,
            card=self.world.card.number,
            lines=(PurchaseLine(1, "SKU", D(quantity), price),),
            spend_points=spend,
            sold_at=self.clock.now,
        )
        self.mature()
        amount = quantize(D(quantity) * price)
        cap = min((amount / 2).quantize(D("0.01"), rounding=ROUND_DOWN), amount - D("1.00"))
        available = sum((lot.remaining for lot in self.live()), ZERO)
        wanted = ZERO if spend is None else (available if spend == "max" else spend)
        spent = max(min(wanted, available, cap), ZERO)
        result = confirm_answer(self.world.terminal, request)
        assert D(result["points_spent"]) == spent
        sources, left = [], spent
        for lot in sorted(self.live(), key=lambda lot: lot.expires_at):
            take = min(lot.remaining, left)
            if take:
                lot.remaining -= take
                sources.append([lot, take, ZERO])
                left -= take
        earned = quantize((amount - spent) / 10)
        assert D(result["points_earned"]) == earned
        lot = None
        if earned:
            lot = LotModel(
                earned,
                earned,
                self.clock.now + self.delay * DAY,
                self.clock.now + 30 * DAY,
                pending=self.delay > 0,
            )
            self.lots.append(lot)
        self.receipts[receipt_id] = ReceiptModel(
            quantity, price, request, result, earned, spent, lot, sources
        )

    @precondition(lambda self: self.receipts)
    @rule(data=st.data())
    def retry(self, data):
        receipt = self.receipts[data.draw(st.sampled_from(sorted(self.receipts)))]
        assert confirm_answer(self.world.terminal, receipt.request) == receipt.result

    @precondition(lambda self: self.receipts)
    @rule(data=st.data())
    def conflicting_retry(self, data):
        receipt = self.receipts[data.draw(st.sampled_from(sorted(self.receipts)))]
        other = PurchaseRequest(
            receipt_id=receipt.request.receipt_id,
            card=receipt.request.card,
            lines=(PurchaseLine(1, "OTHER", D("1"), D("1.00")),),
        )
        with pytest.raises(ReceiptConflict):
            confirm_answer(self.world.terminal, other)

    def _take_back(self, receipt, units):
        before, after = receipt.refunded, receipt.refunded + units
        earned = share(receipt.earned, after, receipt.quantity) - share(
            receipt.earned, before, receipt.quantity
        )
        returned = share(receipt.spent, after, receipt.quantity) - share(
            receipt.spent, before, receipt.quantity
        )
        if earned:
            take = min(earned, receipt.lot.remaining)
            receipt.lot.remaining -= take
            left = earned - take
            for lot in sorted(self.live(), key=lambda lot: lot.expires_at):
                if lot is receipt.lot or left <= 0:
                    continue
                more = min(lot.remaining, left)
                lot.remaining -= more
                left -= more
        left = returned
        for source in reversed(receipt.sources):
            give = min(source[1] - source[2], left)
            source[0].remaining += give
            source[2] += give
            left -= give
        assert left == 0
        receipt.refunded = after

    @precondition(lambda self: self.receipts)
    @rule(data=st.data(), units=st.integers(1, 3))
    def refund(self, data, units):
        receipt_id = data.draw(st.sampled_from(sorted(self.receipts)))
        receipt = self.receipts[receipt_id]
        self.count += 1
        lines = [(1, D(units))]
        if receipt.cancelled:
            with pytest.raises(ReceiptCancelled):
                purchase_refund(self.world.terminal, receipt_id, f"F{self.count}", lines)
            return
        if receipt.refunded + units > receipt.quantity:
            with pytest.raises(RefundExceedsPurchase):
                purchase_refund(self.world.terminal, receipt_id, f"F{self.count}", lines)
            return
        first = purchase_refund(self.world.terminal, receipt_id, f"F{self.count}", lines)
        assert purchase_refund(self.world.terminal, receipt_id, f"F{self.count}", lines) == first
        self._take_back(receipt, units)

    @precondition(lambda self: self.receipts)
    @rule(data=st.data())
    def cancel(self, data):
        receipt_id = data.draw(st.sampled_from(sorted(self.receipts)))
        receipt = self.receipts[receipt_id]
        answer = purchase_cancel(self.world.terminal, receipt_id)
        assert purchase_cancel(self.world.terminal, receipt_id) == answer
        if not receipt.cancelled:
            self._take_back(receipt, receipt.quantity - receipt.refunded)
            receipt.cancelled = True

    @rule(days=st.sampled_from([0, 1, 2, 10, 31]))
    def days_pass(self, days):
        self.clock.now += days * DAY
        lots_mature(now=self.clock.now)
        lots_mature(now=self.clock.now)  # twice is once
        self.mature()

    # --- after every step ----------------------------------------------------------------
    @invariant()
    def balances_match_the_model(self):
        account = Account.objects.filter(
            customer=self.world.customer, currency=self.world.currency
        ).first()
        balance = account.balance if account else ZERO
        pending = account.pending if account else ZERO
        active_lots = sum((lot.remaining for lot in self.lots if not lot.pending), ZERO)
        pending_lots = sum((lot.remaining for lot in self.lots if lot.pending), ZERO)
        assert (balance, pending) == (active_lots, pending_lots)
        assert balance >= 0

    @invariant()
    def ledger_is_sound(self):
        assert ledger_violations() == []


class ImmediateLedgerMachine(LedgerMachine):
    delay = 0  # points spendable at once: refunds meet points already spent more often


@pytest.mark.parametrize("machine", [LedgerMachine, ImmediateLedgerMachine])
@pytest.mark.django_db
def test_the_ledger_follows_its_model(machine):
    machine.TestCase.settings = settings(
        max_examples=60,
        stateful_step_count=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    machine.TestCase().runTest()
