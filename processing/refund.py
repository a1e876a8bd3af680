"""Reading, refunding and cancelling a purchase.

Refunds and cancellations reverse what each returned line earned and spent, cumulatively, so
several partial refunds never take back more than the purchase moved. A receipt loaded from
history names no line rewards: its earn and spend postings are spread over its lines instead
(``loyalty.shares``), and one whose postings cannot be is refused (``receipt_not_reversible``). An exchange's points
come back once: on a cancel, or when every line it touched is returned (all of them for an
exchange that touched none); a tier a promotion gave is taken back on a cancel or a return of
everything, as its coupons are. A refund id is processed once per terminal; a cancel once
per receipt."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.errors import (
    LoyaltyError,
    NothingToRefund,
    ReceiptCancelled,
    ReceiptNotFound,
    ReceiptNotReversible,
    ReceiptNotYetKnown,
    RefundConflict,
    RefundExceedsPurchase,
    UnknownLine,
)
from loyalty.locks import accounts_for_update, receipt_lines_for_update
from loyalty.models import (
    Account,
    Currency,
    Hold,
    LedgerEntry,
    Posting,
    Receipt,
    ReceiptLine,
    ReceiptLineReward,
    Refund,
    RefundLine,
    Terminal,
    TierChange,
)
from loyalty.money import DECIMAL_PLACES, ZERO, money_text, points_text, quantize, share
from loyalty.services.certificates import (
    certificates_refund,
    certificates_release,
)
from loyalty.services.ledger import (
    Actor,
    PostingSpec,
    postings_create,
)
from loyalty.services.lots import debts_settle, hold_release
from loyalty.shares import lots_over_lines, spend_totals, spent_over_lines, unlinked_lots
from loyalty.transactions import money_transaction, retrying
from processing.record import purchase_record
from processing.reversal import (
    counters_undo,
    exchanges_return,
    merged_accounts,
    programme_of,
    refund_legs,
)
from processing.sale import digest, terminal_loaded
from processing.tiers import tier_awards_undo, tier_progress, tier_record
from promotions.coupons import (
    coupons_release,
    coupons_return,
    coupons_withdraw,
    hold_key,
)
from promotions.rules.snapshot import snapshot_get
from promotions.usage import usage_undo

PENDING = LedgerEntry.Bucket.PENDING
ACTIVE = LedgerEntry.Bucket.ACTIVE


def _receipt_find(terminal: Terminal, receipt_id: str) -> Receipt | None:
    """The terminal's receipt, else the partner's only receipt with this id (a return made at
    another register of the same partner). Another partner's receipts are never found."""
    receipt = Receipt.objects.filter(terminal=terminal, receipt_id=receipt_id).first()
    if receipt is not None:
        return receipt
    found = list(
        Receipt.objects.filter(partner_id=terminal.store.partner_id, receipt_id=receipt_id)[:2]
    )
    return found[0] if len(found) == 1 else None


def _not_found(terminal: Terminal, receipt_id: str, *, may_arrive: bool) -> LoyaltyError:
    """Why no receipt was found, as an error to raise.

    Another partner's receipt, or one that several registers of this partner confirmed (the id
    does not say which), is not found (404): waiting changes nothing, so a register must not
    retry. Only an id no register has confirmed may still arrive (an offline upload pending):
    a refund or cancel of it is ``receipt_not_yet_known`` (409, retry later)."""
    mine = Receipt.objects.filter(partner_id=terminal.store.partner_id, receipt_id=receipt_id)
    if mine.exists():
        return ReceiptNotFound(
            message=_(
                "Several registers of this partner confirmed a receipt with this id; return it "
                "at the register that sold it."
            ),
            receipt_id=receipt_id,
        )
    if not may_arrive or Receipt.objects.filter(receipt_id=receipt_id).exists():
        return ReceiptNotFound(receipt_id=receipt_id)
    return ReceiptNotYetKnown(receipt_id=receipt_id)


def purchase_get(terminal: Terminal, receipt_id: str) -> dict:
    """The committed purchase as confirm returned it, with its current status and refunds."""
    terminal = terminal_loaded(terminal)
    receipt = _receipt_find(terminal, receipt_id)
    if receipt is None:
        raise _not_found(terminal, receipt_id, may_arrive=False)
    return _with_refunds(receipt)


