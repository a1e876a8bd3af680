"""The POS API's request bodies, and the fast parse of a purchase (``purchase_fast``) that
gives the same answer as the serializers in a fraction of the time."""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.models import Consent
from loyalty.money import (
    line_amount,
)
from processing.api.serializers.fields import (
    CARD_MAX_LENGTH,
    CERTIFICATE_MAX_LENGTH,
    COUPON_MAX_LENGTH,
    ID_MAX_LENGTH,
    MAX_AMOUNT,
    MAX_CERTIFICATES,
    MAX_COUPONS,
    MAX_LINE_NUMBER,
    MAX_OFFLINE_RECEIPTS,
    SKU_MAX_LENGTH,
    SPEND_MAX,
    AwareDateTimeField,
    ExchangesField,
    LinesField,
    PhoneField,
    RefundLinesField,
    SpendPointsField,
    StringField,
    id_field,
    money_field,
    quantity_field,
)
from processing.api.serializers.profile import ProfileField
from processing.sale import PurchaseLine, PurchaseRequest


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
    profile = ProfileField(required=False)

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
            "profile": data.get("profile") or {},
        }


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
    same values, are accepted here (tests/processing/api/test_fast_validation.py checks both ways); this
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
