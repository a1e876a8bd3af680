"""List columns of amounts as people read them: the locale's decimal mark and digit grouping
(1,445.22 / 1 445,22), money with two places, points with their currency's places (not the
column's four), never scientific notation; and the same for every read-only decimal field
(``install_readable_fields``, at the admin's start)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import DateTimeField, DecimalField

from loyalty.money import DECIMAL_PLACES, readable
from loyalty.templatetags.readable import zoned

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


def readable_field(display_for_field: Callable) -> Callable:
    """Wrap the admin's ``display_for_field`` so that a decimal field reads like the list columns
    above: money fields (two places) with two, other decimals (points, quantities) with as few
    places as they need, the locale's mark and grouping; a moment on the back office's clock
    with its zone named (one rule with the simulator and the back-test, which name theirs).
    Fields with choices keep their label."""

    def display(value, field, empty_value_display):
        if isinstance(field, DateTimeField) and value is not None and not field.flatchoices:
            return zoned(value, "DATETIME_FORMAT")
        if (
            isinstance(field, DecimalField)
            and not getattr(field, "flatchoices", None)
            and value not in (None, "")
        ):
            places = DECIMAL_PLACES if field.decimal_places == DECIMAL_PLACES else None
            return readable(value, places)
        return display_for_field(value, field, empty_value_display)

    display.__wrapped__ = display_for_field  # type: ignore[attr-defined]
    return display


def install_readable_fields() -> None:
    """Every read-only field and list column of the back office (Django's admin and
    django-unfold both import ``display_for_field`` by name, so each importer is rewired)."""
    from django.contrib.admin import helpers
    from django.contrib.admin.templatetags import admin_list
    from unfold import fields
    from unfold.templatetags import unfold_list

    for module in (helpers, admin_list, fields, unfold_list):
        if not hasattr(module.display_for_field, "__wrapped__"):
            module.display_for_field = readable_field(module.display_for_field)
