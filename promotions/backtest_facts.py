"""What the back-test knows of the customers it replays: read in bulk (a few queries per
chunk of customers, none per receipt), and their counters and promotion usage as they step
through the replay.

Segments are those of the moment of each sale (``SegmentTimeline``): a segment's membership
history (``SegmentMembershipChange``: rule segments record every entry and exit at each
refresh) says whether the customer was in it then; a member without history in a segment has
been one since the row was added (``SegmentMember.added_at``). Both are read with the other
facts, per chunk of customers, none per receipt.

Stand-ins (docs/marketer-guide.md, "Back-test"): the customer's tier, favourite products, card
series and memorable dates are those stored now; the counters and the promotions' budgets and
limits start from zero at the back-test's start and step receipt by receipt (and occasion by
occasion) in time order.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from crm.models import MemorableDate, SegmentMember, SegmentMembershipChange
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


@dataclass(frozen=True)
class SegmentTimeline:
    """One customer's segments over time: ``states[i]`` from ``times[i]`` on (inclusive) until
    the next time; ``before`` before the first. Built once per customer, read per sale."""

    before: frozenset[int]
    times: tuple[datetime, ...] = ()
    states: tuple[frozenset[int], ...] = ()

    def at(self, moment: datetime | None) -> frozenset[int]:
        """The segments at ``moment`` (None: now, the last state)."""
        if moment is None:
            return self.states[-1] if self.states else self.before
        index = bisect.bisect_right(self.times, moment)
        return self.states[index - 1] if index else self.before


def segment_timeline(
    members: dict[int, datetime], history: dict[int, list[tuple[datetime, bool]]]
) -> SegmentTimeline:
    """The timeline of one customer from their member rows (segment id -> added at) and their
    membership history (segment id -> (at, entered) in the order recorded).

    With history in a segment, the history says: a member before its first change exactly
    when that change is a departure, then as each change leaves them. A member row added after
    the last recorded change (a customer put back by hand) is an entry at ``added_at``. Without
    history, a member since ``added_at``."""
    before: set[int] = set()
    steps: list[tuple[datetime, int, int, bool]] = []  # (when, order recorded, segment, in)
    order = 0
    for segment_id in members.keys() | history.keys():
        changes = history.get(segment_id, [])
        if changes and not changes[0][1]:
            before.add(segment_id)
        for at, entered in changes:
            steps.append((at, order, segment_id, entered))
            order += 1
        added = members.get(segment_id)
        if added is not None and (not changes or (not changes[-1][1] and added > changes[-1][0])):
            steps.append((added, order, segment_id, True))
            order += 1
    steps.sort(key=lambda step: (step[0], step[1]))
    current = set(before)
    times: list[datetime] = []
    states: list[frozenset[int]] = []
    for at, _order, segment_id, entered in steps:
        if entered:
            current.add(segment_id)
        else:
            current.discard(segment_id)
        state = frozenset(current)
        if times and times[-1] == at:
            states[-1] = state  # several changes at one moment: the state after all of them
        else:
            times.append(at)
            states.append(state)
    return SegmentTimeline(frozenset(before), tuple(times), tuple(states))


@dataclass
class FactsStore:
    """The stored facts of the customers read so far, by customer id."""

    snapshot: RulesSnapshot
    needs: frozenset[str]
    tiers: dict[tuple[int, int], int] = field(default_factory=dict)
    segments: dict[int, SegmentTimeline] = field(default_factory=dict)
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
            self._load_segments(ids)
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

    def _load_segments(self, ids: list[int]) -> None:
        """The customers' member rows and membership history of the segments the rules name
        (two queries per chunk)."""
        named = sorted({sid for rule in self.snapshot.promotions for sid in rule.segment_ids})
        members: dict[int, dict[int, datetime]] = defaultdict(dict)
        for customer_id, segment_id, added_at in SegmentMember.objects.filter(
            customer_id__in=ids, segment_id__in=named
        ).values_list("customer_id", "segment_id", "added_at"):
            members[customer_id][segment_id] = added_at
        history: dict[int, dict[int, list[tuple[datetime, bool]]]] = defaultdict(dict)
        for customer_id, segment_id, at, change in (
            SegmentMembershipChange.objects.filter(customer_id__in=ids, segment_id__in=named)
            .order_by("customer_id", "segment_id", "at", "pk")
            .values_list("customer_id", "segment_id", "at", "change")
        ):
            history[customer_id].setdefault(segment_id, []).append(
                (at, change == SegmentMembershipChange.Change.ENTERED)
            )
        for customer_id in members.keys() | history.keys():
            self.segments[customer_id] = segment_timeline(
                members.get(customer_id, {}), history.get(customer_id, {})
            )

    def segments_at(self, customer_id: int, at: datetime | None) -> frozenset[int]:
        """The segments ``customer_id`` was in at ``at`` (None: now)."""
        timeline = self.segments.get(customer_id)
        return timeline.at(at) if timeline is not None else frozenset()

    def facts(
        self,
        customer: CustomerRow,
        programme_id: int,
        *,
        at: datetime | None = None,
        card: tuple[str | None, int | None] | None = None,
        counters: dict[int, Decimal] | None = None,
    ) -> CustomerFacts:
        """The engine's facts of ``customer`` in ``programme_id`` at the moment ``at`` (its
        segments then); ``card``: (type, batch id) of the card the receipt names (None: the
        customer's current card)."""
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
            segment_ids=self.segments_at(customer.id, at),
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
