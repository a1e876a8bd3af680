"""Request validation of the POS API (pos-api.md) and the shapes of its answers.

Input serializers check the *shape* of a request exactly as the contract states it (decimal
strings, offsets on datetimes, unique line numbers, limits); the services check the business
rules. Output serializers document the answers in the OpenAPI schema only: the services return
JSON-ready dicts (a replayed confirm must be byte-for-byte the stored answer), which the views
send as they are.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.models import Consent
from crm.phones import normalize_phone
from loyalty.money import (
    DECIMAL_PLACES,
    QUANTITY_DECIMAL_PLACES,
    QUANTITY_MAX_DIGITS,
    line_amount,
)
from processing.api.bodies import UNSTORABLE_MESSAGE, unstorable_text_errors
from processing.sale import PurchaseLine, PurchaseRequest

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


# --- Fields ---------------------------------------------------------------------------------


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


def _max_lines(field: serializers.Field) -> int:
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
        if isinstance(data, list) and len(data) > _max_lines(self):
            raise serializers.ValidationError(
                self.error_messages["too_many_lines"]
                % {"max": _max_lines(self), "count": len(data)},
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


# --- Requests -------------------------------------------------------------------------------


class PurchaseLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(
        min_value=1, max_value=MAX_LINE_NUMBER, help_text="Line number, unique in the receipt."
    )
    sku = StringField(max_length=SKU_MAX_LENGTH)
    quantity = quantity_field(help_text='Decimal string > 0, at most 3 places: `"0.350"`.')
    price = money_field(help_text="Price of one unit: decimal string >= 0, at most 2 places.")

    default_error_messages = {
        "amount_too_large": _("The line amount (quantity × price) exceeds %(max)s."),
    }

    def validate(self, attrs):
        if line_amount(attrs["quantity"], attrs["price"]) > MAX_AMOUNT:
            raise serializers.ValidationError(
                self.error_messages["amount_too_large"] % {"max": MAX_AMOUNT},
                code="amount_too_large",
            )
        return attrs


class CertificatePaymentSerializer(serializers.Serializer):
    code = StringField(
        max_length=CERTIFICATE_MAX_LENGTH, help_text="Any case; spaces and dashes ignored."
    )
    amount = money_field(
        required=False,
        allow_null=True,
        help_text="At most this much; absent: as much as the certificate and the receipt allow.",
    )


class PurchaseSerializer(serializers.Serializer):
    """The purchase body of `confirm` (and of each `offline` item)."""

    receipt_id = id_field(help_text="Unique per terminal; 1-64 characters.")
    datetime = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="Time of sale, ISO 8601 with an offset. Defaults to the server's now.",
    )
    card = StringField(
        max_length=CARD_MAX_LENGTH, required=False, allow_null=True, allow_blank=True
    )
    phone = PhoneField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Identifies the customer instead of a card; any notation.",
    )
    lines = LinesField(
        child=PurchaseLineSerializer(),
        allow_empty=False,
        min_length=1,
        help_text="1 to the programme's maximum (default 1000) lines, numbers unique.",
    )
    coupons = serializers.ListField(
        child=StringField(max_length=COUPON_MAX_LENGTH),
        required=False,
        max_length=MAX_COUPONS,
    )
    spend_points = SpendPointsField(required=False, allow_null=True)
    exchanges = ExchangesField(
        required=False,
        help_text="Codes of exchange promotions the customer pays for with points (chips), "
        "e.g. `MUG-50`; each is answered in the result's `exchanges`.",
    )
    certificates = serializers.ListField(
        child=CertificatePaymentSerializer(),
        required=False,
        max_length=MAX_CERTIFICATES,
        help_text="Gift cards and certificates paying part of the receipt, in this order; each "
        "is answered in the result's `certificates`.",
    )

    default_error_messages = {
        "card_and_phone": _("Give either card or phone, not both."),
        "total_too_large": _("The receipt total exceeds %(max)s."),
    }

    def validate(self, attrs):
        if attrs.get("card") and attrs.get("phone"):
            raise serializers.ValidationError(
                {"card": [self.error_messages["card_and_phone"]]}, code="card_and_phone"
            )
        total = sum(
            (line_amount(line["quantity"], line["price"]) for line in attrs["lines"]),
            Decimal("0"),
        )
        if total > MAX_AMOUNT:
            raise serializers.ValidationError(
                {"lines": [self.error_messages["total_too_large"] % {"max": MAX_AMOUNT}]},
                code="total_too_large",
            )
        return attrs

    def purchase_request(self) -> PurchaseRequest:
        data = self.validated_data
        return PurchaseRequest(
            receipt_id=data["receipt_id"],
            sold_at=data.get("datetime"),
            card=data.get("card") or None,
            phone=data.get("phone") or None,
            lines=tuple(
                PurchaseLine(
                    line_no=line["line"],
                    sku=line["sku"],
                    quantity=line["quantity"],
                    price=line["price"],
                )
                for line in data["lines"]
            ),
            coupons=tuple(data.get("coupons") or ()),
            spend_points=data.get("spend_points"),
            exchanges=tuple(data.get("exchanges") or ()),
            certificates=tuple(
                (item["code"], item.get("amount")) for item in data.get("certificates") or ()
            ),
        )


class PurchaseCalculateSerializer(PurchaseSerializer):
    """The purchase body of `calculate`: the same, plus `hold`."""

    hold = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Reserve the points to spend for this receipt id until confirm or cancel.",
    )


class PurchaseCancelSerializer(serializers.Serializer):
    receipt_id = id_field()


class RefundLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, max_value=MAX_LINE_NUMBER)
    quantity = quantity_field()


class PurchaseRefundSerializer(serializers.Serializer):
    receipt_id = id_field()
    refund_id = id_field(help_text="Unique per terminal; a retry with the same id is safe.")
    lines = RefundLinesField(
        child=RefundLineSerializer(),
        allow_empty=False,
        min_length=1,
        required=False,
        allow_null=True,
        help_text="Lines and quantities to return; leave out to return everything left.",
    )

    def refund_lines(self) -> list[tuple[int, Decimal]] | None:
        lines = self.validated_data.get("lines")
        if lines is None:
            return None
        return [(line["line"], line["quantity"]) for line in lines]


@extend_schema_field(PurchaseSerializer(many=True))
class OfflineReceiptsField(serializers.ListField):
    """The raw items of an offline upload; each is validated on its own by the view."""

    def __init__(self, **kwargs):
        super().__init__(
            child=serializers.JSONField(),
            allow_empty=False,
            max_length=MAX_OFFLINE_RECEIPTS,
            **kwargs,
        )


class PurchasesOfflineSerializer(serializers.Serializer):
    receipts = OfflineReceiptsField(
        help_text="Confirm bodies in sale order, at most 500; each item is answered on its own."
    )


class CustomerLookupSerializer(serializers.Serializer):
    phone = PhoneField(help_text="Any notation: `8 900 123-45-67`, `+7 (900) 123-45-67`.")


@extend_schema_field(
    {
        "type": "object",
        "properties": {channel: {"type": "boolean"} for channel in Consent.Channel.values},
        "additionalProperties": False,
    }
)
class ConsentsField(serializers.DictField):
    """Consents by channel; a channel the server does not know is refused (validate_consents)."""


class CustomerRegisterSerializer(serializers.Serializer):
    phone = PhoneField(help_text="Any notation; stored in E.164.")
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    email = serializers.EmailField(
        max_length=254, required=False, allow_null=True, allow_blank=True
    )
    birth_date = serializers.DateField(required=False, allow_null=True)
    card = StringField(
        max_length=CARD_MAX_LENGTH,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Number of the plastic card handed over; leave out for a virtual card.",
    )
    referral_code = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="The referral code (or phone) of the friend who brought the customer.",
    )
    consents = ConsentsField(
        child=serializers.BooleanField(),
        required=False,
        help_text="Consent per channel: " + ", ".join(Consent.Channel.values) + ".",
    )

    default_error_messages = {
        "unknown_channel": _("Unknown consent channel; use one of: %(channels)s."),
    }

    def validate_consents(self, value: dict) -> dict:
        errors = {
            channel: [
                self.error_messages["unknown_channel"]
                % {"channels": ", ".join(Consent.Channel.values)}
            ]
            for channel in value
            if channel not in Consent.Channel.values
        }
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def service_arguments(self) -> dict:
        data = self.validated_data
        return {
            "phone": data["phone"],
            "first_name": data["first_name"],
            "last_name": data.get("last_name") or "",
            "email": data.get("email") or None,
            "birth_date": data.get("birth_date"),
            "card_number": data.get("card") or None,
            "referral_code": data.get("referral_code") or None,
            "consents": data.get("consents") or {},
        }


# --- Answers (schema only) ------------------------------------------------------------------


@extend_schema_field(DECIMAL_STRING_SCHEMA)
class DecimalString(serializers.CharField):
    """A decimal string in an answer: money with 2 places, points with their currency's."""


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="URI naming the problem type.")
    title = serializers.CharField(help_text="Short summary of the problem type (translated).")
    status = serializers.IntegerField(help_text="The HTTP status.")
    code = serializers.CharField(help_text="Stable machine-readable slug, e.g. `card_blocked`.")
    detail = serializers.CharField(help_text="What went wrong this time (translated).")
    # A declared field (the metaclass takes it off the class): Serializer.errors stays.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation only: messages by dotted path into the body, e.g. "
        "`lines.2.price` (list positions count from 0).",
    )


class CardPartSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=CARD_STATUSES)
    type = serializers.ChoiceField(choices=["loyalty", "gift"])


class CustomerPartSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The customer's public id.")
    first_name = serializers.CharField()
    tier = serializers.CharField(allow_null=True)
    referral_code = serializers.CharField(allow_null=True)


class ExpiringSerializer(serializers.Serializer):
    amount = DecimalString()
    date = serializers.DateField()


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    active = DecimalString(help_text="Points that can be spent now.")
    pending = DecimalString(help_text="Earned, not active yet.")
    held = DecimalString(help_text="Reserved by holds between calculate and confirm.")
    expiring = ExpiringSerializer(many=True, help_text="Active points expiring within 30 days.")


class CardSummarySerializer(serializers.Serializer):
    card = CardPartSerializer(allow_null=True)
    customer = CustomerPartSerializer(allow_null=True)
    balances = BalanceSerializer(many=True)


class CustomerExistsProblemSerializer(ProblemSerializer):
    """409 `customer_exists`: the problem plus the summary of the customer who has the phone."""

    card = CardPartSerializer(allow_null=True)
    customer = CustomerPartSerializer(allow_null=True)
    balances = BalanceSerializer(many=True)


class ResultCustomerSerializer(serializers.Serializer):
    id = serializers.CharField()
    tier = serializers.CharField(allow_null=True)


