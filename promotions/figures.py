"""A promotion's live figures, read from what the pipeline already writes (the per-line rewards
of confirmed purchases and the negative rows their refunds add): receipts and customers
reached, discount given, points given, in a period. One grouped query for any number of
promotions; nothing is added to the hot path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from loyalty.models import Receipt, ReceiptLineReward
from loyalty.money import ZERO


@dataclass(frozen=True)
class Figures:
    receipts: int = 0  # confirmed purchases the promotion gave something on
    customers: int = 0
    discount: Decimal = ZERO  # net of refunds
    points: Decimal = ZERO  # net of refunds, in the promotion's currencies


# What a promotion gave on confirmed purchases, net of refunds (their rows are negative) and
# of cancels.
GIVEN = Q(refund__isnull=True) & ~Q(line__receipt__status=Receipt.Status.CANCELLED)


def _sales(prefix: str = "", window: Q | None = None) -> dict:
    """The aggregates of ``Figures`` over ReceiptLineReward rows (in ``window``), named
    ``<prefix>receipts``, ``<prefix>customers``, ``<prefix>discount``, ``<prefix>points``."""
    window = window if window is not None else Q()
    return {
        f"{prefix}receipts": Count("line__receipt_id", filter=GIVEN & window, distinct=True),
        f"{prefix}customers": Count(
            "line__receipt__customer_id", filter=GIVEN & window, distinct=True
        ),
        f"{prefix}discount": Sum(
            "amount", filter=window & Q(effect=ReceiptLineReward.Effect.DISCOUNT)
        ),
        f"{prefix}points": Sum("amount", filter=window & Q(effect=ReceiptLineReward.Effect.POINTS)),
    }


def _figures(row: dict, prefix: str = "") -> Figures:
    return Figures(
        receipts=row[f"{prefix}receipts"],
        customers=row[f"{prefix}customers"],
        discount=row[f"{prefix}discount"] or ZERO,
        points=row[f"{prefix}points"] or ZERO,
    )


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
    found = rows.values("promotion_id").annotate(**_sales())
    return {row["promotion_id"]: _figures(row) for row in found}


@dataclass(frozen=True)
class Period:
    key: str  # today, week, start
    since: datetime | None
    figures: Figures
    occasions: int = 0  # customers rewarded by an occasion (promotions not started by a sale)
    occasion_given: Decimal = ZERO  # what the occasions gave, points at their rate in money


@dataclass(frozen=True)
class Live:
    """A promotion's page figures: three periods, its budget and its limits."""

    periods: list[Period]
    budget: Decimal | None
    budget_used: Decimal
    limits: dict[str, int]  # limit -> customers (or days) that reached it

    @property
    def budget_left(self) -> Decimal | None:
        return None if self.budget is None else max(self.budget - self.budget_used, ZERO)

    @property
    def budget_share(self) -> int | None:
        if not self.budget:
            return None
        return min(100, int(self.budget_used * 100 / self.budget))


def period_starts(now: datetime) -> dict[str, datetime]:
    """Today and this week (from Monday) on the back office's clock."""
    local = timezone.localtime(now)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"today": today, "week": today - timedelta(days=local.weekday())}


def live_figures(promotion, now: datetime | None = None) -> Live:
    """Receipts and customers reached, discount and points given (net of refunds) today,
    this week and since the start; occasions rewarded; budget used and left; the limits
    customers and days have reached. Four queries, whatever the promotion's size."""
    from promotions.models import PromotionUsage, TriggerFiring

    now = now or timezone.now()
    starts = period_starts(now)
    windows = [("today", starts["today"]), ("week", starts["week"]), ("start", None)]
    aggregates = {}
    for key, since in windows:
        window = Q(line__receipt__sold_at__gte=since) if since is not None else Q()
        aggregates |= _sales(f"{key}_", window)
    sales = ReceiptLineReward.objects.filter(promotion=promotion).aggregate(**aggregates)
    firing_aggregates = {}
    for key, since in windows:
        window = Q(fired_at__gte=since) if since is not None else Q()
        firing_aggregates |= {
            f"{key}_count": Count("customer_id", filter=window, distinct=True),
            f"{key}_given": Sum("given", filter=window),
        }
    firings = TriggerFiring.objects.filter(promotion=promotion).aggregate(**firing_aggregates)
    periods = [
        Period(
            key=key,
            since=starts.get(key),
            figures=_figures(sales, f"{key}_"),
            occasions=firings[f"{key}_count"],
            occasion_given=firings[f"{key}_given"] or ZERO,
        )
        for key, _since in windows
    ]
    usage = PromotionUsage.objects.filter(promotion=promotion)
    budget_used = ZERO
    if promotion.budget is not None:
        budget_used = usage.filter(key="total").values_list("given", flat=True).first() or ZERO
    limits = _limits_reached(promotion, usage, now)
    return Live(periods, promotion.budget, budget_used, limits)


def _limits_reached(promotion, usage, now: datetime) -> dict[str, int]:
    """How many customers (or days) reached each limit the promotion has: per customer, per
    customer today, per day (today: 1 when the day's limit is reached). One query."""
    today = timezone.localdate(now).isoformat()
    checks = {}
    if promotion.uses_per_customer is not None:
        checks["per_customer"] = Count(
            "pk",
            filter=Q(key__startswith="c:") & Q(uses__gte=promotion.uses_per_customer),
        )
    if promotion.uses_per_customer_day is not None:
        checks["per_customer_today"] = Count(
            "pk",
            filter=Q(key__startswith="cd:")
            & Q(key__endswith=f":{today}")
            & Q(uses__gte=promotion.uses_per_customer_day),
        )
    if promotion.uses_per_day is not None:
        checks["per_day_today"] = Count(
            "pk", filter=Q(key=f"d:{today}") & Q(uses__gte=promotion.uses_per_day)
        )
    if not checks:
        return {}
    return usage.aggregate(**checks)
