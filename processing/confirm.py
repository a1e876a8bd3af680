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

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

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
    Hold,
    LedgerEntry,
    Lot,
    Receipt,
    ReceiptLine,
    Terminal,
    TierChange,
    TierMembership,
)
from loyalty.money import ZERO
from loyalty.services.certificates import (
    certificates_redeem,
)
from loyalty.services.ledger import (
    Actor,
    customer_account,
    postings_statements,
)
from loyalty.services.lots import accounts_mature, debts_settle, hold_release, lot_is_due
from loyalty.transactions import LOCK_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, money_transaction, retrying
from processing import fastpath
from processing.answer import coupon_series_fired, earned_split, exchanged_main, render
from processing.postings import (
    counters_step,
    earn_postings,
    exchange_specs,
    exchanges_record,
    line_rewards,
    occasions_send,
    post_purchase,
    spend_posting,
)
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
from processing.tiers import tier_awards_give, tier_move, tier_progress, tier_record, tier_step
from promotions.coupons import (
    coupons_grant,
    coupons_redeem,
    hold_key,
)
from promotions.engine import EngineResult, evaluate
from promotions.usage import usage_record, usage_settle

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


class _Duplicate(Exception):
    """A racing duplicate committed the same receipt first."""


def _replay(terminal: Terminal, receipt_id: str, fingerprint: str) -> dict | None:
    receipt = Receipt.objects.filter(terminal=terminal, receipt_id=receipt_id).first()
    if receipt is None:
        return None
    if receipt.fingerprint != fingerprint:
        raise ReceiptConflict(receipt_id=receipt_id)
    return receipt.result


def purchase_confirm(
    terminal: Terminal, request: PurchaseRequest, *, offline: bool = False
) -> dict:
    """Commit a purchase once per (terminal, receipt id); a retry replays the first answer."""
    terminal = terminal_loaded(terminal)
    fingerprint = request.fingerprint()
    holder, fast = load(terminal, request, replay=True, lots=False)
    replayed = _replayed(holder.replay, request.receipt_id, fingerprint)
    if replayed is not None:
        return replayed
    sale = sale_open(terminal, request, holder, fast)
    now = timezone.now()
    at = request.sold_at or now
    if offline:
        if at > now + FUTURE_TOLERANCE or at < now - timedelta(
            days=sale.programme.offline_window_days
        ):
            raise SaleTimeOutOfWindow(datetime=at.isoformat())
    elif request.sold_at and request.sold_at > now + FUTURE_TOLERANCE:
        raise SaleTimeOutOfWindow(datetime=at.isoformat())

    def attempt() -> dict:
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


def _replayed(found: tuple[str, dict] | None, receipt_id: str, fingerprint: str) -> dict | None:
    """The stored answer of a receipt (fingerprint, result) read earlier, or a conflict."""
    if found is None:
        return None
    if found[0] != fingerprint:
        raise ReceiptConflict(receipt_id=receipt_id)
    return found[1]


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


@dataclass
class _Locked:
    """The state of a confirm under its locks."""

    accounts: dict[int, Account]  # by currency id
    lots: list[Lot] | None  # the open lots of the locked accounts, when read with the locks
    membership: TierMembership | None = None  # read and locked with them (SQL path)
    tier_id: int | None | bool = False  # the tier under the locks; False: not read


