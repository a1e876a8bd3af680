"""Write the ledger: postings whose legs sum to zero, with the account caches kept in step.

Nothing else in the project inserts ``Posting`` or ``LedgerEntry`` rows or changes an
account's ``balance``/``pending``; every other service builds legs and calls
``postings_create``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.db import connection, transaction
from django.utils import timezone

from crm.models import Customer
from loyalty import sql
from loyalty.errors import (
    CurrencyMismatch,
    InsufficientPoints,
    InvalidPostingAmount,
    PostingUnbalanced,
)
from loyalty.locks import accounts_for_update
from loyalty.models import (
    Account,
    Currency,
    LedgerEntry,
    Lot,
    Partner,
    Posting,
    Receipt,
    Terminal,
)
from loyalty.money import quantize
from loyalty.sql import concrete_field, quoted_column

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ACTIVE = LedgerEntry.Bucket.ACTIVE
PENDING = LedgerEntry.Bucket.PENDING


@dataclass(frozen=True)
class Actor:
    """Who made a movement: a terminal, a staff user or a named system task (invariant L9)."""

    type: str
    terminal: Terminal | None = None
    user: User | None = None
    name: str = ""

    @classmethod
    def for_terminal(cls, terminal: Terminal) -> Actor:
        return cls(type=Posting.ActorType.TERMINAL, terminal=terminal)

    @classmethod
    def for_staff(cls, user) -> Actor:
        return cls(type=Posting.ActorType.STAFF, user=user)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(type=Posting.ActorType.SYSTEM, name=name)


class CurrencyPlaces(Protocol):
    """What the checks read of a currency: a ``Currency`` or the rules snapshot's."""

    @property
    def code(self) -> str: ...

    @property
    def decimal_places(self) -> int: ...


@dataclass(frozen=True)
class Leg:
    """One side of a posting.

    On a customer's account, a leg that names no ``lot`` opens one: earned points (positive) or
    a debt (negative, active bucket only). A leg that names a lot (a ``Lot`` or its
    ``LedgerEntry``) consumes or restores it; a positive active leg on a pending lot activates it.
    """

    account: Account
    amount: Decimal
    bucket: str = ACTIVE
    lot: Lot | LedgerEntry | None = None
    active_at: datetime | None = None
    expires_at: datetime | None = None
    spend_rule_id: int | None = None  # for a lot it opens: where its points may be spent
    # For a lot it opens: the receipt that earned its points, when not the posting's own (a
    # merge moves a lot to another account; a refund of that receipt finds it there).
    receipt_id: int | None = None


@dataclass
class PostingSpec:
    kind: str
    cause: str
    actor: Actor
    legs: Sequence[Leg]
    partner: Partner | None = None
    receipt: Receipt | None = None
    cause_ref: str = ""
    reverses: Posting | None = None
    description: str = ""
    occurred_at: datetime | None = None
    entries: list[LedgerEntry] = field(default_factory=list, init=False)


def _validate(spec: PostingSpec, currencies: Mapping[int, CurrencyPlaces]) -> None:
    if len(spec.legs) < 2:
        raise PostingUnbalanced(legs=len(spec.legs))
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for leg in spec.legs:
        currency = currencies[leg.account.currency_id]
        if leg.amount == 0 or quantize(leg.amount, currency.decimal_places) != leg.amount:
            raise InvalidPostingAmount(amount=str(leg.amount), currency=currency.code)
        if leg.lot is not None and leg.lot.account_id != leg.account.pk:
            raise CurrencyMismatch(message="a leg names a lot of another account")
        if (
            leg.lot is None
            and leg.amount < 0
            and leg.bucket != ACTIVE
            and leg.account.kind == Account.Kind.CUSTOMER
        ):
            raise InvalidPostingAmount(message="pending points can only be taken from a lot")
        totals[leg.account.currency_id] += leg.amount
    unbalanced = {cid: total for cid, total in totals.items() if total != 0}
    if unbalanced:
        raise PostingUnbalanced(totals={currencies[c].code: str(t) for c, t in unbalanced.items()})


