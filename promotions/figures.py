"""A promotion's live figures, read from what the pipeline already writes (the per-line rewards
of confirmed purchases and the negative rows their refunds add): receipts and customers
reached, discount given, points given, in a period. One grouped query for any number of
promotions; nothing is added to the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum

from loyalty.models import Receipt, ReceiptLineReward
from loyalty.money import ZERO


@dataclass(frozen=True)
class Figures:
    receipts: int = 0  # confirmed purchases the promotion gave something on
    customers: int = 0
    discount: Decimal = ZERO  # net of refunds
    points: Decimal = ZERO  # net of refunds, in the promotion's currencies


def promotion_figures(
    promotion_ids, since: datetime | None = None, until: datetime | None = None
) -> dict[int, Figures]:
    """Figures per promotion id for the purchases sold in [since, until)."""
    ids = list(promotion_ids)
    if not ids:
        return {}
    rows = ReceiptLineReward.objects.filter(promotion_id__in=ids)
    if since is not None:
        rows = rows.filter(line__receipt__sold_at__gte=since)
    if until is not None:
        rows = rows.filter(line__receipt__sold_at__lt=until)
    given = Q(refund__isnull=True) & ~Q(line__receipt__status=Receipt.Status.CANCELLED)
    found = rows.values("promotion_id").annotate(
        receipts=Count("line__receipt_id", filter=given, distinct=True),
        customers=Count("line__receipt__customer_id", filter=given, distinct=True),
        discount=Sum("amount", filter=Q(effect=ReceiptLineReward.Effect.DISCOUNT)),
        points=Sum("amount", filter=Q(effect=ReceiptLineReward.Effect.POINTS)),
    )
    return {
        row["promotion_id"]: Figures(
            receipts=row["receipts"],
            customers=row["customers"],
            discount=row["discount"] or ZERO,
            points=row["points"] or ZERO,
        )
        for row in found
    }
