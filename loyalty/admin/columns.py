"""List columns of amounts as people read them: the locale's decimal mark and digit grouping
(1,445.22 / 1 445,22), money with two places, points with their currency's places (not the
column's four), never scientific notation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from loyalty.money import DECIMAL_PLACES, readable

Places = int | Callable[[Any], int | None] | None


def number_column(model, name: str, places: Places = DECIMAL_PLACES):
    """A list column for ``model``'s decimal field ``name``: ``places`` decimals (a number, a
    function of the row, e.g. its currency's places, or None for as few as it needs)."""
    field = model._meta.get_field(name)

    def column(obj):
        value = getattr(obj, name)
        if value is None:
            return "—"
        wanted = places(obj) if callable(places) else places
        return readable(value, wanted)

    column.__name__ = name
    column.short_description = field.verbose_name  # type: ignore[attr-defined]
    column.admin_order_field = name  # type: ignore[attr-defined]
    return column


def currency_places(path: str) -> Callable[[Any], int | None]:
    """The decimal places of the currency at ``path`` (e.g. "account.currency") of a row."""

    def places(obj) -> int | None:
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj.decimal_places

    return places