def postings_create(specs: Sequence[PostingSpec], *, savepoint: bool = True) -> list[Posting]:
    """Write ``specs`` as postings, locking every account they touch in pk order.

    Raises ``PostingUnbalanced`` if a posting's legs do not sum to zero per currency,
    ``InvalidPostingAmount`` for a zero amount or one finer than the currency's places, and
    ``InsufficientPoints`` if a customer's active balance would go below its debt limit or its
    pending amount below zero. Nothing is written when any of them is raised.
    Keeps invariants L1-L3: entries are only inserted, and the account caches move with them.
    """
    if not specs:
        return []
    # Only customer accounts are locked and keep a running balance; see Account.
    account_ids = {
        leg.account.pk for spec in specs for leg in spec.legs if leg.account.tracks_balance
    }
    currency_ids = {leg.account.currency_id for spec in specs for leg in spec.legs}
    currencies = Currency.objects.in_bulk(currency_ids)
    for spec in specs:
        _validate(spec, currencies)

    # A caller that lets every error abort its whole transaction may skip the savepoint.
    with transaction.atomic(savepoint=savepoint):
        # Lock first, then read: the balances below are the ones no one else can change now.
        locked = {account.pk: account for account in accounts_for_update(account_ids)}
        postings, accounts, lots, now = _prepare(specs, locked, None)

        Posting.objects.bulk_create(postings, batch_size=2000)
        # A posting's legs go into the same INSERT: the database checks the balance per statement.
        for batch in _batches_of_whole_postings(specs, 2000):
            LedgerEntry.objects.bulk_create(batch)
        _accounts_save(locked.values())
        _lots_save(specs, accounts, lots, now)
    return postings


def _prepare(
    specs: Sequence[PostingSpec], locked: dict[int, Account], known_lots: dict[int, Lot] | None
) -> tuple[list[Posting], dict[int, Account], dict[int, Lot], datetime]:
    """Build the postings and entries of ``specs`` on the ``locked`` accounts, move the
    accounts' caches and the named lots, and check every bound; nothing is written here."""
    accounts = {
        leg.account.pk: locked.get(leg.account.pk, leg.account)
        for spec in specs
        for leg in spec.legs
    }
    now = timezone.now()
    postings: list[Posting] = []
    for spec in specs:
        posting = Posting(
            kind=spec.kind,
            cause=spec.cause,
            cause_ref=spec.cause_ref,
            receipt=spec.receipt,
            actor_type=spec.actor.type,
            terminal=spec.actor.terminal,
            user=spec.actor.user,
            actor_name=spec.actor.name,
            partner=spec.partner,
            reverses=spec.reverses,
            description=spec.description,
            occurred_at=spec.occurred_at or now,
            recorded_at=now,
        )
        postings.append(posting)
        spec.entries = []
        for leg in spec.legs:
            entry = _entry_for(accounts[leg.account.pk], leg, posting, now)
            spec.entries.append(entry)

    # Check before writing anything (the database constraint is only the last defence).
    for account in locked.values():
        if account.kind == Account.Kind.CUSTOMER and (
            account.balance < -account.debt_limit or account.pending < 0
        ):
            raise InsufficientPoints(account=account.pk, balance=str(account.balance))
        account.updated_at = now
    lots = _lots_move(specs, accounts, known_lots)
    return postings, accounts, lots, now


