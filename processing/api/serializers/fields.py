"""The POS API's fields and limits: decimal strings, aware datetimes, plain text, phones, line
numbers, and the enumerations the schema names."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.phones import normalize_phone
from loyalty.money import (
    DECIMAL_PLACES,
    QUANTITY_DECIMAL_PLACES,
    QUANTITY_MAX_DIGITS,
)

ID_MAX_LENGTH = 64


SKU_MAX_LENGTH = 64


CARD_MAX_LENGTH = 32


PHONE_MAX_LENGTH = 32


COUPON_MAX_LENGTH = 64


MAX_COUPONS = 50


MAX_CERTIFICATES = 10


CERTIFICATE_STATUSES = ["new", "active", "used", "expired", "blocked"]


CERTIFICATE_KINDS = ["certificate", "gift_card"]


RESULT_STATUSES = ["applied", "rejected"]  # of an exchange, a certificate


REFUND_KINDS = ["refund", "cancel"]


CERTIFICATE_MAX_LENGTH = 40


EXCHANGE_CODE_MAX_LENGTH = 64


MAX_EXCHANGES = 20


MAX_LINE_NUMBER = 2_147_483_647


DEFAULT_MAX_LINES = 1000


MAX_OFFLINE_RECEIPTS = 500


# A price or a line amount never exceeds this (12 integer digits): far above any real sale,
# and far below what the money columns hold, so no sum of a receipt can overflow them.
MAX_AMOUNT = Decimal("999999999999.99")


SPEND_MAX = "max"


# Enumerations of the answers (named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
CARD_STATUSES = [
    ("new", "new"),
    ("issued", "issued"),
    ("active", "active"),
    ("blocked", "blocked"),
    ("lost", "lost"),
    ("replaced", "replaced"),
]


PURCHASE_STATUSES = [
    ("calculated", "calculated"),
    ("confirmed", "confirmed"),
    ("cancelled", "cancelled"),
    ("partially_refunded", "partially refunded"),
    ("refunded", "refunded"),
]


REFUND_STATUSES = [
    ("cancelled", "cancelled"),
    ("partially_refunded", "partially refunded"),
    ("refunded", "refunded"),
]


OFFLINE_ITEM_STATUSES = [("ok", "ok"), ("error", "error")]


DECIMAL_STRING_SCHEMA = {
    "type": "string",
    "format": "decimal",
    "pattern": r"^-?\d+(\.\d+)?$",
    "example": "512.00",
}


class DecimalStringField(serializers.DecimalField):
    """A decimal given as a string (``"89.90"``) or an integer, never as a JSON float.

    A JSON number with a fraction reaches Python as a binary float, which cannot hold most
    kopeck amounts exactly; refusing it is the only way to never lose a kopeck.
    """

    default_error_messages = {
        "float": _(
            'Give this as a decimal string such as "89.90", not as a JSON number with a '
            "fraction: binary floats lose kopecks."
        ),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float):
            self.fail("float")
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return super().to_internal_value(data)


class PositiveDecimalStringField(DecimalStringField):
    default_error_messages = {"not_positive": _("Must be greater than 0.")}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value <= 0:
            self.fail("not_positive")
        return value


def money_field(**kwargs) -> DecimalStringField:
    return DecimalStringField(
        max_digits=14, decimal_places=DECIMAL_PLACES, min_value=Decimal("0"), **kwargs
    )


def quantity_field(**kwargs) -> PositiveDecimalStringField:
    return PositiveDecimalStringField(
        max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_DECIMAL_PLACES, **kwargs
    )


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^(max|\d{1,12}(\.\d{1,2})?)$",
        "example": "300.00",
        "description": "Points to pay with, as a decimal string, or `max` for as many as the "
        "rules allow.",
    }
)
class SpendPointsField(DecimalStringField):
    """``"max"`` or a non-negative decimal string with at most 2 places."""

    def __init__(self, **kwargs):
        super().__init__(
            max_digits=14, decimal_places=DECIMAL_PLACES, min_value=Decimal("0"), **kwargs
        )

    def run_validation(self, data=serializers.empty):
        # Before the validators: "max" is not a number for min_value to compare.
        if isinstance(data, str) and data.strip().lower() == SPEND_MAX:
            return SPEND_MAX
        return super().run_validation(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 datetime that carries its UTC offset; a naive one is refused, not guessed."""

    default_error_messages = {
        "invalid": _(
            "Give an ISO 8601 date and time with its UTC offset, e.g. 2026-03-08T13:45:00+07:00."
        ),
        "naive": _("The time has no UTC offset; give it with one, e.g. 2026-03-08T13:45:00+07:00."),
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("invalid")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("naive")
        try:
            parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            self.fail("invalid")
        return parsed


class StringField(serializers.CharField):
    """A string, or an integer read as its digits; a float or a bool is refused, not rounded."""

    def to_internal_value(self, data):
        if isinstance(data, float):
            self.fail("invalid")
        return super().to_internal_value(data)


class PhoneField(StringField):
    """A phone number in any notation, returned in E.164 (``+79001234567``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", PHONE_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if text == "":
            return text
        try:
            return normalize_phone(text)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages), code="invalid_phone") from exc


def id_field(**kwargs) -> StringField:
    return StringField(min_length=1, max_length=ID_MAX_LENGTH, **kwargs)


def max_lines(field: serializers.Field) -> int:
    return field.context.get("max_lines") or DEFAULT_MAX_LINES


class LineNumbersUnique:
    """Mix-in for a list of line objects: report a repeated ``line`` at ``<index>.line``."""

    duplicate_message = _("Line number %(line)s appears more than once.")

    def check_unique_lines(self, items: list[dict]) -> None:
        seen: set[int] = set()
        errors = {}
        for index, item in enumerate(items):
            if item["line"] in seen:
                errors[index] = {
                    "line": [
                        serializers.ErrorDetail(
                            str(self.duplicate_message % {"line": item["line"]}),
                            code="duplicate_line",
                        )
                    ]
                }
            seen.add(item["line"])
        if errors:
            # Keyed by list position, as DRF's ListField does; the stubs allow str keys only.
            raise serializers.ValidationError(errors)  # type: ignore[arg-type]


class LinesField(LineNumbersUnique, serializers.ListField):
    """The receipt's lines: 1 to the programme's ``max_receipt_lines``, numbers unique.

    The count is checked before any line is, so an oversized receipt costs no validation.
    """

    default_error_messages = {
        "too_many_lines": _("A receipt has at most %(max)s lines; this one has %(count)s."),
    }

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > max_lines(self):
            raise serializers.ValidationError(
                self.error_messages["too_many_lines"]
                % {"max": max_lines(self), "count": len(data)},
                code="too_many_lines",
            )
        items = super().to_internal_value(data)
        self.check_unique_lines(items)
        return items


class RefundLinesField(LinesField):
    pass


class ExchangesField(serializers.ListField):
    """The codes of the exchange promotions the customer pays for, each named once."""

    default_error_messages = {
        "duplicate_exchange": _("The exchange %(code)s is named more than once."),
    }

    def __init__(self, **kwargs):
        super().__init__(
            child=StringField(min_length=1, max_length=EXCHANGE_CODE_MAX_LENGTH),
            max_length=MAX_EXCHANGES,
            **kwargs,
        )

    def to_internal_value(self, data):
        codes = super().to_internal_value(data)
        seen: set[str] = set()
        errors = {}
        for index, code in enumerate(codes):
            if code in seen:
                errors[index] = [
                    serializers.ErrorDetail(
                        str(self.error_messages["duplicate_exchange"] % {"code": code}),
                        code="duplicate_exchange",
                    )
                ]
            seen.add(code)
        if errors:
            # Keyed by list position, as DRF's ListField does; the stubs allow str keys only.
            raise serializers.ValidationError(errors)  # type: ignore[arg-type]
        return codes


@extend_schema_field(DECIMAL_STRING_SCHEMA)
class DecimalString(serializers.CharField):
    """A decimal string in an answer: money with 2 places, points with their currency's."""