class ResultBalanceSerializer(serializers.Serializer):
    before = DecimalString()
    after = DecimalString()
    pending = DecimalString()


class ResultLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    amount = DecimalString()
    discount = DecimalString()
    points_spent = DecimalString()
    to_pay = DecimalString()
    points_earned = DecimalString()
    certificate_paid = DecimalString(
        required=False, help_text="Of `to_pay`, paid with gift certificates."
    )


class ResultPromotionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    effect = serializers.ChoiceField(choices=["discount", "points"])
    amount = DecimalString()
    currency = serializers.CharField(required=False, help_text="For points: their currency.")
    to = serializers.ChoiceField(
        choices=["referrer"],
        required=False,
        help_text="Points given to the friend who referred the customer, not to the customer.",
    )


class ResultCouponSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField(help_text="`applied` or `rejected`.")
    reason = serializers.CharField(required=False, allow_null=True)


class IssuedCouponSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The code the customer presents on a next purchase.")
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True, help_text="Null: no end.")


class ResultExchangeSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The code the register asked for.")
    status = serializers.ChoiceField(choices=RESULT_STATUSES)
    promotion_id = serializers.IntegerField(
        required=False, help_text="The exchange promotion, when the code names one."
    )
    currency = serializers.CharField(required=False, help_text="The currency of the price.")
    cost = DecimalString(required=False, help_text="The price the customer pays (or would pay).")
    reason = serializers.ChoiceField(
        choices=[
            "unknown_exchange",
            "no_customer",
            "not_available",
            "conditions_not_met",
            "limit_reached",
            "nothing_to_give",
            "not_enough_chips",
        ],
        required=False,
        help_text="Why a rejected exchange was not applied.",
    )


class ResultCertificateSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.ChoiceField(choices=RESULT_STATUSES)
    reason = serializers.ChoiceField(
        choices=[
            "certificate_not_found",
            "certificate_not_active",
            "certificate_used",
            "certificate_expired",
            "certificate_blocked",
            "certificate_not_accepted_here",
            "certificate_held",
            "certificate_repeated",
            "nothing_to_pay",
        ],
        required=False,
    )
    amount = DecimalString(required=False, help_text="What it pays.")
    balance_before = DecimalString(required=False)
    balance_after = DecimalString(required=False)


class CertificateStatusSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.ChoiceField(choices=CERTIFICATE_STATUSES)
    kind = serializers.ChoiceField(choices=CERTIFICATE_KINDS)
    series = serializers.CharField()
    nominal = DecimalString()
    balance = DecimalString()
    available = DecimalString(help_text="What it can pay now.")
    expires_at = serializers.DateTimeField(allow_null=True)
    single_use = serializers.BooleanField()
    accepted_here = serializers.BooleanField(help_text="Whether this terminal's partner takes it.")


class HeldCertificateSerializer(serializers.Serializer):
    code = serializers.CharField()
    amount = DecimalString()


class HoldSerializer(serializers.Serializer):
    points = DecimalString()
    expires_at = serializers.DateTimeField(allow_null=True)
    coupons = serializers.ListField(
        child=serializers.CharField(), help_text="The single-use coupons reserved."
    )
    certificates = HeldCertificateSerializer(
        many=True, required=False, help_text="The certificates' money reserved."
    )


class PurchaseResultSerializer(serializers.Serializer):
    receipt_id = serializers.CharField()
    status = serializers.ChoiceField(choices=PURCHASE_STATUSES)
    customer = ResultCustomerSerializer(allow_null=True)
    total = DecimalString()
    discount = DecimalString()
    points_spent = DecimalString(help_text="Money paid with points.")
    to_pay = DecimalString()
    points_earned = DecimalString()
    balance = ResultBalanceSerializer()
    lines = ResultLineSerializer(many=True)
    promotions = ResultPromotionSerializer(many=True)
    coupons = ResultCouponSerializer(many=True)
    messages = serializers.ListField(child=serializers.CharField())
    exchanges = ResultExchangeSerializer(
        many=True, required=False, help_text="When the body asked for exchanges: one per code."
    )
    certificate_paid = DecimalString(
        required=False, help_text="When the body names certificates: what they pay."
    )
    to_pay_in_money = DecimalString(
        required=False, help_text="`to_pay` less what the certificates pay."
    )
    certificates = ResultCertificateSerializer(
        many=True, required=False, help_text="When the body names certificates: one per code."
    )
    coupons_issued = IssuedCouponSerializer(
        many=True,
        required=False,
        help_text="Confirm only, when the purchase earned coupons for the next purchase: their "
        "codes, to print on the receipt (the customer is also sent them).",
    )


class PurchaseCalculateResultSerializer(PurchaseResultSerializer):
    hold = HoldSerializer(required=False, help_text="With `hold: true`: what is reserved.")


class RefundResultLineSerializer(ResultLineSerializer):
    quantity = DecimalString()


class RefundBalanceSerializer(serializers.Serializer):
    after = DecimalString()
    pending = DecimalString()


class ExchangeReturnedSerializer(serializers.Serializer):
    code = serializers.CharField()
    currency = serializers.CharField()
    points = DecimalString(help_text="The price given back.")


class CertificateReturnedSerializer(serializers.Serializer):
    code = serializers.CharField()
    amount = DecimalString()
    to = serializers.ChoiceField(
        choices=["certificate", "money"],
        help_text="`money`: the certificate cannot take it back (expired, blocked, or single "
        "use and only part of the receipt returned): the register pays it out.",
    )
    balance_after = DecimalString(required=False)


class RefundResultSerializer(serializers.Serializer):
    receipt_id = serializers.CharField()
    refund_id = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=REFUND_KINDS)
    status = serializers.ChoiceField(choices=REFUND_STATUSES)
    amount = DecimalString()
    to_pay = DecimalString()
    points_returned = DecimalString(help_text="Points given back (they paid for the lines).")
    points_reversed = DecimalString(help_text="Points taken back (the lines earned them).")
    shortfall = DecimalString()
    debt = DecimalString()
    lines = RefundResultLineSerializer(many=True)
    balance = RefundBalanceSerializer(allow_null=True)
    exchanges_returned = ExchangeReturnedSerializer(
        many=True,
        required=False,
        help_text="Exchanges whose points this refund gave back (a cancel, or every line they "
        "touched returned).",
    )
    certificates_returned = CertificateReturnedSerializer(many=True, required=False)
    money_back = DecimalString(
        required=False, help_text="Of `to_pay`, what the register pays back in money."
    )