def postings_statements(
    specs: Sequence[PostingSpec],
    *,
    locked: dict[int, Account],
    lots: dict[int, Lot],
    currencies: Mapping[int, CurrencyPlaces],
    posting_ids: Sequence[int],
    entry_ids: Sequence[int],
) -> list[tuple[str, list]]:
    """The SQL that writes ``specs``, for a caller that sends it with its own statements.

    The same checks and the same rows as ``postings_create``, for the purchase hot path on
    PostgreSQL (``loyalty.sql``): the caller has locked every customer
    account of the legs (``locked``) and read every lot they name (``lots``), and gives the
    ids to use, taken from the tables' sequences. ``currencies`` maps ids to anything with
    ``code`` and ``decimal_places`` (the rules snapshot's). Raises what ``postings_create``
    raises, before any statement is built; sets the postings' and entries' ids on the specs.
    """
    for spec in specs:
        if any(leg.account.tracks_balance and leg.account.pk not in locked for leg in spec.legs):
            raise ValueError("postings_statements needs every customer account locked")
        _validate(spec, currencies)
    postings, accounts, moved, now = _prepare(specs, locked, lots)
    next_posting_ids, next_entry_ids = iter(posting_ids), iter(entry_ids)
    for posting in postings:
        posting.pk = next(next_posting_ids)
    for spec in specs:
        for entry in spec.entries:
            entry.pk = next(next_entry_ids)
            entry.posting_id = entry.posting.pk
    return sql.ledger_statements(
        postings,
        [e for spec in specs for e in spec.entries],
        locked.values(),
        _opened_lots(specs, accounts, now),
        moved.values(),
    )


def _lots_move(
    specs: Sequence[PostingSpec], accounts: dict[int, Account], known: dict[int, Lot] | None
) -> dict[int, Lot]:
    """Apply the legs that name a lot to the locked lots' remainders; check their bounds.

    ``known``: the lots as the caller read them under the account locks, if it did.
    """
    lot_ids = {
        leg.lot.pk
        for spec in specs
        for leg in spec.legs
        if leg.lot is not None and accounts[leg.account.pk].kind == Account.Kind.CUSTOMER
    }
    if not lot_ids:
        return {}
    # The lots' account rows are locked: no one else can move these lots now.
    if known is not None and lot_ids <= known.keys():
        lots = {pk: known[pk] for pk in lot_ids}
    else:
        lots = Lot.objects.in_bulk(lot_ids)
    for spec in specs:
        for leg in spec.legs:
            if leg.lot is None or leg.lot.pk not in lots:
                continue
            lot = lots[leg.lot.pk]
            lot.remaining += leg.amount
            if leg.bucket == ACTIVE and leg.amount > 0 and lot.state == Lot.State.PENDING:
                lot.state = Lot.State.ACTIVE
    for lot in lots.values():
        within = (
            Decimal(0) <= lot.remaining <= lot.amount
            if lot.kind == Lot.Kind.EARN
            else lot.amount <= lot.remaining <= Decimal(0)
        )
        if not within:
            raise InsufficientPoints(
                message=f"lot {lot.pk} would hold {lot.remaining} of {lot.amount}",
                account=lot.account_id,
            )
    return lots


def _opened_lots(specs: Sequence[PostingSpec], accounts: dict[int, Account], now) -> list[Lot]:
    """A lot for every customer leg that names none (its entries must have their ids)."""
    opened = []
    for spec in specs:
        for leg, entry in zip(spec.legs, spec.entries, strict=True):
            account = accounts[leg.account.pk]
            if leg.lot is not None or account.kind != Account.Kind.CUSTOMER:
                continue
            opened.append(
                Lot(
                    entry_id=entry.pk,
                    account_id=account.pk,
                    kind=Lot.Kind.EARN if leg.amount > 0 else Lot.Kind.DEBT,
                    state=Lot.State.ACTIVE if leg.bucket == ACTIVE else Lot.State.PENDING,
                    amount=leg.amount,
                    remaining=leg.amount,
                    active_at=leg.active_at or now,
                    expires_at=leg.expires_at,
                    receipt_id=leg.receipt_id
                    or (spec.receipt.pk if spec.receipt is not None else None),
                    spend_rule_id=leg.spend_rule_id,
                )
            )
    return opened


