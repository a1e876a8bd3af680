"""Bands of a reward as people and documents write them, and their validation.

A reward keeps its bands as a JSON list, lowest first: ``[{"from": "0", "value": "5"},
{"from": "100", "value": "7"}, {"from": "500", "value": "10"}]`` (decimals as strings). The
engine's side (what a band is, which one a sale falls in) is ``promotions.engine.bands``;
here: reading the stored list, the marketer's text ("100: 7", one band a line), the exchange
format's list (which may give each band's upper bound too) and the messages for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from loyalty.money import DECIMAL_PLACES, POINTS_DECIMAL_PLACES, QUANTITY_DECIMAL_PLACES, plain
from promotions.engine.bands import (
    BANDED_KINDS,
    CUSTOMER_SPEND,
    QUANTITY,
    Band,
    band_problems,
)

PERCENT_KINDS = ("points_percent", "discount_percent")
MONEY_KINDS = ("discount_fixed", "special_price", "discount_per_unit")


def _decimal(value) -> Decimal | None:
    """A decimal from a string (a decimal comma too) or an int; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        found = Decimal(str(value).strip().replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def bands_of(data) -> tuple[Band, ...]:
    """The bands of a stored list, as the engine reads them. A list is validated before it is
    stored; a row that cannot be read anyway (written around the validation) is left out
    rather than stopping every sale's rules from compiling."""
    bands, _errors = _read_rows(data if isinstance(data, list) else [])
    return tuple(bands)


def first_band_value(data) -> Decimal | None:
    """The first band's value of a stored list, when it is a number (None otherwise)."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return _decimal(data[0].get("value"))
    return None


def _read_rows(data) -> tuple[list[Band], list[str]]:
    """The bands of a stored or posted list and what keeps a row from being read."""
    if not isinstance(data, list):
        return [], [_("The bands must be a list of rows, each with a lower bound and a value.")]
    bands, errors = [], []
    for number, row in enumerate(data, start=1):
        lower = _decimal(row.get("from")) if isinstance(row, dict) else None
        value = _decimal(row.get("value")) if isinstance(row, dict) else None
        if lower is None or value is None:
            errors.append(
                _("Band %(number)s: give its lower bound and its value as numbers.")
                % {"number": number}
            )
            continue
        bands.append(Band(lower, value))
    return bands, errors


def band_errors(kind: str, basis: str, data) -> list[str]:
    """Why ``data`` (a stored list) cannot be the bands of a reward of ``kind`` measured by
    ``basis``: messages for a marketer, each naming its band (empty when they are right)."""
    bands, errors = _read_rows(data)
    if errors:
        return errors
    if kind and kind not in BANDED_KINDS:
        return [
            _(
                "This kind of reward cannot have bands: only points or a discount as a percent "
                "or a fixed amount, a special price or an amount off each unit can."
            )
        ]
    problems = band_problems(bands)
    for code, index in problems:
        number, band = index + 1, bands[index]
        if code == "empty":
            errors.append(_("Give at least one band."))
        elif code == "negative":
            errors.append(_("Band %(number)s: its lower bound is below zero.") % {"number": number})
        elif code == "value":
            errors.append(_("Band %(number)s: its value must be above zero.") % {"number": number})
        elif code == "overlap":
            errors.append(
                _(
                    "Bands %(before)s and %(number)s both start at %(lower)s: every amount "
                    "must fall in one band only."
                )
                % {"before": number - 1, "number": number, "lower": band_number(band.lower)}
            )
        else:  # order
            errors.append(
                _(
                    "Band %(number)s starts at %(lower)s, below band %(before)s (from "
                    "%(previous)s): list the bands from the lowest bound up."
                )
                % {
                    "number": number,
                    "lower": band_number(band.lower),
                    "before": number - 1,
                    "previous": band_number(bands[index - 1].lower),
                }
            )
    places = QUANTITY_DECIMAL_PLACES if basis == QUANTITY else DECIMAL_PLACES
    value_places = DECIMAL_PLACES if kind in MONEY_KINDS else POINTS_DECIMAL_PLACES
    for number, band in enumerate(bands, start=1):
        if band.lower != band.lower.quantize(Decimal(1).scaleb(-places)) and basis:
            errors.append(
                _("Band %(number)s: its lower bound has more than %(places)s decimal places.")
                % {"number": number, "places": places}
            )
        if kind in PERCENT_KINDS and band.value > 100:
            errors.append(_("Band %(number)s: a percent is at most 100.") % {"number": number})
        if band.value != band.value.quantize(Decimal(1).scaleb(-value_places)):
            errors.append(
                _("Band %(number)s: its value has more than %(places)s decimal places.")
                % {"number": number, "places": value_places}
            )
    return errors


def basis_errors(basis: str, data, counter) -> dict[str, str]:
    """What the basis and the counter of a reward's bands lack (field -> message)."""
    errors = {}
    if data and not basis:
        errors["band_basis"] = _("Choose what the bands are measured by.")
    if basis and not data:
        errors["bands"] = _("Give at least one band, or choose no basis for bands.")
    if basis == CUSTOMER_SPEND:
        if counter is None:
            errors["band_counter"] = _(
                "Choose the counter of money spent (all time or a period) the bands measure."
            )
        elif counter.unit != "amount":
            errors["band_counter"] = _(
                "The bands measure the customer's spend: choose a counter of money spent."
            )
    elif counter is not None:
        errors["band_counter"] = _("Only bands by the customer's spend measure a counter.")
    return errors


def band_number(value: Decimal) -> str:
    return number_format(value.quantize(Decimal(1)) if value == value.to_integral() else value)


def bands_text(data) -> str:
    """A stored list as the marketer writes it: "100: 7", one band a line."""
    bands, errors = _read_rows(data)
    if errors:
        return ""
    return "\n".join(f"{plain(band.lower)}: {plain(band.value)}" for band in bands)


def bands_summary(data) -> str:
    """A stored list on one line, for the history of versions: "from 0: 5; from 100: 7"."""
    bands, errors = _read_rows(data)
    if errors:
        return str(data)
    return "; ".join(
        _("from %(lower)s: %(value)s")
        % {"lower": band_number(band.lower), "value": band_number(band.value)}
        for band in bands
    )


def bands_parse(text: str) -> list[dict[str, str]]:
    """The marketer's bands, one a line as "from: value" ("100: 7"; a decimal comma, a
    percent sign and spaces are allowed), into the stored list; raise ``ValidationError``
    naming each wrong line. The order and the bounds are checked with the reward."""
    rows, errors = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        raw = raw.strip()
        if not raw:
            continue
        lower_text, sep, value_text = raw.partition(":")
        lower = _decimal(lower_text)
        value = _decimal(value_text.replace("%", "")) if sep else None
        if lower is None or value is None:
            errors.append(
                _(
                    "Line %(number)s: write a band as its lower bound, a colon and its value, "
                    "e.g. “100: 7” (7 from 100 up to the next band)."
                )
                % {"number": number}
            )
            continue
        rows.append({"from": plain(lower), "value": plain(value)})
    if errors:
        raise ValidationError(errors)
    return rows


def bands_read(rows, path: str, fail: Callable[[str, str], None]) -> list[dict[str, str]]:
    """The exchange format's bands (``[{"from": "100", "to": "500", "value": "7"}, ...]``;
    ``to`` may be left out) into the stored list; ``fail(path, message)`` for each error: a
    band that is not an object, a bound or value that is not a decimal string, or an upper
    bound that is not the next band's lower bound (a gap or an overlap; the last band has no
    upper bound)."""
    if rows is None:
        return []
    if not isinstance(rows, list):
        fail(path, "must be a list of bands")
        return []
    stored = []
    for i, row in enumerate(rows):
        where = f"{path}[{i}]"
        if not isinstance(row, dict):
            fail(where, 'must be {"from": ..., "to": ..., "value": ...}')
            continue
        for key in ("from", "to", "value"):
            value = row.get(key)
            if value is None and key == "to":
                continue
            if not isinstance(value, str) or _decimal(value) is None or "," in value:
                fail(f"{where}.{key}", 'give a decimal as a string, e.g. "100.00"')
        lower, value = _decimal(row.get("from")), _decimal(row.get("value"))
        if lower is not None and value is not None:
            stored.append({"from": plain(lower), "value": plain(value)})
        else:  # failed above; kept so that the reward's own checks number the bands alike
            stored.append({"from": row.get("from"), "value": row.get("value")})
        upper = _decimal(row.get("to")) if isinstance(row.get("to"), str) else None
        if upper is None:
            continue
        following = rows[i + 1] if i + 1 < len(rows) else None
        if following is None:
            fail(f"{where}.to", "the last band has no upper bound: leave it out or null")
            continue
        lower = _decimal(following.get("from")) if isinstance(following, dict) else None
        if lower is not None and upper < lower:
            fail(f"{where}.to", f"a gap: nothing from {plain(upper)} up to {plain(lower)}")
        elif lower is not None and upper > lower:
            fail(f"{where}.to", f"overlaps the next band, which starts at {plain(lower)}")
    return stored


def bands_export(data) -> list[dict[str, str | None]]:
    """A stored list in the exchange format: each band with its upper bound (None: the last)."""
    bands, errors = _read_rows(data)
    if errors:
        return data
    return [
        {
            "from": plain(band.lower),
            "to": plain(bands[i + 1].lower) if i + 1 < len(bands) else None,
            "value": plain(band.value),
        }
        for i, band in enumerate(bands)
    ]
