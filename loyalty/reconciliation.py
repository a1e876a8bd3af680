"""Check the ledger's invariants (architecture.md, reliability.md L1-L6, L9), and that every
refunded or cancelled receipt's reversal matches what the receipt moved.

Used by the test suite after every money scenario and by ``manage.py check_ledger`` (a
nightly reconciliation); both report every violation found, not only the first.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, F, Sum

from loyalty.errors import ReceiptNotReversible
from loyalty.models import (
    Account,
    Currency,
    LedgerEntry,
    Lot,
    Posting,
    Receipt,
    ReceiptLine,
    ReceiptLineReward,
    Refund,
)
from loyalty.money import POINTS_DECIMAL_PLACES, quantize, share
from loyalty.shares import lots_over_lines, spend_totals, spent_over_lines, unlinked_lots

ZERO = Decimal("0")


def exact(total: Decimal | None) -> Decimal:
    """Round an SQL sum to the ledger's places: SQLite adds decimals as binary floats."""
    return quantize(total or ZERO, POINTS_DECIMAL_PLACES)


def ledger_violations(account_ids: list[int] | None = None) -> list[str]:
    """Return a description of every broken invariant; an empty list means the ledger is sound."""
    problems: list[str] = []
    accounts = Account.objects.all()
    entries = LedgerEntry.objects.all()
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
        entries = entries.filter(account_id__in=account_ids)

    # 1 (L2). A customer's cached balance and pending equal the sums of its entries, per
    # bucket. (Partner and programme accounts keep a rollup, refreshed by ledger_rollup.)
    sums: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for row in entries.values("account_id", "bucket").annotate(total=Sum("amount")):
        sums[(row["account_id"], row["bucket"])] = exact(row["total"])
    for account in accounts.filter(kind=Account.Kind.CUSTOMER):
        active = sums[(account.pk, LedgerEntry.Bucket.ACTIVE)]
        pending = sums[(account.pk, LedgerEntry.Bucket.PENDING)]
        if account.balance != active:
            problems.append(f"account {account.pk}: balance {account.balance} != entries {active}")
        if account.pending != pending:
            problems.append(f"account {account.pk}: pending {account.pending} != entries {pending}")
        # 2 (L4). A customer's balance never goes below its debt limit.
        if account.kind == Account.Kind.CUSTOMER:
            if account.balance < -account.debt_limit:
                problems.append(f"account {account.pk}: balance {account.balance} below debt limit")
            if account.pending < 0:
                problems.append(f"account {account.pk}: pending {account.pending} below zero")

    # L2 (pgledger): each entry's balance_after is the running sum of its bucket, in version order.
    for entry_id in entries.filter(
        account__kind=Account.Kind.CUSTOMER, account_version__isnull=True
    ).values_list("pk", flat=True):
        problems.append(f"entry {entry_id}: a customer entry without a running balance")
    for entry_id in (
        entries.exclude(account__kind=Account.Kind.CUSTOMER)
        .filter(account_version__isnull=False)
        .values_list("pk", flat=True)
    ):
        problems.append(f"entry {entry_id}: a system account entry with a running balance")
    running: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    last_version: dict[int, int] = {}
    for account_id, version, bucket, amount, after in (
        entries.filter(account__kind=Account.Kind.CUSTOMER)
        .order_by("account_id", "account_version")
        .values_list("account_id", "account_version", "bucket", "amount", "balance_after")
    ):
        if version != last_version.get(account_id, 0) + 1:
            problems.append(f"account {account_id}: version {version} out of sequence")
        last_version[account_id] = version
        running[(account_id, bucket)] += amount
        if running[(account_id, bucket)] != after:
            problems.append(
                f"account {account_id} v{version}: balance_after {after} is not the running sum"
            )

    # 3 (L3). Every posting's legs sum to zero per currency, and an entry's currency is its account's.
    postings = Posting.objects.all()
    if account_ids is not None:
        postings = postings.filter(pk__in=entries.values("posting_id"))
    posting_sums = (
        LedgerEntry.objects.filter(posting__in=postings.values("pk"))
        .values("posting_id", "currency_id")
        .annotate(total=Sum("amount"))
    )
    for row in posting_sums.iterator():
        if exact(row["total"]) == 0:
            continue
        problems.append(
            f"posting {row['posting_id']}: legs sum to {row['total']} in currency {row['currency_id']}"
        )
    for entry_id in entries.exclude(currency_id=F("account__currency_id")).values_list(
        "pk", flat=True
    ):
        problems.append(f"entry {entry_id}: currency differs from its account's")
    lonely = postings.annotate(legs=Count("entries")).filter(legs__lt=2)
    for posting_id in lonely.values_list("pk", flat=True):
        problems.append(f"posting {posting_id}: fewer than two legs")

    # 4 (L6). Customer lots: every customer entry opens a lot or names the lot it moves; a
    # lot's cached remainder is its entry plus the entries naming it, within its bounds; the
    # remainders of active lots add up to the balance and those of pending lots to ``pending``.
    customer_entries = entries.filter(account__kind=Account.Kind.CUSTOMER)
    lots = Lot.objects.all()
    if account_ids is not None:
        lots = lots.filter(account_id__in=account_ids)
    lot_ids = set(lots.values_list("pk", flat=True))
    for entry_id in customer_entries.filter(lot__isnull=True).values_list("pk", flat=True):
        if entry_id not in lot_ids:
            problems.append(f"entry {entry_id}: customer entry opens no lot and names none")
    moved = {
        lot_id: exact(total)
        for lot_id, total in LedgerEntry.objects.filter(lot_id__in=lot_ids)
        .values("lot_id")
        .annotate(total=Sum("amount"))
        .values_list("lot_id", "total")
    }
    by_state: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for lot_id, account_id, kind, state, amount, remaining, opening in lots.values_list(
        "pk", "account_id", "kind", "state", "amount", "remaining", "entry__amount"
    ):
        expected = exact(opening) + moved.get(lot_id, ZERO)
        if remaining != expected or amount != opening:
            problems.append(
                f"lot {lot_id} of account {account_id}: remaining {remaining} != entries {expected}"
            )
        low, high = (ZERO, amount) if kind == Lot.Kind.EARN else (amount, ZERO)
        if not low <= remaining <= high:
            problems.append(
                f"lot {lot_id} of account {account_id}: remainder {remaining} outside [{low}, {high}]"
            )
        by_state[(account_id, state)] += remaining
    for account in accounts.filter(kind=Account.Kind.CUSTOMER):
        active = exact(by_state[(account.pk, Lot.State.ACTIVE)])
        pending = exact(by_state[(account.pk, Lot.State.PENDING)])
        if active != account.balance:
            problems.append(
                f"account {account.pk}: active lots {active} != balance {account.balance}"
            )
        if pending != account.pending:
            problems.append(
                f"account {account.pk}: pending lots {pending} != pending {account.pending}"
            )

    # 5 (L9). Every posting names its cause.
    for posting_id in postings.filter(cause="").values_list("pk", flat=True):
        problems.append(f"posting {posting_id}: no cause")
    # Gift certificates: each balance equals the sum of the certificate's own ledger.
    if account_ids is None:
        from loyalty.services.certificates import certificates_unbalanced

        problems += [
            f"certificate {code}: balance differs from the sum of its entries"
            for code in certificates_unbalanced()
        ]
    problems += reversal_violations(account_ids)
    return problems


