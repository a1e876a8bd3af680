"""What each line of a receipt moved, for its refunds to take back in proportion.

A purchase confirmed by the registers' pipeline names, per line, the lot each promotion's points
opened (``ReceiptLineReward``) and the points the line was paid with (``spent_points``). A
receipt loaded from history (reports/demo.py makes 13,800) has its earn and spend postings and
its lines, and neither of those. Its shares come from the postings:

- each lot its earn postings opened that no line reward names is spread over the lines by the
  largest remainder, in proportion to what each line earned (``points_earned``; else to what it
  paid in money, its amount, its quantity);
- the points its spend postings took (the partner's side of them, shortfall included) are
  spread likewise in proportion to the money each line paid with points, unless the lines'
  own ``spent_points`` add up to them.

A refund then takes, per line and per share, the cumulative share of the units returned so
far minus what earlier refunds took (``loyalty.money.share``), as for a linked receipt, so
several partial refunds never move more than the purchase did. The refunds
(``processing.refund``) and the ledger check (``loyalty.reconciliation``) use the same shares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from loyalty.errors import ReceiptNotReversible
from loyalty.models import Account, LedgerEntry, Posting, ReceiptLine, ReceiptLineReward
from loyalty.money import ZERO, allocate, quantize


@dataclass(frozen=True)
class OpenedLot:
    """A lot an earn posting of a receipt opened on a customer's account."""

    lot_id: int
    account_id: int
    currency_id: int
    amount: Decimal


def unlinked_lots(receipt_ids: Iterable[int]) -> dict[int, list[OpenedLot]]:
    """Per receipt, the lots its earn postings opened that no line reward names."""
    receipt_ids = list(receipt_ids)
    if not receipt_ids:
        return {}
    linked = set(
        ReceiptLineReward.objects.filter(
            line__receipt_id__in=receipt_ids, lot__isnull=False
        ).values_list("lot_id", flat=True)
    )
    found: dict[int, list[OpenedLot]] = defaultdict(list)
    for pk, receipt_id, account_id, currency_id, amount in (
        LedgerEntry.objects.filter(
            posting__receipt_id__in=receipt_ids,
            posting__kind=Posting.Kind.EARN,
            posting__cause=Posting.Cause.RECEIPT,
            account__kind=Account.Kind.CUSTOMER,
            lot__isnull=True,
            amount__gt=0,
        )
        .order_by("pk")
        .values_list("pk", "posting__receipt_id", "account_id", "currency_id", "amount")
    ):
        if pk not in linked:
            found[receipt_id].append(OpenedLot(pk, account_id, currency_id, amount))
    return found


def spend_totals(receipt_ids: Iterable[int]) -> dict[int, dict[int, Decimal]]:
    """Per receipt and currency, the points its spend postings took: what they gave the
    partner (the customer's lots plus an offline shortfall, covered or owed)."""
    receipt_ids = list(receipt_ids)
    totals: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    if not receipt_ids:
        return totals
    for receipt_id, currency_id, amount in LedgerEntry.objects.filter(
        posting__receipt_id__in=receipt_ids,
        posting__kind=Posting.Kind.SPEND,
        posting__cause=Posting.Cause.RECEIPT,
        account__kind=Account.Kind.PARTNER,
    ).values_list("posting__receipt_id", "currency_id", "amount"):
        totals[receipt_id][currency_id] += amount
    return totals


def _weights(lines: Sequence[ReceiptLine], *fields: str) -> list[Decimal]:
    """The first of ``fields`` that some line has, else the lines' quantities."""
    for name in fields:
        weights = [getattr(line, name) for line in lines]
        if sum(weights, ZERO) > 0:
            return weights
    return [line.quantity for line in lines]


def _spread(total: Decimal, weights: list[Decimal], places: int, receipt_id: str) -> list[Decimal]:
    if not weights or quantize(total, places) != total:
        raise ReceiptNotReversible(receipt_id=receipt_id)
    return allocate(total, weights, places)


def lots_over_lines(
    lines: Sequence[ReceiptLine],
    lots: Sequence[OpenedLot],
    places: Mapping[int, int],
    receipt_id: str = "",
) -> dict[int, list[tuple[OpenedLot, Decimal]]]:
    """Each lot spread over the lines: line pk -> [(lot, its part)], parts not zero.

    Raises ``ReceiptNotReversible`` when a lot cannot be spread: the receipt has no lines, or
    the lot is finer than its currency's places (changed since)."""
    if not lots:
        return {}
    lines = sorted(lines, key=lambda line: line.line_no)
    weights = _weights(lines, "points_earned", "to_pay", "amount")
    parts: dict[int, list[tuple[OpenedLot, Decimal]]] = defaultdict(list)
    for lot in lots:
        spread = _spread(lot.amount, weights, places[lot.currency_id], receipt_id)
        for line, part in zip(lines, spread, strict=True):
            if part:
                parts[line.pk].append((lot, part))
    return parts


def spent_over_lines(
    lines: Sequence[ReceiptLine], total: Decimal, places: int, receipt_id: str = ""
) -> dict[int, Decimal]:
    """line pk -> the points the line was paid with: the lines' own ``spent_points`` when
    they add up to ``total`` (what the spend postings took), else ``total`` spread over the
    lines by the money they paid with points.

    Raises ``ReceiptNotReversible`` when ``total`` cannot be spread (no lines, too fine)."""
    own = {line.pk: line.spent_points for line in lines}
    if sum(own.values(), ZERO) == total:
        return own
    if not total:
        return dict.fromkeys(own, ZERO)
    lines = sorted(lines, key=lambda line: line.line_no)
    weights = _weights(lines, "points_spent", "amount")
    spread = _spread(total, weights, places, receipt_id)
    return {line.pk: part for line, part in zip(lines, spread, strict=True)}