def _lots_save(
    specs: Sequence[PostingSpec], accounts: dict[int, Account], lots: dict[int, Lot], now
) -> None:
    """Open a lot for every customer leg that names none; write the moved lots' remainders."""
    opened = _opened_lots(specs, accounts, now)
    if opened:
        Lot.objects.bulk_create(opened, batch_size=2000)
    if lots:
        meta = Lot._meta
        quote = connection.ops.quote_name
        remaining = concrete_field(Lot, "remaining")
        sql = "UPDATE {table} SET {remaining} = %s, {state} = %s WHERE {pk} = %s".format(
            table=quote(meta.db_table),
            remaining=quoted_column(remaining),
            state=quoted_column(concrete_field(Lot, "state")),
            pk=quoted_column(meta.pk),
        )
        rows = [
            [remaining.get_db_prep_save(lot.remaining, connection), lot.state, lot.pk]
            for lot in lots.values()
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def _accounts_save(accounts) -> None:
    """Write the locked accounts' caches: one prepared UPDATE run for every account.

    ``bulk_update`` builds one CASE expression per column over all rows, which costs seconds
    for the thousands of accounts of a bulk load; an executemany of a plain UPDATE does not.
    """
    meta = Account._meta
    columns = [
        concrete_field(Account, name) for name in ("balance", "pending", "version", "updated_at")
    ]
    quote = connection.ops.quote_name
    sql = "UPDATE {table} SET {assignments} WHERE {pk} = %s".format(
        table=quote(meta.db_table),
        assignments=", ".join(f"{quoted_column(field)} = %s" for field in columns),
        pk=quoted_column(meta.pk),
    )
    rows = [
        [field.get_db_prep_save(getattr(account, field.attname), connection) for field in columns]
        + [account.pk]
        for account in accounts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _batches_of_whole_postings(specs: Sequence[PostingSpec], size: int):
    batch: list[LedgerEntry] = []
    for spec in specs:
        if batch and len(batch) + len(spec.entries) > size:
            yield batch
            batch = []
        batch.extend(spec.entries)
    if batch:
        yield batch


def _entry_for(account: Account, leg: Leg, posting: Posting, now: datetime) -> LedgerEntry:
    """Build the entry of ``leg`` and move the locked account's cached bucket with it."""
    if not account.tracks_balance:
        return LedgerEntry(
            posting=posting,
            account=account,
            currency_id=account.currency_id,
            bucket=leg.bucket,
            amount=leg.amount,
            lot_id=leg.lot.pk if leg.lot is not None else None,
            active_at=leg.active_at,
            expires_at=leg.expires_at,
            recorded_at=now,
        )
    if leg.bucket == ACTIVE:
        account.balance += leg.amount
        after = account.balance
    else:
        account.pending += leg.amount
        after = account.pending
    account.version += 1
    return LedgerEntry(
        posting=posting,
        account=account,
        currency_id=account.currency_id,
        bucket=leg.bucket,
        amount=leg.amount,
        balance_after=after,
        account_version=account.version,
        lot_id=leg.lot.pk if leg.lot is not None else None,
        active_at=leg.active_at,
        expires_at=leg.expires_at,
        recorded_at=now,
    )


def posting_create(
    *,
    kind: str,
    cause: str,
    actor: Actor,
    legs: Sequence[Leg],
    partner: Partner | None = None,
    receipt: Receipt | None = None,
    cause_ref: str = "",
    reverses: Posting | None = None,
    description: str = "",
    occurred_at: datetime | None = None,
) -> Posting:
    """Write one posting; see ``postings_create`` for what it checks and raises."""
    spec = PostingSpec(
        kind=kind,
        cause=cause,
        actor=actor,
        legs=legs,
        partner=partner,
        receipt=receipt,
        cause_ref=cause_ref,
        reverses=reverses,
        description=description,
        occurred_at=occurred_at,
    )
    return postings_create([spec])[0]


def customer_account(customer: Customer, currency: Currency) -> Account:
    """Return the customer's account in ``currency``, opening it on first use."""
    account, _ = Account.objects.get_or_create(
        kind=Account.Kind.CUSTOMER,
        customer=customer,
        currency=currency,
        defaults={"purpose": Account.Purpose.MAIN},
    )
    return account


# System accounts are never deleted and postings never lock or update their rows, so a process
# may keep them: the hot path then needs no query to find the other side of a posting. Only a
# committed account is kept: one this thread created is kept once its transaction commits
# (another transaction cannot see it before, and it is gone if the creator rolls back).
_system_accounts: dict[tuple, Account] = {}
_created = threading.local()  # keys of accounts this thread created, not known committed


def system_accounts_forget() -> None:
    """Drop the process's cache of system accounts (tests whose database rolls back)."""
    _system_accounts.clear()
    _created.keys = set()


def _system_account(key: tuple, **lookup) -> Account:
    found = _system_accounts.get(key)
    if found is not None:
        return found
    account, created = Account.objects.get_or_create(**lookup)
    pending = getattr(_created, "keys", None)
    if pending is None:
        pending = _created.keys = set()
    if created:
        pending.add(key)

        def keep(key=key, account=account, pending=pending):
            pending.discard(key)
            _system_accounts.setdefault(key, account)

        transaction.on_commit(keep)
    elif key not in pending:
        _system_accounts[key] = account
    return account


def _currency_id(currency: Currency | int) -> int:
    return currency if isinstance(currency, int) else currency.pk


def partner_account(
    partner: Partner, currency: Currency | int, purpose: str = Account.Purpose.MAIN
) -> Account:
    """Return the partner's settlement account: points it issues are taken from here.

    ``currency``: a ``Currency`` or its id."""
    currency_id = _currency_id(currency)
    key = (Account.Kind.PARTNER, partner.pk, currency_id, purpose)
    return _system_account(
        key, kind=Account.Kind.PARTNER, partner=partner, currency_id=currency_id, purpose=purpose
    )


def programme_account(currency: Currency | int, purpose: str = Account.Purpose.MAIN) -> Account:
    """Return one of the programme's own accounts in ``currency`` (expiry, adjustments...)."""
    currency_id = _currency_id(currency)
    key = (Account.Kind.PROGRAMME, None, currency_id, purpose)
    return _system_account(
        key, kind=Account.Kind.PROGRAMME, currency_id=currency_id, purpose=purpose
    )


def customer_accounts_open(customer_ids: Sequence[int], currency: Currency) -> dict[int, Account]:
    """Open the accounts of many customers in ``currency`` at once; return them by customer id."""
    Account.objects.bulk_create(
        [
            Account(kind=Account.Kind.CUSTOMER, customer_id=cid, currency=currency)
            for cid in customer_ids
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    accounts = Account.objects.filter(
        kind=Account.Kind.CUSTOMER, currency=currency, customer_id__in=customer_ids
    )
    return {
        account.customer_id: account
        for account in accounts
        if account.customer_id is not None  # all of them: customer_id__in
    }


def ledger_rollup() -> int:
    """Refresh the balances of partner and programme accounts from their entries.

    Those accounts are not locked by postings (see ``Account``); this is their cached view for
    the admin and reports. Returns the number of accounts refreshed.
    """
    from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce

    def total(bucket):
        sums = (
            LedgerEntry.objects.filter(account=OuterRef("pk"), bucket=bucket)
            .order_by()
            .values("account")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return Coalesce(Subquery(sums), Value(Decimal(0)), output_field=DecimalField())

    return Account.objects.exclude(kind=Account.Kind.CUSTOMER).update(
        balance=total(ACTIVE), pending=total(PENDING), updated_at=timezone.now()
    )