def _lock(sale: Sale, request: PurchaseRequest, fingerprint: str, accounts, actor, now):
    """Lock the accounts, replay a duplicate that committed meanwhile, mature the due lots."""
    terminal = sale.terminal
    tiers = sale.snapshot.tiers_of(sale.programme.id)
    membership = sale.customer is not None and bool(tiers)
    if sale.fast:
        found = fastpath.lock(
            account_ids=[a.pk for a in accounts],
            terminal_id=terminal.pk,
            receipt_id=request.receipt_id,
            lock_timeout_ms=LOCK_TIMEOUT_MS,
            statement_timeout_ms=STATEMENT_TIMEOUT_MS,
            membership=(sale.customer.pk, sale.programme.id) if membership else None,
        )
        replayed = _replayed(found.replay, request.receipt_id, fingerprint)
        state = _Locked(
            {a.currency_id: a for a in found.accounts.values()}, found.lots, found.membership
        )
        if membership:
            state.tier_id = found.membership.tier_id if found.membership else None
    else:
        # One lock statement in pk order, the referrer's accounts among the customer's.
        everything = list(accounts_for_update(a.pk for a in accounts))
        mine = sale.customer.pk if sale.customer is not None else None
        state = _Locked(
            {account.currency_id: account for account in everything if account.customer_id == mine},
            None,
        )
        sale.referrer_accounts = {
            account.currency_id: account for account in everything if account.customer_id != mine
        }
        replayed = _replay(terminal, request.receipt_id, fingerprint)
        if sale.customer is not None:
            # Read under the account locks: a purchase that moved the tier has committed.
            state.tier_id = (
                TierMembership.objects.filter(
                    customer=sale.customer, programme_id=sale.programme.id
                )
                .values_list("tier_id", flat=True)
                .first()
            )
    if replayed is not None:
        return None, replayed
    # The accounts points are taken from: the main one, and those paying for exchanges.
    paying = {sale.programme.main_currency_id} | exchange_currencies(sale, request)
    ids = [a.pk for currency_id, a in state.accounts.items() if currency_id in paying]
    if not ids:
        return state, None
    if state.lots is not None:
        due = any(lot.account_id in ids and lot_is_due(lot, now) for lot in state.lots)
        if due:
            accounts_mature(ids, now, actor, receipt=None)
    else:
        due = any(accounts_mature(ids, now, actor, receipt=None))
    if due:
        for account in accounts_for_update(ids):
            state.accounts[account.currency_id] = account
        state.lots = None
    return state, None


