"""What the back-test knows of the customers it replays: read in bulk (a few queries per
chunk of customers, none per receipt), and their counters and promotion usage as they step
through the replay.

Stand-ins (docs/marketer-guide.md, "Back-test"): the customer's tier, segments, favourite
products, card series and memorable dates are those stored now; the counters and the
promotions' budgets and limits start from zero at the back-test's start and step receipt by
receipt (and occasion by occasion) in time order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from crm.models import MemorableDate, SegmentMember
from loyalty.models import Card, FavouriteProduct, TierMembership
from loyalty.money import ZERO
from promotions.engine import CustomerFacts, RulesSnapshot, period_start
from promotions.engine.types import CounterStep

# Customers read per query (an IN list stays well under every database's limit).
FACTS_CHUNK = 500


@dataclass
class CustomerRow:
    """What a customer row says that the engine reads."""

    id: int
    registered_at: object
    birth_date: date | None
    referrer_id: int | None


@dataclass
class FactsStore:
    """The stored facts of the customers read so far, by customer id."""

    snapshot: RulesSnapshot
    needs: frozenset[str]
    tiers: dict[tuple[int, int], int] = field(default_factory=dict)
    segments: dict[int, frozenset[int]] = field(default_factory=dict)
    dates: dict[int, tuple[tuple[str, date], ...]] = field(default_factory=dict)
    favourites: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    cards: dict[int, tuple[str | None, int | None]] = field(default_factory=dict)
    loaded: set[int] = field(default_factory=set)

    def load(self, customer_ids: Iterable[int], *, cards: bool = False) -> None:
        """Read the facts of the customers not read yet (``cards``: their current card too,
        for occasions, which have no card of their own)."""
        ids = sorted(set(customer_ids) - self.loaded)
        for start in range(0, len(ids), FACTS_CHUNK):
            self._load(ids[start : start + FACTS_CHUNK], cards)
        self.loaded.update(ids)

    def _load(self, ids: list[int], cards: bool) -> None:
        for customer_id, programme_id, tier_id in TierMembership.objects.filter(
            customer_id__in=ids
        ).values_list("customer_id", "programme_id", "tier_id"):
            self.tiers[(customer_id, programme_id)] = tier_id
        if "segments" in self.needs:
            found: dict[int, set[int]] = defaultdict(set)
            for customer_id, segment_id in SegmentMember.objects.filter(
                customer_id__in=ids
            ).values_list("customer_id", "segment_id"):
                found[customer_id].add(segment_id)
            self.segments.update({k: frozenset(v) for k, v in found.items()})
        if "dates" in self.needs:
            dates: dict[int, list[tuple[str, date]]] = defaultdict(list)
            for customer_id, kind, day in MemorableDate.objects.filter(
                customer_id__in=ids, is_yearly=True
            ).values_list("customer_id", "kind", "date"):
                dates[customer_id].append((kind, day))
            self.dates.update({k: tuple(v) for k, v in dates.items()})
        if "favourites" in self.needs:
            for customer_id, programme_id, product_id in FavouriteProduct.objects.filter(
                customer_id__in=ids
            ).values_list("customer_id", "programme_id", "product_id"):
                self.favourites.setdefault((customer_id, programme_id), set()).add(product_id)
        if cards:
            # The newest card not blocked, as the occasions of live processing read it.
            for customer_id, card_type, batch_id in (
                Card.objects.filter(customer_id__in=ids)
                .exclude(status=Card.Status.BLOCKED)
                .order_by("customer_id", "created_at", "pk")
                .values_list("customer_id", "card_type", "batch_id")
            ):
                self.cards[customer_id] = (card_type, batch_id)

    def facts(
        self,
        customer: CustomerRow,
        programme_id: int,
        *,
        card: tuple[str | None, int | None] | None = None,
        counters: dict[int, Decimal] | None = None,
    ) -> CustomerFacts:
        """The engine's facts of ``customer`` in ``programme_id``; ``card``: (type, batch id)
        of the card the receipt names (None: the customer's current card)."""
        card_type, batch_id = (
            card if card is not None else self.cards.get(customer.id, (None, None))
        )
        return CustomerFacts(
            id=customer.id,
            tier_id=self.tiers.get((customer.id, programme_id))
            or self.snapshot.entry_tier_id(programme_id),
            card_type=card_type,
            registered_at=customer.registered_at,  # type: ignore[arg-type]
            counters=counters or {},
            card_batch_id=batch_id,
            referred=customer.referrer_id is not None,
            segment_ids=self.segments.get(customer.id, frozenset()),
            birth_date=customer.birth_date,
            dates=self.dates.get(customer.id, ()),
            favourite_product_ids=frozenset(self.favourites.get((customer.id, programme_id), ())),
        )


class CounterReplay:
    """Every customer's counters as the replay steps them, from zero at the back-test's start:
    (customer id, counter id, period start) -> value. A counter that resets (a month...) starts
    again from zero in each new period, as it does live."""

    def __init__(self, snapshot: RulesSnapshot) -> None:
        self.snapshot = snapshot
        self.values: dict[tuple[int, int, date], Decimal] = {}

    def now(self, customer_id: int, programme_id: int, day: date) -> dict[int, Decimal]:
        """The customer's counters of the programme on ``day`` (the store's calendar)."""
        found = {}
        for counter in self.snapshot.counters:
            if counter.programme_id != programme_id:
                continue
            value = self.values.get((customer_id, counter.id, period_start(counter.period, day)))
            if value:
                found[counter.id] = value
        return found

    def step(self, customer_id: int, steps: Iterable[CounterStep]) -> None:
        for step in steps:
            key = (customer_id, step.counter_id, step.period_start)
            self.values[key] = max(self.values.get(key, ZERO) + step.delta, ZERO)