def _with_refunds(receipt: Receipt) -> dict:
    # A receipt loaded from history has no stored answer: its record is built from its rows.
    answer = dict(receipt.result) if receipt.result else purchase_record(receipt)
    answer["status"] = receipt.status
    answer["refunds"] = [refund.result for refund in receipt.refunds.order_by("pk")]
    return answer


def purchase_cancel(terminal: Terminal, receipt_id: str) -> dict:
    """Void a purchase: reverse everything its refunds have not, release its hold. Idempotent."""
    terminal = terminal_loaded(terminal)
    receipt = _receipt_find(terminal, receipt_id)
    if receipt is None:
        released = retrying(lambda: _cancel_hold_only(terminal, receipt_id))
        if released:
            return {"receipt_id": receipt_id, "status": "cancelled", "hold_released": True}
        raise _not_found(terminal, receipt_id, may_arrive=True)
    fingerprint = digest({"cancel": receipt_id})
    return retrying(lambda: _refund(terminal, receipt, Refund.Kind.CANCEL, "", fingerprint, None))


def _cancel_hold_only(terminal: Terminal, receipt_id: str) -> bool:
    hold = Hold.objects.filter(
        terminal=terminal, receipt_id=receipt_id, status=Hold.Status.ACTIVE
    ).first()
    coupons = coupons_release(hold_key(terminal.pk, receipt_id))
    coupons += certificates_release(hold_key(terminal.pk, receipt_id))
    if hold is None:
        return coupons > 0
    with money_transaction():
        list(accounts_for_update([hold.account_id]))
        return hold_release(terminal, receipt_id, Hold.Status.RELEASED, timezone.now()) is not None


def purchase_refund(
    terminal: Terminal,
    receipt_id: str,
    refund_id: str,
    lines: list[tuple[int, Decimal]] | None,
) -> dict:
    """Return ``lines`` (line number, quantity) of a purchase, or all that is left; once per id."""
    terminal = terminal_loaded(terminal)
    fingerprint = digest(
        {
            "receipt_id": receipt_id,
            "lines": None
            if lines is None
            else sorted([no, str(Decimal(qty).normalize())] for no, qty in lines),
        }
    )
    existing = Refund.objects.filter(
        terminal=terminal, refund_id=refund_id, kind=Refund.Kind.REFUND
    ).first()
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise RefundConflict(refund_id=refund_id)
        return existing.result
    receipt = _receipt_find(terminal, receipt_id)
    if receipt is None:
        raise _not_found(terminal, receipt_id, may_arrive=True)
    return retrying(
        lambda: _refund(terminal, receipt, Refund.Kind.REFUND, refund_id, fingerprint, lines)
    )


class _MergedMeanwhile(Exception):
    """A customer of the refund was merged while the refund waited for the account locks."""


def _refund(terminal, receipt, kind, refund_id, fingerprint, requested) -> dict:
    # A merge that committed while the refund waited for its locks moved the points on: read
    # again which accounts hold them (merges are rare; a third one in a row raises).
    for _attempt in range(2):
        try:
            return _refund_once(terminal, receipt, kind, refund_id, fingerprint, requested)
        except _MergedMeanwhile:
            continue
    return _refund_once(terminal, receipt, kind, refund_id, fingerprint, requested)