def _confirm(sale: Sale, request: PurchaseRequest, fingerprint: str, at, offline: bool) -> dict:
    terminal = sale.terminal
    actor = Actor.for_terminal(terminal)
    if sale.customer is None and sale.card is not None:
        sale.customer = _customer_for_unbound_card(sale.card)
        sale.fast = False
    accounts = _open_accounts(sale, request)
    referrer_accounts = _referrer_accounts(sale)
    if referrer_accounts:
        sale.fast = False  # the SQL path locks the customer's accounts only
    with money_transaction(timeouts=not sale.fast):
        now = timezone.now()
        state, replayed = _lock(
            sale, request, fingerprint, accounts + referrer_accounts, actor, now
        )
        if replayed is not None:
            return replayed
        locked = state.accounts
        main = locked.get(sale.programme.main_currency_id)
        main_lots = (
            [lot for lot in state.lots if lot.account_id == main.pk]
            if main is not None and state.lots is not None
            else None
        )
        available = spendable(main, now, terminal, request.receipt_id, main_lots)
        exchange_lots = None
        exchange_available = None
        if request.exchanges:
            exchange_lots = _exchange_lots(sale, request, state)
            exchange_available = exchange_funds(
                sale, request, now, available, locked, exchange_lots
            )
        # Budgets and limits: evaluate, lock the usage of the limited promotions involved,
        # evaluate again with it (no unlocked read first: what it gave would be read again).
        context = context_build(
            sale,
            request,
            at,
            available,
            offline,
            state.tier_id,
            exchange_available,
            lock_coupons=True,
        )
        result = evaluate(sale.snapshot, context)
        context, result, usage = usage_settle(sale.snapshot, context, result)

        # The spend's legs first: an offline receipt may spend more than the lots hold.
        spend = None
        if result.spent_points > 0 and main is not None:
            spend = spend_posting(sale, main, result.spent_by_rule, now, actor, at, main_lots)
        exchanges = exchange_specs(sale, result, locked, exchange_lots, spend, now, actor, at)
        shortfall = spend[1] if spend else ZERO
        debt_policy = sale.programme.refund_shortfall_policy == "debt"
        active_earned, delayed_earned = earned_split(result, at, now)
        balance_before = main.balance if main else ZERO
        taken = result.spent_points - (ZERO if debt_policy else shortfall)
        taken += exchanged_main(result)
        sql_writes = (
            sale.fast
            and not shortfall
            and (main is None or main_lots is not None)
            and not result.tier_awards  # a tier reward moves the membership through the ORM
        )
        membership, move, awarded = None, None, []
        if sale.customer is None:
            tier = None
        elif sql_writes and state.membership is not None:
            membership = state.membership
            before = (membership.tier_id, membership.qualifying_amount)
            tier = tier_step(
                membership, sale.snapshot.tiers_of(sale.programme.id), tier_money(result)
            )
            move = tier_move(membership, *before, TierChange.Reason.PURCHASE)
        else:
            # A tier reward first: the customer stands at its threshold, then the receipt's
            # money counts towards the next tier as any receipt's does.
            awarded = tier_awards_give(sale.customer, sale.programme.id, result.tier_awards)
            tier, move = tier_progress(
                sale.customer, sale.programme.id, tier_money(result), TierChange.Reason.PURCHASE
            )
        answer = render(
            request.receipt_id,
            Receipt.Status.CONFIRMED,
            sale,
            result,
            balance_before,
            balance_before - taken + active_earned,
            (main.pending if main else ZERO) + delayed_earned,
            tier=tier,
        )
        receipt_fields = {
            "terminal_id": terminal.pk,
            "store_id": terminal.store_id,
            "partner_id": terminal.store.partner_id,
            "receipt_id": request.receipt_id,
            "status": Receipt.Status.CONFIRMED,
            "customer_id": sale.customer.pk if sale.customer else None,
            "card_id": sale.card.pk if sale.card else None,
            "currency_id": result.main_currency_id if sale.customer else None,
            "sold_at": at,
            "recorded_at": now,
            "is_offline": offline,
            "total": result.total,
            "discount": result.discount,
            "points_spent": result.points_spent,
            "to_pay": result.to_pay,
            "points_earned": result.points_earned,
            "spent_points": result.spent_points,
            "tier_amount": tier_money(result) if sale.customer else ZERO,
            "is_flagged": shortfall > 0,
            "offline_shortfall": shortfall,
            "fingerprint": fingerprint,
            "result": answer,
        }
        line_fields = [
            {
                "line_no": line.line_no,
                "sku": inp.sku,
                "product_id": inp.product_id,
                "quantity": inp.quantity,
                "price": inp.price,
                "amount": line.amount,
                "discount": line.discount,
                "points_spent": line.points_spent,
                "to_pay": line.to_pay,
                "points_earned": line.points_earned,
                "spent_points": line.spent_points,
                "refunded_quantity": ZERO,
            }
            for line, inp in zip(result.lines, context.lines, strict=True)
        ]
        specs = [spec for _outcome, spec in exchanges]
        if sql_writes:
            receipt = _write_sql(
                sale,
                result,
                receipt_fields,
                line_fields,
                state,
                membership,
                spend,
                specs,
                actor,
                at,
                now,
            )
        else:
            receipt = _write_orm(
                sale, result, receipt_fields, line_fields, locked, spend, specs, actor, at, now
            )
        stepped = []
        if sale.customer is not None:
            stepped = counters_step(sale, receipt, result)
            coupons_grant(receipt, sale.customer, result.coupons_issued)
        if exchanges:
            exchanges_record(receipt, exchanges)
        for award, change in awarded:
            award.receipt = receipt
            award.save()
            if change is not None:
                tier_record(change, receipt)
        if move is not None:
            tier_record(move, receipt)
        usage_record(receipt, sale.snapshot, context, result, usage)
        if sale.coupons:
            coupons_redeem(
                receipt, sale.customer, sale.coupons, coupon_series_fired(sale, result), now
            )
        if sale.certificates:
            certificates_redeem(
                receipt,
                sale.certificates,
                {line.line_no: line.certificate_paid for line in result.lines},
                terminal,
                now,
                hold_key(terminal.pk, request.receipt_id),
            )
        if sale.customer is not None and sale.snapshot.occasion_kinds:
            occasions_send(sale, receipt, stepped, at)
        if main is not None and main.held > 0:
            hold_release(terminal, request.receipt_id, Hold.Status.CONSUMED, now)
        return answer


def tier_money(result: EngineResult) -> Decimal:
    """What a purchase adds to the customer's tier progress: the money paid, gift cards sold
    apart (a gift card's money counts when it pays)."""
    return result.to_pay - result.gift_cards


