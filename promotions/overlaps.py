"""Which promotions can really meet on one receipt, and how they then get along.

Two promotions overlap in a way that matters only when one receipt can satisfy both: both are
started by a purchase (an occasion promotion rewards a birthday or a registration, not a
receipt), their periods overlap, they run at a common partner, store, channel, weekday and
hour, and their receipt amount ranges intersect ("under 500" and "500 or more" never meet).
The overlap warning on save, the bulk activation and the campaign calendar all ask here.

Reads the promotions' conditions and stores as loaded: prefetch ``conditions`` and ``stores``
when asking about many (``meeting_queryset``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch

from promotions.models import CompatibilityGroup, Condition, Promotion, Reward
from promotions.models.promotion import Trigger

INFINITY = Decimal("Infinity")


def meeting_queryset(queryset):
    """``queryset`` with what ``can_meet`` reads, for many promotions at once."""
    return queryset.select_related("group", "partner").prefetch_related(
        Prefetch("conditions", queryset=Condition.objects.order_by("or_group", "pk")),
        "stores",
        Prefetch(
            "rewards",
            queryset=Reward.objects.filter(kind=Reward.Kind.POINTS_MULTIPLIER).only(
                "pk", "promotion_id", "kind", "multiplier_of_id"
            ),
            to_attr="multipliers",
        ),
    )


def amount_ranges(promotion: Promotion) -> list[tuple[Decimal, Decimal]]:
    """The receipt amounts (to pay) the promotion's conditions admit, as half-open ranges
    [low, high): one per condition group, the groups ORed."""
    groups: dict[int, tuple[Decimal, Decimal]] = {}
    for condition in promotion.conditions.all():
        low, high = groups.get(condition.or_group, (-INFINITY, INFINITY))
        if condition.kind == Condition.Kind.RECEIPT_TOTAL and condition.amount is not None:
            if condition.operator == Condition.Operator.LT:
                high = min(high, condition.amount)
            else:
                low = max(low, condition.amount)
        groups[condition.or_group] = (low, high)
    ranges = [(low, high) for low, high in groups.values() if low < high]
    if not groups:
        return [(-INFINITY, INFINITY)]
    return ranges


def _periods_meet(a: Promotion, b: Promotion) -> bool:
    """[starts_at, ends_at) periods; no end: open."""
    return (a.ends_at is None or b.starts_at < a.ends_at) and (
        b.ends_at is None or a.starts_at < b.ends_at
    )


def _sets_meet(a, b) -> bool:
    """Two choices where empty means every one."""
    return not a or not b or bool(set(a) & set(b))


def _hours_meet(a: Promotion, b: Promotion) -> bool:
    def window(p: Promotion):
        start = p.time_from.isoformat() if p.time_from else "00:00"
        end = p.time_to.isoformat() if p.time_to else "24:00"
        return start, end

    a_from, a_to = window(a)
    b_from, b_to = window(b)
    if a_from >= a_to or b_from >= b_to:  # a window across midnight: assume they can meet
        return True
    return a_from < b_to and b_from < a_to


def _multiplies(a: Promotion, b: Promotion) -> bool:
    """A points multiplier and the promotion it multiplies are meant to apply together."""

    def targets(p: Promotion) -> set[int]:
        rows = getattr(p, "multipliers", None)
        if rows is None:
            rows = p.rewards.filter(kind=Reward.Kind.POINTS_MULTIPLIER)
        return {r.multiplier_of_id for r in rows}

    return b.pk in targets(a) or a.pk in targets(b)


def can_meet(a: Promotion, b: Promotion) -> bool:
    """Whether one receipt can satisfy both promotions' trigger, period, place, channel,
    days, hours and receipt amount conditions."""
    if a.pk == b.pk or a.programme_id != b.programme_id:
        return False
    if a.trigger != Trigger.RECEIPT or b.trigger != Trigger.RECEIPT:
        return False
    if a.partner_id and b.partner_id and a.partner_id != b.partner_id:
        return False
    if not _periods_meet(a, b) or not _hours_meet(a, b):
        return False
    if not _sets_meet(a.weekdays, b.weekdays) or not _sets_meet(a.channels, b.channels):
        return False
    a_stores = {s.pk for s in a.stores.all()}
    b_stores = {s.pk for s in b.stores.all()}
    if not _sets_meet(a_stores, b_stores):
        return False
    return any(
        a_low < b_high and b_low < a_high
        for a_low, a_high in amount_ranges(a)
        for b_low, b_high in amount_ranges(b)
    )


@dataclass(frozen=True)
class Meeting:
    """Two promotions that can meet on a receipt, and what happens then."""

    first: Promotion
    second: Promotion
    kind: str  # "both" (both apply), "compete" (one group: first or best), "exclusive"

    def describe(self) -> str:
        from django.utils.translation import gettext as _

        names = {"a": self.first.name, "b": self.second.name}
        if self.kind == "exclusive":
            return _("“%(a)s” is exclusive and stops “%(b)s” on the lines it rewards.") % names
        if self.kind == "compete":
            return _("“%(a)s” and “%(b)s” compete in the group “%(group)s”.") % {
                **names,
                "group": self.first.group.name if self.first.group_id else "",
            }
        return _("“%(a)s” and “%(b)s” both apply to the same lines: no group decides.") % names


def meeting_kind(a: Promotion, b: Promotion) -> str | None:
    """How two promotions that can meet get along; None when they are meant to apply together
    (one multiplies the other's points, or their group lets them add up)."""
    if _multiplies(a, b):
        return None
    higher, lower = (a, b) if a.priority >= b.priority else (b, a)
    if higher.exclusive:
        return "exclusive"
    if a.group_id and a.group_id == b.group_id:
        if a.group.mode == CompatibilityGroup.Mode.ALL:
            return None
        return "compete"
    if a.group_id is None and b.group_id is None:
        return "both"
    return None  # different groups: each group picks its own, by design


def meetings(promotions: list[Promotion]) -> list[Meeting]:
    """Every pair of ``promotions`` that can meet on a receipt and is worth a look."""
    found = []
    receipt = [p for p in promotions if p.trigger == Trigger.RECEIPT]
    for index, a in enumerate(receipt):
        for b in receipt[index + 1 :]:
            if not can_meet(a, b):
                continue
            kind = meeting_kind(a, b)
            if kind is not None:
                first, second = (a, b) if a.priority >= b.priority else (b, a)
                found.append(Meeting(first, second, kind))
    return found
