"""Template filters for numbers and moments as people read them, the same rule as the back
office's list columns and read-only fields (``loyalty.admin.columns``): ``{{ amount|money }}``
(1,445.22 / 1 445,22), ``{{ points|number:places }}`` (a currency's places; no argument: as
few as the value needs), ``{{ moment|moment }}`` and ``{{ moment|moment:"j M H:i" }}`` (the
back office's time with its zone named: "7 Dec 20:20 MSK")."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import formats, timezone

from loyalty.money import DECIMAL_PLACES, readable

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def money(value) -> str:
    """Money with two places and the locale's separators; "—" for nothing."""
    number = _decimal(value)
    return "—" if number is None else readable(number, DECIMAL_PLACES)


@register.filter
def number(value, places=None) -> str:
    """A number with ``places`` decimals (e.g. a currency's), or as few as it needs."""
    number = _decimal(value)
    if number is None:
        return "—"
    return readable(number, None if places in (None, "") else int(places))


@register.filter
def moment(value, format_name: str = "SHORT_DATETIME_FORMAT") -> str:
    """A moment on the back office's clock, formatted, its zone's abbreviation after it."""
    if value is None or value == "":
        return "—"
    return zoned(value, format_name)


def zoned(value, format_name: str = "SHORT_DATETIME_FORMAT") -> str:
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    text = formats.date_format(local, format_name)
    zone = local.tzname()
    return f"{text} {zone}" if zone else text
