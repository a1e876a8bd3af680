"""What the simulator's tests share: a coalition with a small catalogue, a moment on the
store's clock, and the count of every row a sale could write (the simulator writes none)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django.utils import timezone

from crm.models import Customer
from loyalty.models import (
    Account,
    CounterValue,
    Hold,
    LedgerEntry,
    Lot,
    Posting,
    Programme,
    Receipt,
    TierMembership,
)
from processing.sale import PurchaseLine
from promotions.models import Promotion, PromotionUsage, TriggerFiring
from tests.factories.loyalty import ProductFactory
from tests.factories.processing import coalition

WRITTEN = (
    Posting,
    LedgerEntry,
    Lot,
    Receipt,
    Hold,
    Account,
    CounterValue,
    TierMembership,
    PromotionUsage,
    TriggerFiring,
    Customer,
    Promotion,
)


def world_with_products(**programme_settings):
    """The coalition (5% base points) with the products A (Lemonade) and B (Bed)."""
    world = coalition(percent="5", **programme_settings)
    world.lemonade = ProductFactory(sku="A", name="Lemonade")
    world.bed = ProductFactory(sku="B", name="Bed")
    return world


def rows_written() -> dict[str, object]:
    """Every table a sale writes, with its rows' count (and the programmes as they are)."""
    counts: dict[str, object] = {model.__name__: model.objects.count() for model in WRITTEN}
    counts["Programme"] = list(Programme.objects.order_by("pk").values())
    counts["CounterValue.values"] = list(CounterValue.objects.order_by("pk").values_list("value"))
    counts["TierMembership.values"] = list(
        TierMembership.objects.order_by("pk").values_list("tier_id", "qualifying_amount")
    )
    return counts


def store_moment(world, weekday: int, at: time) -> datetime:
    """The last ``weekday`` (1 = Monday) before today at ``at`` on the store's clock."""
    zone = zoneinfo.ZoneInfo(world.store.timezone)
    day = timezone.localtime(timezone.now(), zone).date() - timedelta(days=1)
    while day.isoweekday() != weekday:
        day -= timedelta(days=1)
    return datetime.combine(day, at, tzinfo=zone)


def line(no: int, sku: str, quantity: str, price: str) -> PurchaseLine:
    from decimal import Decimal

    return PurchaseLine(no, sku, Decimal(quantity), Decimal(price))
