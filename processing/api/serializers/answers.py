"""The POS API's answers as the schema documents them: problems, card and customer summaries,
purchases, refunds, holds, certificates, offline uploads, coupons."""

from __future__ import annotations

from rest_framework import serializers

from processing.api.serializers.fields import (
    CARD_STATUSES,
    CERTIFICATE_KINDS,
    CERTIFICATE_STATUSES,
    OFFLINE_ITEM_STATUSES,
    PURCHASE_STATUSES,
    REFUND_KINDS,
    REFUND_STATUSES,
    RESULT_STATUSES,
    DecimalString,
)
from processing.api.serializers.profile import ProfileField


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


class RegisteredCustomerPartSerializer(CustomerPartSerializer):
    profile = ProfileField(help_text="The answers stored, by question code.")


class RegisteredSummarySerializer(CardSummarySerializer):
    customer = RegisteredCustomerPartSerializer()


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