class PurchaseCancelResultSerializer(serializers.Serializer):
    """The cancellation (as a refund of everything left), or only a released hold."""

    receipt_id = serializers.CharField()
    status = serializers.ChoiceField(choices=REFUND_STATUSES)
    hold_released = serializers.BooleanField(
        required=False, help_text="True when only a hold existed (nothing was confirmed)."
    )
    refund_id = serializers.CharField(allow_null=True, required=False)
    kind = serializers.ChoiceField(choices=REFUND_KINDS, required=False)
    amount = DecimalString(required=False)
    to_pay = DecimalString(required=False)
    points_returned = DecimalString(required=False)
    points_reversed = DecimalString(required=False)
    shortfall = DecimalString(required=False)
    debt = DecimalString(required=False)
    lines = RefundResultLineSerializer(many=True, required=False)
    balance = RefundBalanceSerializer(allow_null=True, required=False)
    exchanges_returned = ExchangeReturnedSerializer(many=True, required=False)
    certificates_returned = CertificateReturnedSerializer(many=True, required=False)
    money_back = DecimalString(required=False)


class PurchaseRecordSerializer(PurchaseResultSerializer):
    refunds = RefundResultSerializer(many=True)


class OfflineErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    # A declared field (the metaclass takes it off the class): Serializer.errors stays.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class OfflineItemResultSerializer(serializers.Serializer):
    receipt_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=OFFLINE_ITEM_STATUSES)
    result = PurchaseResultSerializer(required=False)
    error = OfflineErrorSerializer(required=False)


class PurchasesOfflineResultSerializer(serializers.Serializer):
    results = OfflineItemResultSerializer(many=True, help_text="One per item, in upload order.")


# --- The common purchase body, without DRF's machinery ------------------------------------------

_MONEY_RE = re.compile(r"\d{1,12}(?:\.\d{1,2})?")
_QUANTITY_RE = re.compile(r"\d{1,12}(?:\.\d{1,3})?")
_CENT = Decimal("0.01")
_MILLI = Decimal("0.001")
_FAST_BODY_KEYS = frozenset(
    [
        "receipt_id",
        "datetime",
        "card",
        "phone",
        "lines",
        "coupons",
        "spend_points",
        "hold",
        "exchanges",
    ]
)
_DATETIME_FIELD = AwareDateTimeField(required=False, allow_null=True)


def _plain_text(value, max_length: int, *, blank: bool = False) -> str | None:
    """What DRF's CharField keeps of a plain string (stripped), or None to let DRF decide."""
    if type(value) is not str:
        return None
    text = value.strip()
    if not text.isascii() or "\x00" in text or len(text) > max_length:
        return None
    if not text and not blank:
        return None
    return text


def _decimal(value, pattern: re.Pattern, unit: Decimal) -> Decimal | None:
    if type(value) is int:
        return Decimal(value).quantize(unit) if 0 <= value < 10**12 else None
    if type(value) is not str or not pattern.fullmatch(value):
        return None
    return Decimal(value).quantize(unit)


def purchase_fast(data, max_lines: int, *, calculate: bool) -> tuple[PurchaseRequest, bool] | None:
    """The request of a purchase body in the common, well-formed case, and its ``hold``.

    ``None`` whenever anything is unusual or wrong (a phone, coupons, whitespace or
    non-ASCII text, another notation of a number, a bad value...): the DRF serializer then
    validates the body and answers any error. Only bodies the serializer accepts, with the
    same values, are accepted here (tests/api/test_fast_validation.py checks both ways); this
    skips DRF's field copies and per-field calls, most of a 15-line confirm's validation time.
    """
    if type(data) is not dict or not data.keys() <= _FAST_BODY_KEYS:
        return None
    if not calculate and "hold" in data:
        return None
    receipt_id = _plain_text(data.get("receipt_id"), ID_MAX_LENGTH)
    if receipt_id is None or receipt_id != data["receipt_id"]:
        return None
    card = data.get("card")
    if card is not None:
        card = _plain_text(card, CARD_MAX_LENGTH, blank=True)
        if card is None or card != data["card"]:
            return None
    if data.get("phone") not in (None, "") or data.get("coupons", []) != []:
        return None
    if data.get("exchanges", []) != []:
        return None
    sold_at = data.get("datetime")
    if sold_at is not None:
        try:
            sold_at = _DATETIME_FIELD.run_validation(sold_at)
        except serializers.ValidationError:
            return None
    spend = data.get("spend_points")
    if spend is not None and spend != SPEND_MAX:
        spend = _decimal(spend, _MONEY_RE, _CENT)
        if spend is None:
            return None
    hold = data.get("hold", False)
    if type(hold) is not bool:
        return None
    raw_lines = data.get("lines")
    if type(raw_lines) is not list or not 0 < len(raw_lines) <= max_lines:
        return None
    lines, seen, total = [], set(), Decimal(0)
    for raw in raw_lines:
        if type(raw) is not dict or not raw.keys() >= {"line", "sku", "quantity", "price"}:
            return None
        line_no = raw["line"]
        if type(line_no) is not int or not 0 < line_no <= MAX_LINE_NUMBER or line_no in seen:
            return None
        seen.add(line_no)
        sku = _plain_text(raw["sku"], SKU_MAX_LENGTH)
        quantity = _decimal(raw["quantity"], _QUANTITY_RE, _MILLI)
        price = _decimal(raw["price"], _MONEY_RE, _CENT)
        if sku is None or sku != raw["sku"] or quantity is None or price is None or not quantity:
            return None
        amount = line_amount(quantity, price)
        if amount > MAX_AMOUNT:
            return None
        total += amount
        lines.append(PurchaseLine(line_no=line_no, sku=sku, quantity=quantity, price=price))
    if total > MAX_AMOUNT:
        return None
    request = PurchaseRequest(
        receipt_id=receipt_id,
        sold_at=sold_at,
        card=card or None,
        phone=None,
        lines=tuple(lines),
        coupons=(),
        spend_points=spend,
    )
    return request, hold


