"""The legs of a refund: the earned points taken back from the lots they opened (then from
other lots, then as a shortfall or a debt), the spent points given back to the lots they came
from (latest-expiring first), across a merge that moved the points to another customer; the
exchanges given back and the counters stepped back."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import F, Sum
from django.db.models.functions import Greatest

from loyalty.errors import (
    RefundExceedsPurchase,
)
from loyalty.models import (
    Account,
    CounterValue,
    LedgerEntry,
    Lot,
    Posting,
    Receipt,
    ReceiptCounterEffect,
    ReceiptExchange,
    ReceiptLineReward,
    Refund,
    RefundLine,
)
from loyalty.models.tiers import Counter
from loyalty.money import ZERO, quantize, share
from loyalty.services.ledger import (
    Actor,
    Leg,
    PostingSpec,
    customer_account,
    partner_account,
    postings_create,
    programme_account,
)
from loyalty.services.lots import lots_walk
from promotions.rules.snapshot import snapshot_get

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


def exchanges_return(receipt, refund, lines, locked, now) -> list[dict]:
    """Give back the points of the receipt's exchanges whose lines are all returned now (every
    line of the receipt for an exchange that touched none; any exchange on a cancel): each
    by a posting that reverses the one that paid for it, once (``returned_by``; the caller
    holds the receipt's lock). Returns what was given back, for the answer."""
    exchanges = list(
        ReceiptExchange.objects.filter(receipt=receipt, returned_by__isnull=True)
        .select_related("currency", "posting")
        .order_by("pk")
    )
    if not exchanges:
        return []
    cancel = refund.kind == Refund.Kind.CANCEL
    due = [
        exchange
        for exchange in exchanges
        if cancel
        or all(
            lines[no].refunded_quantity >= lines[no].quantity
            for no in (exchange.lines or lines)
            if no in lines
        )
    ]
    if not due:
        return []
    entries = (
        LedgerEntry.objects.filter(posting_id__in=[x.posting_id for x in due])
        .select_related("account")
        .order_by("pk")
    )
    lots = Lot.objects.in_bulk([e.lot_id for e in entries if e.lot_id is not None])
    legs_of = defaultdict(list)
    for entry in entries:
        account = locked.get(entry.account_id) or entry.account
        lot = lots.get(entry.lot_id) if entry.lot_id is not None else None
        legs_of[entry.posting_id].append(Leg(account=account, amount=-entry.amount, lot=lot))
    actor = Actor.for_terminal(refund.terminal)
    postings_create(
        [
            PostingSpec(
                kind=Posting.Kind.EXCHANGE,
                cause=Posting.Cause.REFUND,
                cause_ref=refund.refund_id or "cancel",
                actor=actor,
                legs=legs_of[exchange.posting_id],
                partner=receipt.partner,
                receipt=receipt,
                reverses=exchange.posting,
                description=f"exchange {exchange.code} given back"[:300],
                occurred_at=now,
            )
            for exchange in due
        ]
    )
    for exchange in due:
        exchange.returned_by = refund
        exchange.save(update_fields=["returned_by"])
    return [
        {
            "code": exchange.code,
            "currency": exchange.currency.code,
            "points": str(quantize(exchange.cost, exchange.currency.decimal_places)),
        }
        for exchange in due
    ]


def programme_of(receipt: Receipt) -> int:
    if receipt.currency_id:
        from loyalty.models import Currency

        return Currency.objects.values_list("programme_id", flat=True).get(pk=receipt.currency_id)
    sale_programme = snapshot_get().programme_for(receipt.partner_id)
    return sale_programme.id


def merged_accounts(account_ids) -> dict[int, int]:
    """For each of these customer accounts whose customer was merged into another, the account
    of the same currency of the customer that holds the points now (the last of a chain)."""
    moved: dict[int, int] = {}
    for account in Account.objects.filter(
        pk__in=account_ids, customer__merged_into__isnull=False
    ).select_related("customer__merged_into", "currency"):
        gone = account.customer
        assert gone is not None  # the filter: an account of a merged customer
        keep = gone.merged_into
        assert keep is not None
        while keep.merged_into is not None:  # merged again later: follow to the last
            keep = keep.merged_into
        moved[account.pk] = customer_account(keep, account.currency).pk
    return moved


def refund_legs(receipt, refund, movement, locked, now, redirect) -> tuple[list[Leg], dict]:
    """Legs that take back the earned points and give back the spent ones.

    ``redirect`` maps the account of a merged customer to the locked account that holds its
    points now: the points a merge moved are taken back there (the lot the merge opened with
    this receipt first), and spent points are given back there as new lots that keep the
    expiry and spending rule of the lots they were spent from.
    """
    totals = {"returned": ZERO, "reversed": ZERO, "shortfall": ZERO, "debt": ZERO}
    legs: list[Leg] = []
    if not locked:
        return legs, totals
    by_currency = {
        account.currency_id: account
        for account in locked.values()
        if account.customer_id == receipt.customer_id
    }
    policy = snapshot_get().programmes.get(programme_of(receipt))
    debt_policy = policy is not None and policy.refund_shortfall_policy == "debt"
    partner = receipt.partner

    # 1. Earned points: from the lot they opened, then from other lots, then shortfall or debt.
    per_lot: dict[int, Decimal] = defaultdict(Decimal)
    for reward, part in movement["rewards"]:
        if reward.effect == ReceiptLineReward.Effect.POINTS and reward.lot_id:
            per_lot[reward.lot_id] += part
    lots = Lot.objects.in_bulk(list(per_lot))
    taken_from: dict[int, Decimal] = defaultdict(Decimal)
    for lot_id, wanted in sorted(per_lot.items()):
        lot = lots[lot_id]
        account = locked[lot.account_id]
        is_receipt_customers = (
            account.currency_id == receipt.currency_id
            and account.customer_id == receipt.customer_id
        )
        currency = account.currency
        take = min(wanted, lot.remaining)
        if take > 0:
            legs.append(
                Leg(
                    account=account,
                    amount=-take,
                    bucket=PENDING if lot.state == Lot.State.PENDING else ACTIVE,
                    lot=lot,
                )
            )
            taken_from[lot.pk] += take
        left = wanted - take
        if left > 0 and account.pk in redirect:
            account = redirect[account.pk]
            successors = Lot.objects.filter(
                account=account,
                receipt=receipt,
                entry__posting__cause=Posting.Cause.MERGE,
                remaining__gt=0,
            ).order_by("entry_id")
            for successor in successors:
                room = successor.remaining - taken_from[successor.pk]
                if left <= 0:
                    break
                if room <= 0:
                    continue
                take = min(room, left)
                bucket = PENDING if successor.state == Lot.State.PENDING else ACTIVE
                legs.append(Leg(account=account, amount=-take, bucket=bucket, lot=successor))
                taken_from[successor.pk] += take
                left -= take
        if left > 0:
            others = Lot.objects.filter(account=account).spendable(now).exclude(pk=lot.pk)
            takes, left = lots_walk(others, left, now, taken=taken_from)
            legs += [Leg(account=account, amount=-take, lot=other) for other, take in takes]
        moved = wanted - left
        if left > 0 and debt_policy:
            balance_after = (
                account.balance
                - sum(
                    (
                        -leg.amount
                        for leg in legs
                        if leg.account.pk == account.pk and leg.bucket == ACTIVE
                    ),
                    ZERO,
                )
                - left
            )
            Account.objects.filter(pk=account.pk).update(
                debt_limit=Greatest(F("debt_limit"), -balance_after)
            )
            legs.append(Leg(account=account, amount=-left))
            totals["debt"] += left
            moved = wanted
        elif left > 0:
            legs.append(
                Leg(
                    account=programme_account(currency, Account.Purpose.SHORTFALL),
                    amount=-left,
                )
            )
            totals["shortfall"] += left
            moved = wanted
        legs.append(Leg(account=partner_account(partner, currency), amount=moved))
        if is_receipt_customers:
            totals["reversed"] += wanted

    # 2. Spent points go back to the lots they came from, latest-expiring first; the part an
    # offline receipt spent beyond the balance goes back to whoever covered it.
    to_return = movement["spent_points"]
    main = by_currency.get(receipt.currency_id)
    if to_return > 0 and main is not None:
        currency = main.currency
        holder = redirect.get(main.pk, main)
        sources = spend_sources(receipt, main, holder)
        partner_leg = Leg(account=partner_account(partner, currency), amount=-to_return)
        left = to_return
        for target, room in sources:
            if left <= 0:
                break
            give = min(room, left)
            if give <= 0:
                continue
            if isinstance(target, str):  # "shortfall"
                legs.append(
                    Leg(
                        account=programme_account(currency, Account.Purpose.SHORTFALL),
                        amount=give,
                    )
                )
            elif holder is main:
                legs.append(Leg(account=main, amount=give, lot=target))
            else:
                legs.append(
                    Leg(
                        account=holder,
                        amount=give,
                        expires_at=target.expires_at,
                        spend_rule_id=target.spend_rule_id,
                    )
                )
            left -= give
        if left > 0:  # pragma: no cover - the shares never exceed what was spent
            raise RefundExceedsPurchase(points=str(left))
        legs.append(partner_leg)
        totals["returned"] += to_return
    return legs, totals


def spend_sources(
    receipt: Receipt, account: Account, holder: Account | None = None
) -> list[tuple[Lot | str, Decimal]]:
    """Where the receipt's spent points came from, minus what refunds gave back, in the order
    they are given back: the covered shortfall first, then the lots latest-expiring first.

    ``holder``: the account that took ``account``'s points in a merge; what refunds gave back
    there (as new lots) is taken off the lots in the same order."""
    spent = LedgerEntry.objects.filter(
        posting__receipt=receipt,
        posting__kind=Posting.Kind.SPEND,
        account=account,
        amount__lt=0,
    ).order_by("pk")
    returned: dict[int, Decimal] = defaultdict(Decimal)
    for lot_id, amount in LedgerEntry.objects.filter(
        posting__receipt=receipt,
        posting__kind__in=[Posting.Kind.REFUND, Posting.Kind.REVERSAL],
        account=account,
        amount__gt=0,
    ).values_list("lot_id", "amount"):
        returned[lot_id] += amount
    sources: list[tuple[Lot | str, Decimal]] = []
    if receipt.offline_shortfall and receipt.currency_id:
        covered = (
            LedgerEntry.objects.filter(
                posting__receipt=receipt,
                posting__kind__in=[Posting.Kind.REFUND, Posting.Kind.REVERSAL],
                account__kind=Account.Kind.PROGRAMME,
                account__purpose=Account.Purpose.SHORTFALL,
                amount__gt=0,
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        shortfall_paid_by_programme = LedgerEntry.objects.filter(
            posting__receipt=receipt,
            posting__kind=Posting.Kind.SPEND,
            account__kind=Account.Kind.PROGRAMME,
        ).exists()
        if shortfall_paid_by_programme:
            sources.append(("shortfall", receipt.offline_shortfall - quantize(covered, 4)))
    lots = Lot.objects.in_bulk([entry.lot_id or entry.pk for entry in spent])
    for entry in reversed(list(spent)):
        lot = lots[entry.lot_id or entry.pk]
        room = -entry.amount - returned[lot.pk]
        if room > 0:
            sources.append((lot, room))
            returned[lot.pk] = ZERO
    if holder is not None and holder.pk != account.pk:
        given = (
            LedgerEntry.objects.filter(
                posting__receipt=receipt,
                posting__kind__in=[Posting.Kind.REFUND, Posting.Kind.REVERSAL],
                posting__cause=Posting.Cause.REFUND,
                account=holder,
                lot__isnull=True,
                amount__gt=0,
            ).aggregate(total=Sum("amount"))["total"]
            or ZERO
        )
        rest = []
        for source, room in sources:
            if isinstance(source, Lot) and given > 0:
                off = min(room, given)
                room, given = room - off, given - off
            if room > 0:
                rest.append((source, room))
        sources = rest
    return sources


def counters_undo(receipt: Receipt, refund: Refund, lines) -> None:
    effects = list(
        ReceiptCounterEffect.objects.filter(receipt=receipt, refund__isnull=True).select_related(
            "value__counter"
        )
    )
    if not effects:
        return
    taken: dict[int, Decimal] = defaultdict(Decimal)
    for value_id, delta in ReceiptCounterEffect.objects.filter(
        receipt=receipt, refund__isnull=False
    ).values_list("value_id", "delta"):
        taken[value_id] += -delta
    quantity = sum((line.quantity for line in lines.values()), ZERO)
    refunded_quantity = sum((line.refunded_quantity for line in lines.values()), ZERO)
    refunded_money = (
        RefundLine.objects.filter(refund__receipt=receipt).aggregate(total=Sum("to_pay"))["total"]
        or ZERO
    )
    fully = refunded_quantity >= quantity
    undo = []
    for effect in effects:
        unit = effect.value.counter.unit
        if unit in (Counter.Unit.PURCHASES, Counter.Unit.STEPS):
            target = effect.delta if fully else ZERO
        elif unit == Counter.Unit.AMOUNT:
            target = (
                effect.delta
                if fully
                else share(effect.delta, quantize(refunded_money), receipt.to_pay or Decimal(1), 4)
            )
        else:
            target = share(effect.delta, refunded_quantity, quantity, 4)
        step = target - taken[effect.value_id]
        if step > 0:
            CounterValue.objects.filter(pk=effect.value_id).update(
                value=Greatest(F("value") - step, 0)
            )
            undo.append(
                ReceiptCounterEffect(
                    receipt=receipt, refund=refund, value=effect.value, delta=-step
                )
            )
    ReceiptCounterEffect.objects.bulk_create(undo)
