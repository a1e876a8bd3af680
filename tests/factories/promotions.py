"""Promotions built the way a marketer builds them in the admin: a promotion row, its
conditions and rewards, product sets and compatibility groups; prize draws."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from promotions.models import CompatibilityGroup, Condition, Draw, ProductSet, Promotion, Reward
from promotions.rules.snapshot import snapshot_invalidate
from tests.factories.loyalty import ProgrammeFactory


def product_set(world, name: str, *, products=(), categories=(), brands=(), **kw) -> ProductSet:
    made = ProductSet.objects.create(programme=world.programme, name=name, **kw)
    made.products.set(products)
    made.categories.set(categories)
    made.brands.set(brands)
    return made


def group(world, name: str, mode: str) -> CompatibilityGroup:
    return CompatibilityGroup.objects.create(programme=world.programme, name=name, mode=mode)


def promotion(
    world,
    name: str,
    *,
    rewards: list[dict],
    conditions: list[dict] = (),
    priority: int = 0,
    stores=(),
    tiers=(),
    **fields,
) -> Promotion:
    """A promotion of the world's programme; each reward and condition is a dict of its fields.

    Points rewards default to the world's currency; ``value`` may be given as a string."""
    fields.setdefault("status", Promotion.Status.ACTIVE)
    fields.setdefault("starts_at", timezone.now() - timedelta(days=365))
    made = Promotion.objects.create(
        programme=world.programme, name=name, priority=priority, **fields
    )
    made.stores.set(stores)
    made.tiers.set(tiers)
    for row in conditions:
        row = dict(row)
        condition_tiers = row.pop("tiers", ())
        for key in ("amount", "quantity"):
            if key in row and row[key] is not None:
                row[key] = Decimal(str(row[key]))
        condition = Condition.objects.create(promotion=made, **row)
        condition.tiers.set(condition_tiers)
    for row in rewards:
        row = dict(row)
        row["value"] = Decimal(str(row["value"]))
        if row["kind"].startswith("points_"):
            row.setdefault("currency", world.currency)
        Reward.objects.create(promotion=made, **row)
    snapshot_invalidate()
    return made


class DrawFactory(factory.django.DjangoModelFactory):
    """A draft draw of the purchases of the last ten days up to yesterday, one winner, a
    physical prize (give ``prize_points`` and ``prize_currency`` for points)."""

    class Meta:
        model = Draw

    programme = factory.SubFactory(ProgrammeFactory)
    name = factory.Sequence(lambda n: f"Draw {n}")
    period_from = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))
    period_to = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    winners_count = 1
    prize_description = "A bicycle"
