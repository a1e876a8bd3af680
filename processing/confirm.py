"""``confirm``: commit a purchase once per (terminal, receipt id); a retry replays the first
answer.

``calculate`` and ``confirm`` build the same receipt context and run the same pure function,
``promotions.engine.evaluate``; ``confirm`` then commits the result in one transaction:

1. look the receipt up (a retry with the same body replays the stored answer, another body is
   a conflict), before any check that depends on mutable state;
2. lock the customer's accounts in pk order (``SET LOCAL lock_timeout``: a long wait answers
   ``request_in_progress``), look the receipt up again (a duplicate that waited sees it now);
3. activate and expire the lots that are due, read what can be spent, evaluate;
4. insert the receipt (its unique key stops a racing duplicate of an anonymous receipt), its
   lines, the spend and earn postings, the postings that pay for the exchanges asked for (chips
   exchanged at the register: their accounts are among those locked in 2), per-line rewards,
   counter steps, tiers given by rewards and tier progress, and consume the hold.

On PostgreSQL the reads and writes of a common sale go through ``processing.fastpath`` (one
round trip a phase); elsewhere, and for a sale's rare turns, through the ORM."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError
from django.utils import timezone

from crm.models import Customer
from loyalty.errors import (
    ReceiptConflict,
    RequestInProgress,
    SaleTimeOutOfWindow,
)
from loyalty.locks import accounts_for_update
from loyalty.models import (
    Account,
    Card,
    LedgerEntry,
    Lot,
    Receipt,
    Terminal,
    TierMembership,
)
from loyalty.services.ledger import (
    Actor,
    customer_account,
)
from loyalty.services.lots import accounts_mature
from loyalty.transactions import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, money_transaction, retrying
from processing import fastpath
from processing.outcome import PurchaseOutcome
from processing.plan import Locked, purchase_plan
from processing.sale import (
    FUTURE_TOLERANCE,
    PurchaseRequest,
    Sale,
    context_build,
    exchange_currencies,
    exchange_funds,
    load,
    sale_open,
    spendable,
    terminal_loaded,
)
from processing.write import write
from promotions.engine import evaluate
from promotions.usage import usage_settle

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


class _Duplicate(Exception):
    """A racing duplicate committed the same receipt first."""


def _replay(terminal: Terminal, receipt_id: str, fingerprint: str) -> PurchaseOutcome | None:
    receipt = Receipt.objects.filter(terminal=terminal, receipt_id=receipt_id).first()
    if receipt is None:
        return None
    if receipt.fingerprint != fingerprint:
        raise ReceiptConflict(receipt_id=receipt_id)
    return PurchaseOutcome.replay(receipt.result)


def purchase_confirm(
    terminal: Terminal, request: PurchaseRequest, *, offline: bool = False
) -> PurchaseOutcome:
    """Commit a purchase once per (terminal, receipt id); a retry's outcome is the first
    answer, as stored (``PurchaseOutcome.replay``)."""
    terminal = terminal_loaded(terminal)
    fingerprint = request.fingerprint()
    holder, fast = load(terminal, request, replay=True, lots=False)
    replayed = _replayed(holder.replay, request.receipt_id, fingerprint)
    if replayed is not None:
        return replayed
    sale = sale_open(terminal, request, holder, fast)
    now = timezone.now()
    at = request.sold_at or now
    # Online or offline, a time of sale is neither in the future nor older than the offline
    # window (pos-integration.md): year 0001 moves no tier.
    if at > now + FUTURE_TOLERANCE or at < now - timedelta(days=sale.programme.offline_window_days):
        raise SaleTimeOutOfWindow(datetime=at.isoformat())

    def attempt() -> PurchaseOutcome:
        try:
            return _confirm(sale, request, fingerprint, at, offline)
        except IntegrityError:
            # An anonymous receipt has no account to lock: its duplicate meets the unique key.
            replayed = _replay(terminal, request.receipt_id, fingerprint)
            if replayed is None:
                raise
            return replayed
        except _Duplicate:
            replayed = _replay(terminal, request.receipt_id, fingerprint)
            if replayed is None:  # pragma: no cover - the duplicate rolled back; try again
                raise RequestInProgress() from None
            return replayed

    return retrying(attempt)


def _replayed(
    found: tuple[str, dict] | None, receipt_id: str, fingerprint: str
) -> PurchaseOutcome | None:
    """The stored answer of a receipt (fingerprint, result) read earlier, or a conflict."""
    if found is None:
        return None
    if found[0] != fingerprint:
        raise ReceiptConflict(receipt_id=receipt_id)
    return PurchaseOutcome.replay(found[1])


def _referrer_accounts(sale: Sale) -> list[Account]:
    """The referrer's accounts a confirm must lock: when some promotion of the rules in force
    gives points to the friend who referred this customer (opened on first use)."""
    from loyalty.models import Currency

    customer = sale.customer
    if customer is None or customer.referrer_id is None or not sale.snapshot.rewards_referrers:
        return []
    referrer = Customer.objects.filter(pk=customer.referrer_id, is_anonymised=False).first()
    if referrer is None:
        return []
    ids = {
        reward.currency_id
        for promotion in sale.snapshot.promotions
        if promotion.programme_id == sale.programme.id
        for reward in promotion.rewards
        if reward.beneficiary == "referrer" and reward.currency_id is not None
    }
    return [
        customer_account(referrer, currency) for currency in Currency.objects.filter(pk__in=ids)
    ]


def _open_accounts(sale: Sale, request: PurchaseRequest) -> list[Account]:
    """The customer's accounts in every currency the programme moves, opened on first use,
    and those the asked-for exchanges are paid from (locked with them: two receipts paying
    with the same last chips queue on the account's row)."""
    from loyalty.models import Currency

    if sale.customer is None:
        return []
    ids = sale.snapshot.reward_currency_ids(sale.programme.id)
    paying = exchange_currencies(sale, request) - ids  # no account: nothing to pay with
    accounts = [a for a in sale.holder.accounts if a.currency_id in ids | paying]
    missing = ids - {account.currency_id for account in accounts}
    if missing:
        for currency in Currency.objects.filter(pk__in=missing):
            accounts.append(customer_account(sale.customer, currency))
    return accounts


def _open(sale: Sale, request: PurchaseRequest) -> tuple[list[Account], bool]:
    """Before the locks: the owner of an unbound card, the accounts to lock (opened on first
    use: the customer's, and the referrer's when a promotion gives the referrer points), and
    whether the fast path can lock them (what it read before still holds)."""
    fast = sale.fast
    if sale.customer is None and sale.card is not None:
        sale.customer = _customer_for_unbound_card(sale.card)
        fast = False  # the sale's load read no customer
    accounts = _open_accounts(sale, request)
    referrer_accounts = _referrer_accounts(sale)
    if referrer_accounts:
        fast = False  # the fast path locks the customer's accounts only
    return accounts + referrer_accounts, fast


def _lock(sale: Sale, request: PurchaseRequest, fingerprint: str, accounts, fast, actor, now):
    """Lock the accounts (and the tier membership), replay a duplicate that committed
    meanwhile, mature the due lots, read what the receipt can be paid with."""
    terminal = sale.terminal
    tiers = sale.snapshot.tiers_of(sale.programme.id)
    membership = sale.customer is not None and bool(tiers)
    if fast:
        found = fastpath.lock(
            account_ids=[a.pk for a in accounts],
            terminal_id=terminal.pk,
            receipt_id=request.receipt_id,
            lock_timeout_ms=LOCK_TIMEOUT_MS,
            statement_timeout_ms=STATEMENT_TIMEOUT_MS,
            membership=(
                (sale.customer.pk, sale.programme.id)
                if membership and sale.customer is not None
                else None
            ),
        )
        replayed = _replayed(found.replay, request.receipt_id, fingerprint)
        state = Locked(
            {a.currency_id: a for a in found.accounts.values()},
            found.lots,
            found.membership,
            membership_read=membership,
            fast=True,
        )
    else:
        # One lock statement in pk order, the referrer's accounts among the customer's.
        everything = list(accounts_for_update(a.pk for a in accounts))
        mine = sale.customer.pk if sale.customer is not None else None
        state = Locked(
            {account.currency_id: account for account in everything if account.customer_id == mine},
            None,
        )
        sale.referrer_accounts = {
            account.currency_id: account for account in everything if account.customer_id != mine
        }
        replayed = _replay(terminal, request.receipt_id, fingerprint)
        if membership and replayed is None:
            # Under the account locks: a purchase that moved the tier has committed.
            state.membership = (
                TierMembership.objects.select_for_update(of=("self",))
                .filter(customer=sale.customer, programme_id=sale.programme.id)
                .first()
            )
            state.membership_read = True
    if replayed is not None:
        return None, replayed
    # The accounts points are taken from: the main one, and those paying for exchanges.
    paying = {sale.programme.main_currency_id} | exchange_currencies(sale, request)
    ids = [a.pk for currency_id, a in state.accounts.items() if currency_id in paying]
    if ids:
        if state.lots is not None:
            due = any(lot.account_id in ids and lot.is_due(now) for lot in state.lots)
            if due:
                accounts_mature(ids, now, actor, receipt=None)
        else:
            due = any(accounts_mature(ids, now, actor, receipt=None))
        if due:
            for account in accounts_for_update(ids):
                state.accounts[account.currency_id] = account
            state.lots = None
    main_id = sale.programme.main_currency_id
    main = state.accounts.get(main_id) if main_id is not None else None
    state.main = main
    if main is not None and state.lots is not None:
        state.main_lots = [lot for lot in state.lots if lot.account_id == main.pk]
    if request.exchanges:
        state.exchange_lots = _exchange_lots(sale, request, state)
    return state, None


def _context(sale, request, state: Locked, at, now, offline: bool):
    """The engine's context under the locks: what the receipt may spend now (the main
    currency's lots, less other receipts' holds) and pay its exchanges with."""
    available = spendable(state.main, now, sale.terminal, request.receipt_id, state.main_lots)
    exchange_available = None
    if request.exchanges:
        exchange_available = exchange_funds(
            sale, request, now, available, state.accounts, state.exchange_lots
        )
    return context_build(
        sale,
        request,
        at,
        available,
        offline,
        state.tier_id,
        exchange_available,
        lock_coupons=True,
    )


def _confirm(
    sale: Sale, request: PurchaseRequest, fingerprint: str, at, offline: bool
) -> PurchaseOutcome:
    """Load (done by the caller) -> lock -> context -> evaluate -> settle usage -> plan ->
    write(plan) -> answer(plan)."""
    actor = Actor.for_terminal(sale.terminal)
    accounts, fast = _open(sale, request)
    with money_transaction(timeouts=not fast):
        now = timezone.now()
        state, replayed = _lock(sale, request, fingerprint, accounts, fast, actor, now)
        if replayed is not None:
            return replayed
        context = _context(sale, request, state, at, now, offline)
        result = evaluate(sale.snapshot, context)
        # Budgets and limits: lock the usage of the limited promotions involved and evaluate
        # again with it (no unlocked read first: what it gave would be read again).
        context, result, usage = usage_settle(sale.snapshot, context, result)
        plan = purchase_plan(
            sale,
            request,
            fingerprint,
            state,
            context,
            result,
            usage,
            actor=actor,
            at=at,
            now=now,
            offline=offline,
        )
        write(plan)
        return plan.outcome


def _customer_for_unbound_card(card: Card) -> Customer:
    """An issued card sold without registration: its points need an owner, so make one."""
    customer = Customer.objects.create(source=Customer.Source.POS)
    bound = Card.objects.filter(pk=card.pk, customer__isnull=True).update(customer=customer)
    if not bound:
        customer.delete()
        card.refresh_from_db()
        assert card.customer is not None  # another sale bound it first
        return card.customer
    card.customer = customer
    return customer


def _exchange_lots(sale: Sale, request: PurchaseRequest, state: Locked) -> list[Lot]:
    """The open lots of the accounts the asked-for exchanges are paid from, read under their
    locks (with the others of the confirm when it read them already)."""
    if state.lots is not None:
        return state.lots
    paying = exchange_currencies(sale, request)
    ids = [a.pk for currency_id, a in state.accounts.items() if currency_id in paying]
    return list(Lot.objects.filter(account_id__in=ids).exclude(remaining=0)) if ids else []
