"""The customer's lots: which can be spent and which are due, taking points from them
first-expiring first (invariant L6), activating and expiring them when due, repaying debts
from new points, and the holds that reserve points for a receipt being calculated.

Everything here runs under the account locks its caller took (``loyalty.locks``), except the
two nightly jobs, ``lots_mature`` and ``holds_expire``, which lock one account at a time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from loyalty.errors import (
    InsufficientPoints,
)
from loyalty.locks import accounts_for_update
from loyalty.models import (
    Account,
    CertificateHold,
    Hold,
    LedgerEntry,
    Lot,
    Posting,
    Receipt,
    Terminal,
)
from loyalty.money import ZERO
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    postings_create,
    programme_account,
)
from loyalty.transactions import money_transaction, retrying

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


def open_lots(account: Account) -> list[Lot]:
    return list(Lot.objects.filter(account=account).open())


ANY_RULE = object()  # lots_walk: lots of any spending rule


def lots_walk(
    lots: Iterable[Lot],
    points: Decimal,
    now: datetime,
    *,
    account: Account | None = None,
    rule=ANY_RULE,
    taken: dict[int, Decimal] | None = None,
) -> tuple[list[tuple[Lot, Decimal]], Decimal]:
    """The one first-expiring-first walk (invariant L6): take ``points`` from the spendable
    lots among ``lots`` (of ``account``, of spending rule ``rule``: a rule id, None for the
    unrestricted lots, ``ANY_RULE`` for all), each up to what is left in it after ``taken``
    (what other legs take, by lot pk; updated). Returns what is taken from each lot, in order,
    and the part no lot covered."""
    if taken is None:
        taken = defaultdict(Decimal)
    candidates = sorted(
        (
            lot
            for lot in lots
            if lot.is_spendable(now)
            and (account is None or lot.account_id == account.pk)
            and (rule is ANY_RULE or lot.spend_rule_id == rule)
        ),
        key=Lot.walk_key(now),
    )
    takes, left = [], points
    for lot in candidates:
        if left <= 0:
            break
        take = min(lot.remaining - taken[lot.pk], left)
        if take <= 0:
            continue
        takes.append((lot, take))
        taken[lot.pk] += take
        left -= take
    return takes, max(left, ZERO)


def hold_release(terminal: Terminal, receipt_id: str, status: str, now: datetime) -> Hold | None:
    """Close the active hold of a receipt (its account must be locked by the caller)."""
    hold = Hold.objects.filter(
        terminal=terminal, receipt_id=receipt_id, status=Hold.Status.ACTIVE
    ).first()
    if hold is None:
        return None
    Hold.objects.filter(pk=hold.pk).update(status=status, closed_at=now)
    Account.objects.filter(pk=hold.account_id).update(held=Greatest(F("held") - hold.points, 0))
    return hold


def lots_take_legs(
    account: Account,
    points: Decimal,
    now: datetime,
    lots: list[Lot],
    taken: dict[int, Decimal] | None = None,
) -> list[Leg]:
    """Legs taking ``points`` from the account's spendable lots, whatever their spending rule
    (a spending rule says where points pay money; an exchange or a manual debit pays none);
    ``taken``: what other legs already take, by lot. Raises ``InsufficientPoints`` when the
    lots do not cover ``points``."""
    takes, left = lots_walk(lots, points, now, account=account, taken=taken)
    if left > 0:
        raise InsufficientPoints(account=account.pk, balance=str(account.balance))
    return [Leg(account=account, amount=-take, lot=lot) for lot, take in takes]


def spend_legs(
    account: Account,
    by_rule: dict[int | None, Decimal],
    now: datetime,
    lots: list[Lot] | None = None,
) -> tuple[list[Leg], Decimal]:
    """Legs taking the points ``by_rule`` from the account's lots: the points of a spending
    rule from its own lots, the unrestricted ones (None) from lots without a rule.

    Returns the legs and the part no lot could cover (only an offline receipt has one).
    ``lots``: the account's open lots read under its lock, if the caller has them.
    """
    if lots is None:
        lots = open_lots(account)
    legs: list[Leg] = []
    short = ZERO
    taken: dict[int, Decimal] = defaultdict(Decimal)
    for rule_id, points in by_rule.items():
        takes, left = lots_walk(lots, points, now, account=account, rule=rule_id, taken=taken)
        legs += [Leg(account=account, amount=-take, lot=lot) for lot, take in takes]
        short += left
    return legs, short


def debts_settle(
    account: Account,
    actor: Actor,
    receipt: Receipt | None,
    now: datetime,
    *,
    cause: str | None = None,
    cause_ref: str = "",
    description: str = "debt repaid from new points",
    allowed_only: bool = True,
) -> None:
    """Pay the account's debt lots (the oldest first) from its spendable lots, first-expiring
    first: a refund's debt is repaid from the next points. ``allowed_only``: skip an account
    that was never allowed a debt (it has none; a merge may bring one, so it looks anyway)."""
    if allowed_only and account.debt_limit <= 0 and account.balance >= 0:
        return  # no debt was ever allowed on this account, so it has none
    debts = list(
        Lot.objects.filter(account=account, kind=Lot.Kind.DEBT, remaining__lt=0).order_by(
            "entry_id"
        )
    )
    if not debts:
        return
    lots = list(Lot.objects.filter(account=account).spendable(now))
    legs: list[Leg] = []
    taken: dict[int, Decimal] = defaultdict(Decimal)
    for debt in debts:
        takes, _left = lots_walk(lots, -debt.remaining, now, taken=taken)
        for lot, take in takes:
            legs.append(Leg(account=account, amount=-take, lot=lot))
            legs.append(Leg(account=account, amount=take, lot=debt))
    if legs:
        postings_create(
            [
                PostingSpec(
                    kind=Posting.Kind.TRANSFER,
                    cause=cause
                    or (Posting.Cause.RECEIPT if receipt else Posting.Cause.ACTIVATION_RUN),
                    cause_ref=cause_ref,
                    actor=actor,
                    legs=legs,
                    receipt=receipt,
                    description=description,
                )
            ]
        )


def accounts_mature(account_ids, now: datetime, actor: Actor, receipt=None) -> tuple[int, int]:
    """Activate the due pending lots and expire the due active lots of locked accounts.

    Returns (lots activated, lots expired). Idempotent: a lot that was handled has nothing due.
    """
    due = list(
        Lot.objects.filter(account_id__in=list(account_ids))
        .due(now)
        .select_related("account__currency")
    )
    if not due:
        return 0, 0
    specs = []
    activated = [lot for lot in due if lot.state == Lot.State.PENDING]
    by_account = defaultdict(list)
    for lot in activated:
        by_account[lot.account_id].append(lot)
    for lots in by_account.values():
        legs = []
        for lot in lots:
            legs.append(Leg(account=lot.account, amount=-lot.remaining, bucket=PENDING, lot=lot))
            legs.append(Leg(account=lot.account, amount=lot.remaining, bucket=ACTIVE, lot=lot))
        specs.append(
            PostingSpec(
                kind=Posting.Kind.ACTIVATE,
                cause=Posting.Cause.ACTIVATION_RUN,
                actor=actor,
                legs=legs,
                occurred_at=now,
            )
        )
    if specs:
        postings_create(specs, savepoint=False)
    expiring = [
        lot
        for lot in due
        if lot.expires_at is not None and lot.expires_at <= now and lot.kind == Lot.Kind.EARN
    ]
    fresh = {lot.pk: lot for lot in Lot.objects.filter(pk__in=[lot.pk for lot in expiring])}
    specs = []
    by_account = defaultdict(list)
    for lot in expiring:
        current = fresh[lot.pk]
        if current.remaining > 0 and current.state == Lot.State.ACTIVE:
            by_account[lot.account_id].append((lot.account, current))
    for pairs in by_account.values():
        account = pairs[0][0]
        legs = [Leg(account=account, amount=-lot.remaining, lot=lot) for _a, lot in pairs]
        legs.append(
            Leg(
                account=programme_account(account.currency, Account.Purpose.EXPIRED),
                amount=sum((lot.remaining for _a, lot in pairs), ZERO),
            )
        )
        specs.append(
            PostingSpec(
                kind=Posting.Kind.EXPIRE,
                cause=Posting.Cause.EXPIRY_RUN,
                actor=actor,
                legs=legs,
                occurred_at=now,
                cause_ref=now.date().isoformat(),
            )
        )
    if specs:
        postings_create(specs, savepoint=False)
    for account_id in {lot.account_id for lot in activated}:
        debts_settle(Account.objects.get(pk=account_id), actor, receipt, now)
    return len(activated), sum(len(pairs) for pairs in by_account.values())


def lots_mature(now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Activate every due pending lot and expire every due lot, one account per transaction.

    Safe to run twice and concurrently with purchases: each account is locked, and what was
    already handled is no longer due.
    """
    now = now or timezone.now()
    actor = Actor.system("lots_mature")
    totals = {"accounts": 0, "activated": 0, "expired": 0}
    last = 0
    while True:
        account_ids = list(
            Lot.objects.filter(account_id__gt=last)
            .due(now)
            .order_by("account_id")
            .values_list("account_id", flat=True)
            .distinct()[:batch]
        )
        if not account_ids:
            return totals
        for account_id in account_ids:

            def work(account_id=account_id):
                with money_transaction():
                    list(accounts_for_update([account_id]))
                    return accounts_mature([account_id], now, actor)

            activated, expired = retrying(work)
            totals["accounts"] += 1
            totals["activated"] += activated
            totals["expired"] += expired
        last = account_ids[-1]


def holds_expire(now: datetime | None = None) -> int:
    """Close the holds whose time is up and give their points back to the balance."""
    now = now or timezone.now()
    count = 0
    for hold in Hold.objects.filter(status=Hold.Status.ACTIVE, expires_at__lte=now).order_by("pk"):

        def work(hold=hold):
            with money_transaction():
                list(accounts_for_update([hold.account_id]))
                closed = Hold.objects.filter(pk=hold.pk, status=Hold.Status.ACTIVE).update(
                    status=Hold.Status.EXPIRED, closed_at=now
                )
                if closed:
                    Account.objects.filter(pk=hold.account_id).update(
                        held=Greatest(F("held") - hold.points, 0)
                    )
                return closed

        count += retrying(work)
    # Gift certificate holds reserve nothing once expired; their rows go.
    CertificateHold.objects.filter(expires_at__lte=now).delete()
    return count
