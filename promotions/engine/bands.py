"""Banded rewards: one reward whose value depends on where a measure of the sale falls.

"5 % below 100.00, 7 % from 100.00, 10 % from 500.00" is one reward with three bands. A band
is its lower bound (inclusive: "from 100" means 100.00 and above) and its value; it reaches up
to the next band's lower bound (exclusive), the last band has no upper bound. Bands are kept
sorted by their lower bound, strictly ascending, so they can neither overlap nor leave a gap;
below the first band's lower bound the reward gives nothing. The band's value stands for the
reward's value on the whole receipt (or on all of the reward's lines): a floating percent, not
a tax-like split of the receipt into slices.

What is measured (``basis``):

- ``receipt_amount``: the receipt's amount to pay at this point of the priority walk, after
  the discounts of higher-priority promotions and before points, as a "receipt total"
  condition measures it (mechanics.md);
- ``quantity``: the units of the lines the reward applies to (its product set; every line
  without one), as the receipt states them (a weighed line counts its weight);
- ``customer_spend``: the value of a counter of money spent (lifetime or a period) before this
  receipt, as a tier counts the spend before the receipt. No customer: no band.

Pure Python, like the rest of the engine: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from loyalty.money import ZERO

if TYPE_CHECKING:
    from promotions.engine.types import CustomerFacts, LineInput, LineResult, RewardRule

RECEIPT_AMOUNT = "receipt_amount"
QUANTITY = "quantity"
CUSTOMER_SPEND = "customer_spend"
BASES = (RECEIPT_AMOUNT, QUANTITY, CUSTOMER_SPEND)
# The reward kinds whose value can be banded; the others (a multiplier, every Nth unit, a price
# for a set, counter steps, coupons, tiers) take a number that is no rate or amount of the sale.
BANDED_KINDS = frozenset(
    [
        "points_percent",
        "points_fixed",
        "discount_percent",
        "discount_fixed",
        "special_price",
        "discount_per_unit",
    ]
)


@dataclass(frozen=True)
class Band:
    lower: Decimal  # inclusive
    value: Decimal  # the reward's value in this band (a percent, points or money)


@dataclass(frozen=True)
class BandHit:
    """The band a reward applied with on a receipt: the measure and where it fell."""

    promotion_id: int
    reward_id: int
    basis: str
    measure: Decimal
    index: int  # 0-based, in ascending order
    lower: Decimal
    upper: Decimal | None  # exclusive; None: the last band
    value: Decimal
    amount: Decimal  # what the reward gave with it: money (discounts) or points


def band_index(bands: Sequence[Band], measure: Decimal) -> int | None:
    """The band ``measure`` falls in (the last whose lower bound it reaches), or None when it
    is below the first. ``bands`` ascend strictly by their lower bound."""
    found = None
    for index, band in enumerate(bands):
        if measure < band.lower:
            break
        found = index
    return found


def band_measure(
    reward: RewardRule,
    lines: Sequence[LineResult],
    eligible: Sequence[LineResult],
    inputs: Mapping[int, LineInput],
    customer: CustomerFacts | None,
) -> Decimal | None:
    """What the reward's bands measure on this receipt now; None when it cannot be known
    (the customer's spend on an anonymous receipt). ``lines``: every line the promotions see;
    ``eligible``: the lines the reward applies to."""
    if reward.band_basis == RECEIPT_AMOUNT:
        return sum((line.amount - line.discount for line in lines), ZERO)
    if reward.band_basis == QUANTITY:
        return sum((inputs[line.line_no].quantity for line in eligible), ZERO)
    if reward.band_basis == CUSTOMER_SPEND and customer is not None:
        return customer.counters.get(reward.band_counter_id or 0, ZERO)
    return None


def banded(reward: RewardRule, measure: Decimal | None) -> RewardRule | None:
    """The reward with its value set to the band ``measure`` falls in, or None when it falls
    in no band (or is not known)."""
    index = band_index(reward.bands, measure) if measure is not None else None
    if index is None:
        return None
    return replace(reward, value=reward.bands[index].value, band_index=index, band_measure=measure)


def band_hit(promotion_id: int, reward: RewardRule, amount: Decimal) -> BandHit | None:
    """The band a reward that ``banded`` set applied with (giving ``amount``), or None for
    an unbanded reward."""
    index = reward.band_index
    if index is None or reward.band_measure is None:
        return None
    bands = reward.bands
    return BandHit(
        promotion_id=promotion_id,
        reward_id=reward.id,
        basis=reward.band_basis,
        measure=reward.band_measure,
        index=index,
        lower=bands[index].lower,
        upper=bands[index + 1].lower if index + 1 < len(bands) else None,
        value=bands[index].value,
        amount=amount,
    )


def band_problems(bands: Sequence[Band]) -> list[tuple[str, int]]:
    """What is wrong with a list of bands as given, each as (code, 0-based index): ``empty``
    (no band), ``negative`` (a lower bound below zero), ``value`` (a value not above zero),
    ``overlap`` (a lower bound equal to the one before) and ``order`` (below the one before).
    Callers word them (promotions.bands)."""
    if not bands:
        return [("empty", 0)]
    problems = []
    for index, band in enumerate(bands):
        if band.lower < 0:
            problems.append(("negative", index))
        if band.value <= 0:
            problems.append(("value", index))
        if index:
            before = bands[index - 1].lower
            if band.lower == before:
                problems.append(("overlap", index))
            elif band.lower < before:
                problems.append(("order", index))
    return problems
