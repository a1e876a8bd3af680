"""Validators for identifiers that have a checksum or a fixed shape."""

from __future__ import annotations

import re
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.validators import CODE_RE, validate_code

__all__ = ["CODE_RE", "validate_code"]  # defined in crm, the lowest layer; used by every app

CARD_NUMBER_RE = re.compile(r"^[0-9A-Z]{4,32}$")
# Codes people type (coupons, certificates): digits and capitals without those read alike
# (0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def validate_tax_id(value: str) -> None:
    """Check a Russian taxpayer number (INN): 10 digits for companies, 12 for individuals."""
    if not value.isdigit() or len(value) not in (10, 12):
        raise ValidationError(_("A tax id (INN) has 10 or 12 digits."), code="tax_id_length")
    digits = [int(c) for c in value]

    def check(weights: list[int], upto: int) -> int:
        return sum(w * d for w, d in zip(weights, digits[:upto], strict=True)) % 11 % 10

    if len(value) == 10:
        ok = check([2, 4, 10, 3, 5, 9, 4, 6, 8], 9) == digits[9]
    else:
        ok = (
            check([7, 2, 4, 10, 3, 5, 9, 4, 6, 8], 10) == digits[10]
            and check([3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8], 11) == digits[11]
        )
    if not ok:
        raise ValidationError(
            _("The tax id (INN) %(value)s has a wrong check digit."),
            code="tax_id_checksum",
            params={"value": value},
        )


def tax_id_check_digits(first_nine: str) -> str:
    """Complete nine digits into a valid 10-digit INN (used by the demo and tests)."""
    digits = [int(c) for c in first_nine]
    weights = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    return first_nine + str(sum(w * d for w, d in zip(weights, digits, strict=True)) % 11 % 10)


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            _("%(value)s is not a time zone name such as Europe/Moscow."),
            code="invalid_timezone",
            params={"value": value},
        ) from exc


def validate_card_number(value: str) -> None:
    if not CARD_NUMBER_RE.match(value):
        raise ValidationError(
            _("A card number has 4-32 digits or capital Latin letters."), code="invalid_card_number"
        )


# The Luhn value of a digit in a doubled position (2d, minus 9 above 9).
_LUHN_DOUBLED = {str(d): 2 * d - 9 * (d > 4) for d in range(10)}


def luhn_check_digit(payload: str) -> str:
    """Return the Luhn check digit for a string of digits."""
    reversed_payload = payload[::-1]
    # The digit next to the check digit is doubled, then every second one leftwards.
    total = sum(map(_LUHN_DOUBLED.__getitem__, reversed_payload[0::2])) + sum(
        map(int, reversed_payload[1::2])
    )
    return str((10 - total % 10) % 10)


def ean13_check_digit(payload: str) -> str:
    """Return the EAN-13 check digit for 12 digits."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(payload))
    return str((10 - total % 10) % 10)


def has_valid_check_digit(number: str, scheme: str) -> bool:
    if scheme == "none":
        return True
    if not number.isdigit() or len(number) < 2:
        return False
    if scheme == "luhn":
        return luhn_check_digit(number[:-1]) == number[-1]
    if scheme == "ean13":
        return len(number) == 13 and ean13_check_digit(number[:-1]) == number[-1]
    raise ValueError(f"unknown check digit scheme {scheme!r}")