# --- Reversals of refunded and cancelled receipts --------------------------------------------

REVERSAL_KINDS = (Posting.Kind.REFUND, Posting.Kind.REVERSAL)
BATCH = 500


def reversal_violations(account_ids: list[int] | None = None) -> list[str]:
    """Every refunded or cancelled receipt's refunds moved what its purchase did, in proportion.

    A cancelled or fully refunded receipt's earned points are all taken back (from the
    customer's lots, or recorded as a shortfall or a debt) and its spent points all given back;
    a partially refunded one's, each line's cumulative share of its returned units
    (``loyalty.shares``: the line rewards, or the postings of a receipt loaded from history).
    The refunds' own records of the shortfall, the debt and the points given back agree with
    their postings. (Exchanges given back are their own postings, not checked here.)"""
    receipts = Receipt.objects.exclude(status=Receipt.Status.CONFIRMED)
    if account_ids is not None:
        receipts = receipts.filter(
            pk__in=LedgerEntry.objects.filter(account_id__in=account_ids).values(
                "posting__receipt_id"
            )
        )
    ids = list(receipts.order_by("pk").values_list("pk", flat=True))
    places = dict(Currency.objects.values_list("pk", "decimal_places"))
    codes = dict(Currency.objects.values_list("pk", "code"))
    problems: list[str] = []
    for start in range(0, len(ids), BATCH):
        problems += _reversals_checked(ids[start : start + BATCH], places, codes)
    return problems


