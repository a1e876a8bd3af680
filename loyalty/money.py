"""Exact money and points arithmetic: every stored amount and every rounding goes through here."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

# One size for every money or points column, like Saleor's DEFAULT_MAX_DIGITS.
MAX_DIGITS = 18
DECIMAL_PLACES = 2
# Points columns hold up to 4 places, so a currency may have 0-4 decimal places.
POINTS_DECIMAL_PLACES = 4
QUANTITY_MAX_DIGITS = 15
QUANTITY_DECIMAL_PLACES = 3

ZERO = Decimal("0")
KOPECK = Decimal("0.01")


def quantize(amount: Decimal, places: int = DECIMAL_PLACES) -> Decimal:
    """Round half-up to ``places`` decimal places (never the half-even default)."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, price: Decimal) -> Decimal:
    """Return ``quantity * price`` rounded half-up to kopecks, as pos-api.md defines it."""
    return quantize(quantity * price)


def allocate(
    total: Decimal, weights: Sequence[Decimal], places: int = DECIMAL_PLACES
) -> list[Decimal]:
    """Spread ``total`` over ``weights`` by the largest-remainder method.

    The parts add up exactly to ``total``; each is a multiple of ``10**-places``; ties in the
    remainder go to the earlier position. Zero weights get zero. ``total`` must already have
    at most ``places`` decimal places and share the sign of the weights' sum.
    """
    if not weights:
        if total:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    if any(weight < 0 for weight in weights):
        raise ValueError("weights must not be negative")
    unit = Decimal(1).scaleb(-places)
    if quantize(total, places) != total:
        raise ValueError(f"total {total} has more than {places} decimal places")
    weight_sum = sum(weights, ZERO)
    if weight_sum == 0:
        if total:
            raise ValueError("cannot allocate a non-zero total over zero weights")
        return [ZERO for _ in weights]
    units_total = int(total / unit)
    sign = -1 if units_total < 0 else 1
    units_total = abs(units_total)
    exact = [Decimal(units_total) * weight / weight_sum for weight in weights]
    floors = [int(value) for value in exact]
    left = units_total - sum(floors)
    # Largest remainder first; on equal remainders the earlier index wins (stable sort).
    order = sorted(range(len(weights)), key=lambda i: exact[i] - floors[i], reverse=True)
    for index in order[:left]:
        floors[index] += 1
    return [Decimal(sign * units) * unit for units in floors]


def share(value: Decimal, done: Decimal, whole: Decimal, places: int) -> Decimal:
    """The part of ``value`` that belongs to ``done`` of ``whole`` units (cumulative: the
    differences of successive shares add up to ``value`` exactly once ``done`` is whole)."""
    if done >= whole:
        return value
    return quantize(value * done / whole, places)


def money_text(value: Decimal) -> str:
    """A money amount as the API answers it: a string with the currency's two places."""
    return str(quantize(value, DECIMAL_PLACES))


def points_text(value: Decimal, places: int) -> str:
    """A points amount as the API answers it: a string with its currency's places."""
    return str(quantize(value, places))


def plain(value: Decimal) -> str:
    """A number as written by hand: no trailing zeros, never scientific notation (100, not
    1E+2; 2.5, not 2.5000)."""
    return format(value.normalize(), "f")


def readable(value: Decimal, places: int | None = None) -> str:
    """A number as people read it in the active language: the locale's decimal mark and digit
    grouping (1,234.50 / 1 234,50), ``places`` decimals (money: 2) or as few as it needs."""
    from django.utils.formats import number_format

    if places is None:
        text = plain(value)
        places = len(text.split(".")[1]) if "." in text else 0
    return number_format(quantize(value, places), places, use_l10n=True, force_grouping=True)
