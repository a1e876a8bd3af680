"""``calculate``: what a receipt would get, without writing it; with ``hold``, the points,
coupons and certificates it would use are reserved for this receipt id until it is confirmed
or the hold expires. The simulator previews through the same path (``purchase_preview``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from loyalty.locks import accounts_for_update
from loyalty.models import (
    Account,
    Hold,
    Terminal,
)
from loyalty.money import ZERO
from loyalty.services.certificates import (
    certificates_hold,
    certificates_release,
)
from loyalty.services.lots import hold_release
from loyalty.transactions import money_transaction, retrying
from processing.outcome import (
    HoldOutcome,
    PurchaseOutcome,
    coupon_series_fired,
    earned_split,
    exchanged_main,
    purchase_outcome,
)
from processing.sale import (
    ALL_FACTS,
    PurchaseRequest,
    Sale,
    context_build,
    exchange_funds,
    load,
    main_account,
    sale_open,
    spendable,
    terminal_loaded,
)
from promotions.coupons import (
    coupons_hold,
    coupons_release,
    hold_key,
)
from promotions.engine import (
    CustomerFacts,
    EngineResult,
    ReceiptContext,
    RulesSnapshot,
    evaluate,
)
from promotions.usage import usage_read


def purchase_calculate(
    terminal: Terminal, request: PurchaseRequest, *, hold: bool = False
) -> PurchaseOutcome:
    """Preview a receipt; with ``hold`` also reserve the points it spends for this receipt id."""
    terminal = terminal_loaded(terminal)
    holder, fast = load(terminal, request, replay=False, lots=not hold)
    sale = sale_open(terminal, request, holder, fast)
    if hold and (sale.customer is not None or request.certificates):
        now = timezone.now()
        at = request.sold_at or now
        return retrying(lambda: _calculate_and_hold(sale, request, at, now))
    return _preview(sale, request)[0]


def purchase_preview(
    terminal: Terminal,
    request: PurchaseRequest,
    *,
    snapshot: RulesSnapshot | None = None,
    customer: CustomerFacts | None = None,
) -> tuple[PurchaseOutcome, EngineResult]:
    """What ``calculate`` answers for ``request``, and the engine's result with its reasons,
    for the simulator: with another ``snapshot`` (drafts included) and, without a card or a
    phone, a described ``customer`` (their tier; no balance). Writes nothing."""
    preview = purchase_simulate(terminal, request, snapshot=snapshot, customer=customer)
    return preview.outcome, preview.result


@dataclass
class Preview:
    """A previewed receipt: the outcome ``calculate`` would answer, the engine's result, and
    what the engine was given (the context and the sale) for the simulator's explanations."""

    outcome: PurchaseOutcome
    result: EngineResult
    context: ReceiptContext
    sale: Sale


def purchase_simulate(
    terminal: Terminal,
    request: PurchaseRequest,
    *,
    snapshot: RulesSnapshot | None = None,
    customer: CustomerFacts | None = None,
) -> Preview:
    """``purchase_preview`` with the context and the sale it evaluated. A ``snapshot`` given
    is used whatever the time of sale (drafts, or the simulator's what-if settings): its
    programme rule replaces the live one. Writes nothing."""
    terminal = terminal_loaded(terminal)
    holder, fast = load(terminal, request, replay=False, lots=True, needs=ALL_FACTS)
    sale = sale_open(terminal, request, holder, fast)
    if snapshot is not None:
        sale.snapshot = snapshot
        sale.programme = snapshot.programmes.get(sale.programme.id, sale.programme)
    outcome, result, context = _preview(sale, request, customer)
    return Preview(outcome, result, context, sale)


def _preview(sale: Sale, request: PurchaseRequest, customer: CustomerFacts | None = None):
    now = timezone.now()
    at = request.sold_at or now
    account = main_account(sale, create=False)
    available = spendable(account, now, sale.terminal, request.receipt_id, sale.holder.lots)
    exchange_available = (
        exchange_funds(
            sale,
            request,
            now,
            available,
            {a.currency_id: a for a in sale.holder.accounts},
            sale.holder.lots,
        )
        if request.exchanges
        else None
    )
    context = context_build(
        sale, request, at, available, offline=False, exchange_available=exchange_available
    )
    if sale.customer is None and customer is not None:
        context = replace(context, customer=customer)
        sale.facts = customer
    context = usage_read(sale.snapshot, context)
    result = evaluate(sale.snapshot, context)
    return _calculated(sale, request, result, account, at, now), result, context


def _calculated(sale, request, result, account, at, now) -> PurchaseOutcome:
    balance = account.balance if account else ZERO
    pending = account.pending if account else ZERO
    active, delayed = earned_split(result, at, now)
    return purchase_outcome(
        request.receipt_id,
        "calculated",
        sale,
        result,
        balance,
        balance - result.spent_points - exchanged_main(result) + active,
        pending + delayed,
    )


def _calculate_and_hold(sale: Sale, request: PurchaseRequest, at, now) -> PurchaseOutcome:
    account = main_account(sale, create=True)
    with money_transaction():
        if account is not None:
            account = accounts_for_update([account.pk]).get()
        available = spendable(account, now, sale.terminal, request.receipt_id)
        exchange_available = (
            exchange_funds(
                sale,
                request,
                now,
                available,
                {a.currency_id: a for a in sale.holder.accounts},
                None,
            )
            if request.exchanges
            else None
        )
        context = context_build(
            sale,
            request,
            at,
            available,
            offline=False,
            exchange_available=exchange_available,
            lock_coupons=True,
        )
        result = evaluate(sale.snapshot, usage_read(sale.snapshot, context))
        hold_release(sale.terminal, request.receipt_id, Hold.Status.RELEASED, now)
        until = now + timedelta(minutes=sale.programme.hold_minutes)
        coupons_release(hold_key(sale.terminal.pk, request.receipt_id))
        held_coupons = (
            coupons_hold(
                sale.coupons,
                coupon_series_fired(sale, result),
                hold_key(sale.terminal.pk, request.receipt_id),
                until,
            )
            if sale.coupons
            else []
        )
        certificates_release(hold_key(sale.terminal.pk, request.receipt_id))
        outcome = _calculated(sale, request, result, account, at, now)  # applies certificates
        held_certificates = (
            certificates_hold(
                sale.certificates, hold_key(sale.terminal.pk, request.receipt_id), until
            )
            if sale.certificates
            else []
        )
        if result.spent_points > 0 and account is not None:
            Hold.objects.create(
                account=account,
                terminal=sale.terminal,
                receipt_id=request.receipt_id,
                points=result.spent_points,
                expires_at=now + timedelta(minutes=sale.programme.hold_minutes),
                created_at=now,
            )
            Account.objects.filter(pk=account.pk).update(held=F("held") + result.spent_points)
        outcome.hold = HoldOutcome(
            points=result.spent_points if account is not None else ZERO,
            expires_at=until
            if result.spent_points > 0 or held_coupons or held_certificates
            else None,
            coupons=held_coupons,
            certificates=held_certificates if sale.certificates is not None else None,
        )
        return outcome