# --- Customer events (POST /events) ---------------------------------------------------------

MAX_EVENT_ATTRIBUTES_BYTES = 8192


class EventCustomerSerializer(serializers.Serializer):
    card = StringField(max_length=CARD_MAX_LENGTH, required=False, allow_null=True)
    phone = PhoneField(required=False, allow_null=True)

    default_error_messages = {
        "one_of": _("Name the customer by exactly one of card or phone."),
    }

    def validate(self, attrs):
        given = [name for name in ("card", "phone") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(self.error_messages["one_of"], code="one_of")
        return attrs


class EventSerializer(serializers.Serializer):
    """A customer's event reported by an external system."""

    customer = EventCustomerSerializer(help_text='{"card": ...} or {"phone": ...}.')
    type = serializers.RegexField(
        r"^[a-z0-9_\-]{1,64}$",
        help_text="The event type's code, as defined in the admin, e.g. joined_group.",
    )
    event_id = id_field(help_text="Unique per terminal; a retry sends the same one.")
    occurred_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="When it happened. Defaults to now."
    )
    attributes = serializers.DictField(
        required=False, default=dict, help_text="Anything the event carries; kept as sent."
    )

    default_error_messages = {
        "attributes_too_large": _("The attributes take more than 8 KiB."),
    }

    def validate_attributes(self, value: dict) -> dict:
        if unstorable_text_errors(value):  # the parser refuses them first; this for any caller
            raise serializers.ValidationError(UNSTORABLE_MESSAGE, code="unstorable_text")
        size = len(json.dumps(value, default=str).encode())
        if size > MAX_EVENT_ATTRIBUTES_BYTES:
            raise serializers.ValidationError(
                self.error_messages["attributes_too_large"], code="attributes_too_large"
            )
        return value

    def service_arguments(self) -> dict:
        data = self.validated_data
        return {
            "event_id": data["event_id"],
            "type_code": data["type"],
            "card": data["customer"].get("card") or None,
            "phone": data["customer"].get("phone") or None,
            "occurred_at": data.get("occurred_at"),
            "attributes": data.get("attributes") or {},
        }


class EventCounterSerializer(serializers.Serializer):
    counter = serializers.CharField()
    value = serializers.CharField()


class EventPointsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = serializers.CharField()
    to = serializers.ChoiceField(choices=["customer", "referrer"])


class EventRewardSerializer(serializers.Serializer):
    promotion = serializers.IntegerField()
    name = serializers.CharField()
    points = EventPointsSerializer(many=True)


class EventCustomerPartSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The customer's public id.")


class EventResultSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted"])
    customer = EventCustomerPartSerializer()
    occurred_at = serializers.DateTimeField()
    counters = EventCounterSerializer(many=True)
    rewards = EventRewardSerializer(many=True)


class CouponStatusSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["valid", "used", "expired", "not_yet_active", "withdrawn"]
    )
    series = serializers.CharField(help_text="The series code.")
    name = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)
    uses_left = serializers.IntegerField(allow_null=True, help_text="null: any number.")
    personal = serializers.BooleanField(help_text="Issued to one customer.")
    prize = serializers.CharField(
        allow_null=True, help_text="A scratch coupon's prize, once it has been used."
    )