def _write_orm(sale, result, receipt_fields, line_fields, locked, spend, exchanges, actor, at, now):
    """Write a confirmed purchase through the ORM (SQLite, and the rare turns on PostgreSQL).

    ``exchanges``: the postings that pay for the exchanges applied."""
    receipt = Receipt.objects.create(**receipt_fields)
    lines = ReceiptLine.objects.bulk_create(
        [ReceiptLine(receipt=receipt, **fields) for fields in line_fields]
    )
    line_by_no = {line.line_no: line for line in lines}
    if sale.customer is not None:
        if spend is not None:
            spend[0].receipt = receipt
        for spec in exchanges:
            spec.receipt = receipt
        post_purchase(sale, receipt, result, locked, line_by_no, actor, at, now, spend, exchanges)
    if sale.card is not None and sale.card.status == Card.Status.ISSUED:
        Card.objects.filter(pk=sale.card.pk, status=Card.Status.ISSUED).update(
            status=Card.Status.ACTIVE, activated_at=now
        )
    return receipt


def _write_sql(
    sale, result, receipt_fields, line_fields, state, membership, spend, exchanges, actor, at, now
):
    """Write a confirmed purchase in two round trips (ids, then every row): see fastpath."""
    locked = state.accounts
    specs = [spend[0]] if spend is not None else []
    specs += exchanges
    earn_specs = earn_postings(sale, None, result, locked, actor, at, now)
    specs += [spec for _award, spec in earn_specs]
    entries = sum(len(spec.legs) for spec in specs)
    ids = fastpath.ids_take(lines=len(line_fields), postings=len(specs), entries=entries)
    receipt = Receipt(pk=ids.receipt, customer_id=receipt_fields["customer_id"])
    for spec in specs:
        spec.receipt = receipt
    statements = fastpath.receipt_statements(
        {"id": ids.receipt, **receipt_fields},
        [
            {"id": line_id, "receipt_id": ids.receipt, **fields}
            for line_id, fields in zip(ids.lines, line_fields, strict=True)
        ],
    )
    line_ids = {
        fields["line_no"]: line_id for line_id, fields in zip(ids.lines, line_fields, strict=True)
    }
    if specs:
        lots = {lot.pk: lot for lot in state.lots}
        by_pk = {account.pk: account for account in locked.values()}
        statements += postings_statements(
            specs,
            locked=by_pk,
            lots=lots,
            currencies=sale.snapshot.currencies,
            posting_ids=ids.postings,
            entry_ids=ids.entries,
        )
    statements += fastpath.rewards_statement(
        [
            (
                line_ids[reward.line_no],
                None,
                reward.promotion_id,
                reward.effect,
                reward.currency_id,
                reward.amount,
                reward.lot_id,
            )
            for reward in line_rewards(result, earn_specs)
        ]
    )
    if membership is not None:
        statements.append(fastpath.membership_statement(membership))
    if sale.card is not None and sale.card.status == Card.Status.ISSUED:
        statements.append(fastpath.card_activation_statement(sale.card.pk, now))
    fastpath.run(statements)
    for account in locked.values():
        debts_settle(account, actor, receipt, now)
    return receipt


def _customer_for_unbound_card(card: Card) -> Customer:
    """An issued card sold without registration: its points need an owner, so make one."""
    customer = Customer.objects.create(source=Customer.Source.POS)
    bound = Card.objects.filter(pk=card.pk, customer__isnull=True).update(customer=customer)
    if not bound:
        customer.delete()
        card.refresh_from_db()
        return card.customer
    card.customer = customer
    return customer


def _exchange_lots(sale: Sale, request: PurchaseRequest, state: _Locked) -> list[Lot]:
    """The open lots of the accounts the asked-for exchanges are paid from, read under their
    locks (with the others of the confirm when it read them already)."""
    if state.lots is not None:
        return state.lots
    paying = exchange_currencies(sale, request)
    ids = [a.pk for currency_id, a in state.accounts.items() if currency_id in paying]
    return list(Lot.objects.filter(account_id__in=ids).exclude(remaining=0)) if ids else []