def _refund_once(terminal, receipt, kind, refund_id, fingerprint, requested) -> dict:
    customer_accounts = (
        list(
            Account.objects.filter(kind=Account.Kind.CUSTOMER, customer_id=receipt.customer_id)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if receipt.customer_id
        else []
    )
    # Points the purchase gave the customer's referrer are taken back from the referrer.
    others = set(
        ReceiptLineReward.objects.filter(line__receipt=receipt, lot__isnull=False)
        .exclude(lot__account__customer_id=receipt.customer_id)
        .values_list("lot__account_id", flat=True)
        .distinct()
    )
    # A receipt loaded from history names no lots per line: its earn postings' lots are
    # taken back in proportion (loyalty.shares), from whichever accounts hold them.
    unlinked = unlinked_lots([receipt.pk]).get(receipt.pk, [])
    others |= {lot.account_id for lot in unlinked}
    # A merge moved the points of a merged customer's accounts on: what the refund takes back
    # or gives back goes to the kept customer's account of the same currency.
    moved_to = merged_accounts({*customer_accounts, *others})
    holder = receipt.customer
    while holder is not None and holder.merged_into_id is not None:
        holder = holder.merged_into
    customer_accounts = sorted({*customer_accounts, *others, *moved_to.values()})
    with money_transaction():
        locked = {a.pk: a for a in accounts_for_update(customer_accounts)}
        redirect = {gone: locked[keep] for gone, keep in moved_to.items()}
        if (
            Account.objects.filter(pk__in=list(locked), customer__merged_into__isnull=False)
            .exclude(pk__in=list(redirect))
            .exists()
        ):
            raise _MergedMeanwhile
        receipt = Receipt.objects.select_for_update().get(pk=receipt.pk)
        # Again under the locks: a racing duplicate may have committed while we waited.
        if kind == Refund.Kind.CANCEL:
            done = Refund.objects.filter(receipt=receipt, kind=Refund.Kind.CANCEL).first()
            if done is not None:
                return done.result
        else:
            done = Refund.objects.filter(
                terminal=terminal, refund_id=refund_id, kind=Refund.Kind.REFUND
            ).first()
            if done is not None:
                if done.fingerprint != fingerprint:
                    raise RefundConflict(refund_id=refund_id)
                return done.result
            if receipt.status == Receipt.Status.CANCELLED:
                raise ReceiptCancelled(receipt_id=receipt.receipt_id)
        lines = {line.line_no: line for line in receipt_lines_for_update(receipt)}
        plan = _refund_plan(lines, requested, kind)
        shares = _posted_shares(receipt, lines, unlinked)
        now = timezone.now()
        refund = Refund.objects.create(
            receipt=receipt,
            terminal=terminal,
            kind=kind,
            refund_id=refund_id,
            fingerprint=fingerprint,
            created_at=now,
        )
        movement = _refund_lines(receipt, refund, lines, plan, shares)
        legs, totals = refund_legs(receipt, refund, movement, locked, now, redirect)
        if legs:
            postings_create(
                [
                    PostingSpec(
                        kind=Posting.Kind.REFUND
                        if kind == Refund.Kind.REFUND
                        else Posting.Kind.REVERSAL,
                        cause=Posting.Cause.REFUND,
                        cause_ref=refund_id or "cancel",
                        actor=Actor.for_terminal(terminal),
                        legs=legs,
                        partner=receipt.partner,
                        receipt=receipt,
                        occurred_at=now,
                    )
                ]
            )
        for account in locked.values():
            debts_settle(account, Actor.for_terminal(terminal), receipt, now)
        counters_undo(receipt, refund, lines)
        fraction_money = movement["to_pay"]
        if receipt.customer_id and receipt.tier_amount:
            undone = _tier_undo(receipt, movement["to_pay"])
            if undone:
                _name, move = tier_progress(
                    holder, programme_of(receipt), -undone, TierChange.Reason.REFUND
                )
                if move is not None:
                    tier_record(move, receipt)
        fully = all(line.refunded_quantity >= line.quantity for line in lines.values())
        whole = fully or kind == Refund.Kind.CANCEL
        usage_undo(receipt, refund, whole)
        given_back = exchanges_return(receipt, refund, lines, locked, now)
        certificates_back, _cash = certificates_refund(
            receipt, refund, movement["moved"], terminal, now, cancel=kind == Refund.Kind.CANCEL
        )
        if whole:
            coupons_withdraw(receipt)
            coupons_return(receipt, now)
            tier_awards_undo(receipt, refund, now, holder.pk if holder else None)
        if kind == Refund.Kind.CANCEL:
            receipt.status = Receipt.Status.CANCELLED
            hold_release(receipt.terminal, receipt.receipt_id, Hold.Status.RELEASED, now)
        else:
            receipt.status = Receipt.Status.REFUNDED if fully else Receipt.Status.PARTIALLY_REFUNDED
        Receipt.objects.filter(pk=receipt.pk).update(status=receipt.status)
        main = next(
            (
                a
                for a in locked.values()
                if a.currency_id == receipt.currency_id
                and holder is not None
                and a.customer_id == holder.pk
            ),
            None,
        )
        if main is not None:
            main.refresh_from_db(fields=["balance", "pending"])
        refund.amount = movement["amount"]
        refund.to_pay = fraction_money
        refund.points_returned = totals["returned"]
        refund.points_reversed = totals["reversed"]
        refund.shortfall = totals["shortfall"]
        refund.debt = totals["debt"]
        places = movement["places"]
        refund.result = {
            "receipt_id": receipt.receipt_id,
            "refund_id": refund_id or None,
            "kind": kind,
            "status": receipt.status,
            "amount": money_text(refund.amount),
            "to_pay": money_text(refund.to_pay),
            "points_returned": points_text(refund.points_returned, places),
            "points_reversed": points_text(refund.points_reversed, places),
            "shortfall": points_text(refund.shortfall, places),
            "debt": points_text(refund.debt, places),
            "lines": movement["lines"],
            "balance": (
                {
                    "after": points_text(main.balance, places),
                    "pending": points_text(main.pending, places),
                }
                if main
                else None
            ),
            **({"exchanges_returned": given_back} if given_back else {}),
            **(
                {
                    "certificates_returned": [_money_entry(entry) for entry in certificates_back],
                    "money_back": money_text(
                        fraction_money
                        - sum(
                            (
                                Decimal(entry["amount"])
                                for entry in certificates_back
                                if entry["to"] == "certificate"
                            ),
                            ZERO,
                        )
                    ),
                }
                if certificates_back
                else {}
            ),
        }
        refund.save()
        return refund.result


@dataclass(frozen=True)
class _PostedShare:
    """A line's share of a lot that its receipt's earn posting opened and no line reward names
    (a receipt loaded from history): taken back like a line reward, with no row of its own."""

    lot_id: int
    currency_id: int
    effect: str = ReceiptLineReward.Effect.POINTS


@dataclass(frozen=True)
class _Shares:
    """What each line moved, beyond its line rewards (see ``loyalty.shares``)."""

    earned: dict  # line pk -> [(OpenedLot, the line's part of it)]: unlinked lots only
    spent: dict  # line pk -> the points the line was paid with
    places: dict  # currency id -> decimal places, of the currencies involved
    places_main: int  # the receipt's currency's places (money's for an anonymous receipt)


def _posted_shares(receipt: Receipt, lines: dict, unlinked: list) -> _Shares:
    """The shares of the receipt's postings per line: its lines' own ``spent_points`` and its
    line rewards for a purchase confirmed here; spread from the postings for one loaded from
    history. Raises ``ReceiptNotReversible`` where they cannot be spread over its lines."""
    spent_by_currency = {
        currency_id: total
        for currency_id, total in spend_totals([receipt.pk]).get(receipt.pk, {}).items()
        if total
    }
    if set(spent_by_currency) - {receipt.currency_id} or (
        spent_by_currency and receipt.customer_id is None
    ):
        # Spent in a currency the receipt does not name, or by nobody: no account to give to.
        raise ReceiptNotReversible(receipt_id=receipt.receipt_id)
    main_id = receipt.currency_id
    ids = {lot.currency_id for lot in unlinked}
    if main_id is not None:
        ids.add(main_id)
    places = dict(Currency.objects.filter(pk__in=ids).values_list("pk", "decimal_places"))
    places_main = places.get(main_id, DECIMAL_PLACES) if main_id is not None else DECIMAL_PLACES
    spent = spent_by_currency.get(main_id, ZERO) if main_id is not None else ZERO
    rows = list(lines.values())
    return _Shares(
        earned=lots_over_lines(rows, unlinked, places, receipt.receipt_id),
        spent=spent_over_lines(rows, spent, places_main, receipt.receipt_id),
        places=places,
        places_main=places_main,
    )


def _money_entry(entry: dict) -> dict:
    """A certificate's entry of the answer with its amounts in kopecks."""
    return {
        key: money_text(Decimal(value)) if key in ("amount", "balance_after") else value
        for key, value in entry.items()
    }


def _refund_plan(lines, requested, kind) -> dict[int, Decimal]:
    """Quantities to return per line number; raises on unknown lines and over-returns."""
    plan: dict[int, Decimal]
    if requested is None:
        plan = {
            no: line.quantity - line.refunded_quantity
            for no, line in lines.items()
            if line.quantity > line.refunded_quantity
        }
        if not plan and kind == Refund.Kind.REFUND:
            raise NothingToRefund()
        return plan
    plan = {}
    for no, quantity in requested:
        if no not in lines:
            raise UnknownLine(line=no)
        plan[no] = plan.get(no, ZERO) + Decimal(quantity)
    for no, quantity in plan.items():
        line = lines[no]
        if quantity <= 0 or line.refunded_quantity + quantity > line.quantity:
            raise RefundExceedsPurchase(
                line=no,
                bought=str(line.quantity),
                returned=str(line.refunded_quantity),
                asked=str(quantity),
            )
    return plan


class _Movement(TypedDict):
    """What a refund's lines move (``_refund_lines``)."""

    amount: Decimal
    to_pay: Decimal
    lines: list[dict]  # the answer's lines
    rewards: list[tuple[ReceiptLineReward | _PostedShare, Decimal]]  # the parts taken back
    moved: dict[int, tuple[Decimal, Decimal, Decimal]]  # line no -> refunded before, after, of
    spent_points: Decimal
    places: int  # of the receipt's currency, for the answer


def _refund_lines(receipt, refund, lines, plan, shares: _Shares) -> _Movement:
    """Write the refund's lines: each field's cumulative share minus what earlier refunds took."""
    spent_places = shares.places_main
    totals: _Movement = {
        "amount": ZERO,
        "to_pay": ZERO,
        "lines": [],
        "rewards": [],
        "moved": {},
        "spent_points": ZERO,  # set at the end
        "places": spent_places,
    }
    refund_lines = []
    places = {c.id: c.decimal_places for c in snapshot_get().currencies.values()}
    places.update(shares.places)
    rewards = defaultdict(list)
    for reward in ReceiptLineReward.objects.filter(line__receipt=receipt).order_by("pk"):
        rewards[reward.line_id].append(reward)
    for no, quantity in sorted(plan.items()):
        line = lines[no]
        before, after = line.refunded_quantity, line.refunded_quantity + quantity

        def delta(value, places=DECIMAL_PLACES, line=line, before=before, after=after):
            return share(value, after, line.quantity, places) - share(
                value, before, line.quantity, places
            )

        moved = RefundLine(
            refund=refund,
            line=line,
            quantity=quantity,
            amount=delta(line.amount),
            discount=delta(line.discount),
            points_spent=delta(line.points_spent),
            to_pay=delta(line.to_pay),
            spent_points=delta(shares.spent[line.pk], spent_places),
            points_earned=ZERO,
        )
        for reward in rewards[line.pk]:
            if reward.refund_id is not None or reward.amount <= 0:
                continue
            currency_id = reward.currency_id  # a discount's: none, money's places
            part = delta(
                reward.amount,
                places.get(currency_id, DECIMAL_PLACES)
                if currency_id is not None
                else DECIMAL_PLACES,
            )
            if not part:
                continue
            totals["rewards"].append((reward, part))
            if reward.effect == ReceiptLineReward.Effect.POINTS and (
                reward.currency_id == receipt.currency_id
            ):
                moved.points_earned += part
        for lot, whole_part in shares.earned.get(line.pk, ()):
            part = delta(whole_part, places[lot.currency_id])
            if not part:
                continue
            totals["rewards"].append((_PostedShare(lot.lot_id, lot.currency_id), part))
            if lot.currency_id == receipt.currency_id:
                moved.points_earned += part
        refund_lines.append(moved)
        line.refunded_quantity = after
        totals["moved"][no] = (before, after, line.quantity)
        totals["amount"] += moved.amount
        totals["to_pay"] += moved.to_pay
        totals["lines"].append(
            {
                "line": no,
                "quantity": str(quantity),
                "amount": money_text(moved.amount),
                "discount": money_text(moved.discount),
                "points_spent": money_text(moved.points_spent),
                "to_pay": money_text(moved.to_pay),
                "points_earned": points_text(moved.points_earned, spent_places),
            }
        )
    RefundLine.objects.bulk_create(refund_lines)
    for line in lines.values():
        ReceiptLine.objects.filter(pk=line.pk).update(refunded_quantity=line.refunded_quantity)
    ReceiptLineReward.objects.bulk_create(
        [
            ReceiptLineReward(
                line=reward.line,
                refund=refund,
                promotion_id=reward.promotion_id,
                effect=reward.effect,
                currency_id=reward.currency_id,
                amount=-part,
                lot_id=reward.lot_id,
            )
            for reward, part in totals["rewards"]
            if isinstance(reward, ReceiptLineReward)
        ]
    )
    totals["spent_points"] = sum((line.spent_points for line in refund_lines), ZERO)
    return totals


def _tier_undo(receipt: Receipt, this_refund: Decimal) -> Decimal:
    """The part of the receipt's tier progress that this refund takes back (cumulative)."""
    after = quantize(
        RefundLine.objects.filter(refund__receipt=receipt).aggregate(total=Sum("to_pay"))["total"]
        or ZERO
    )
    whole = receipt.to_pay or Decimal(1)
    return share(receipt.tier_amount, after, whole, 2) - share(
        receipt.tier_amount, after - this_refund, whole, 2
    )