def _reversals_checked(ids: list[int], places: dict[int, int], codes: dict[int, str]) -> list[str]:
    receipts = Receipt.objects.filter(pk__in=ids).order_by("pk")
    lines: dict[int, list[ReceiptLine]] = defaultdict(list)
    for line in ReceiptLine.objects.filter(receipt_id__in=ids).order_by("receipt_id", "line_no"):
        lines[line.receipt_id].append(line)
    rewards: dict[int, list[tuple[int, int, Decimal]]] = defaultdict(list)
    for line_id, account_id, currency_id, amount in ReceiptLineReward.objects.filter(
        line__receipt_id__in=ids,
        refund__isnull=True,
        effect=ReceiptLineReward.Effect.POINTS,
        lot__isnull=False,
        amount__gt=0,
    ).values_list("line_id", "lot__account_id", "currency_id", "amount"):
        rewards[line_id].append((account_id, currency_id, amount))
    unlinked = unlinked_lots(ids)
    spent = spend_totals(ids)
    moved: dict[int, dict[str, dict[int, Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(Decimal))
    )
    for receipt_id, currency_id, amount, kind, purpose, lot_id in LedgerEntry.objects.filter(
        posting__receipt_id__in=ids,
        posting__cause=Posting.Cause.REFUND,
        posting__kind__in=REVERSAL_KINDS,
    ).values_list(
        "posting__receipt_id",
        "currency_id",
        "amount",
        "account__kind",
        "account__purpose",
        "lot_id",
    ):
        side = moved[receipt_id]
        if kind == Account.Kind.CUSTOMER and amount < 0:
            side["earned"][currency_id] -= amount
            if lot_id is None:
                side["debt"][currency_id] -= amount
        elif kind == Account.Kind.CUSTOMER:
            side["spent"][currency_id] += amount
        elif kind == Account.Kind.PROGRAMME and purpose == Account.Purpose.SHORTFALL:
            if amount < 0:
                side["earned"][currency_id] -= amount
                side["shortfall"][currency_id] -= amount
            else:
                side["spent"][currency_id] += amount  # an offline shortfall it had covered
    recorded: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for receipt_id, *amounts in Refund.objects.filter(receipt_id__in=ids).values_list(
        "receipt_id", "shortfall", "debt", "points_returned", "points_reversed"
    ):
        for name, amount in zip(
            ("shortfall", "debt", "returned", "reversed"), amounts, strict=True
        ):
            recorded[receipt_id][name] += amount
    owners = dict(
        Account.objects.filter(
            pk__in={a for parts in rewards.values() for a, _c, _x in parts}
            | {lot.account_id for lots in unlinked.values() for lot in lots}
        ).values_list("pk", "customer_id")
    )

    problems = []
    for receipt in receipts:
        name = f"receipt {receipt.pk} ({receipt.receipt_id}, {receipt.status})"
        whole = receipt.status in (Receipt.Status.CANCELLED, Receipt.Status.REFUNDED)
        rows = lines[receipt.pk]
        try:
            posted = lots_over_lines(rows, unlinked.get(receipt.pk, []), places)
            spent_of = {
                currency_id: spent_over_lines(rows, total, places[currency_id])
                for currency_id, total in spent.get(receipt.pk, {}).items()
            }
        except ReceiptNotReversible:
            problems.append(f"{name}: its postings cannot be spread over its lines")
            continue
        earned_due: dict[int, Decimal] = defaultdict(Decimal)
        spent_due: dict[int, Decimal] = defaultdict(Decimal)
        reversed_due = ZERO
        for line in rows:
            done = line.quantity if whole else line.refunded_quantity
            parts = rewards[line.pk] + [
                (lot.account_id, lot.currency_id, part) for lot, part in posted.get(line.pk, [])
            ]
            for account_id, currency_id, amount in parts:
                due = share(amount, done, line.quantity, places[currency_id])
                earned_due[currency_id] += due
                if (
                    currency_id == receipt.currency_id
                    and owners.get(account_id) == receipt.customer_id
                ):
                    reversed_due += due
            for currency_id, per_line in spent_of.items():
                spent_due[currency_id] += share(
                    per_line[line.pk], done, line.quantity, places[currency_id]
                )
        side = moved[receipt.pk]
        for label, due in (("earned", earned_due), ("spent", spent_due)):
            for currency_id in sorted(set(due) | set(side[label])):
                expected, actual = exact(due[currency_id]), exact(side[label][currency_id])
                if expected != actual:
                    verb = "taken back" if label == "earned" else "given back"
                    problems.append(
                        f"{name}: {label} {codes.get(currency_id, currency_id)} {verb} "
                        f"{actual} != {expected} due"
                    )
        mine = recorded[receipt.pk]
        checks = (
            ("shortfall", mine["shortfall"], sum(side["shortfall"].values(), ZERO), "posted"),
            ("debt", mine["debt"], sum(side["debt"].values(), ZERO), "posted"),
            ("points given back", mine["returned"], side["spent"][receipt.currency_id], "posted"),
            ("points taken back", mine["reversed"], reversed_due, "due"),
        )
        for label, on_refunds, other, what in checks:
            if exact(on_refunds) != exact(other):
                problems.append(
                    f"{name}: {label} {exact(on_refunds)} on its refunds != {exact(other)} {what}"
                )
    return problems
