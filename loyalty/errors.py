"""Domain errors of the processing core. Each has a stable ``code`` slug, the one the API shows."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from crm.errors import DomainError


class LoyaltyError(DomainError):
    """Base of the ledger's and the registers' errors."""

    code = "loyalty_error"
    status = 400
    message = _("The operation cannot be performed.")


class PostingUnbalanced(LoyaltyError):
    code = "posting_unbalanced"
    status = 500
    message = _("The legs of a posting do not sum to zero.")


class InvalidPostingAmount(LoyaltyError):
    code = "invalid_amount"
    message = _("An amount is zero or has more decimal places than its currency allows.")


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    status = 409
    message = _("The account does not hold enough points.")


class CurrencyMismatch(LoyaltyError):
    code = "currency_mismatch"
    message = _("An entry is not in its account's currency.")


# --- Processing (pos-api.md) ----------------------------------------------------------------


class CardNotFound(LoyaltyError):
    code = "card_not_found"
    status = 404
    message = _("No card has this number.")


class CardBlocked(LoyaltyError):
    code = "card_blocked"
    status = 409
    message = _("The card is blocked, lost or replaced.")


class CardInactive(LoyaltyError):
    code = "card_inactive"
    status = 409
    message = _("The card has not been issued yet.")


class CustomerNotFound(LoyaltyError):
    code = "customer_not_found"
    status = 404
    message = _("No customer has this phone number.")


class NoProgramme(LoyaltyError):
    code = "no_programme"
    status = 409
    message = _("No active bonus programme serves this terminal.")


class ReceiptConflict(LoyaltyError):
    code = "receipt_conflict"
    status = 409
    message = _("This receipt id was already used with a different body.")


class RefundConflict(LoyaltyError):
    code = "refund_conflict"
    status = 409
    message = _("This refund id was already used with a different body.")


class ReceiptNotFound(LoyaltyError):
    code = "receipt_not_found"
    status = 404
    message = _("This terminal's partner has no confirmed receipt with this id.")


class ReceiptNotYetKnown(LoyaltyError):
    code = "receipt_not_yet_known"
    status = 409
    retry_after = 60
    message = _("The purchase has not arrived yet (an offline upload may be pending); retry later.")


class ReceiptCancelled(LoyaltyError):
    code = "receipt_cancelled"
    status = 409
    message = _("The purchase was cancelled; nothing is left to refund.")


class ReceiptNotReversible(LoyaltyError):
    code = "receipt_not_reversible"
    status = 409
    message = _(
        "The points this purchase moved cannot be split over its lines (it was loaded without "
        "them); it cannot be returned at the register."
    )


class NothingToRefund(LoyaltyError):
    code = "nothing_to_refund"
    status = 409
    message = _("Every line of this purchase has already been returned.")


class UnknownLine(LoyaltyError):
    code = "unknown_line"
    status = 422
    message = _("The purchase has no line with this number.")


class RefundExceedsPurchase(LoyaltyError):
    code = "refund_exceeds_purchase"
    status = 422
    message = _("More would be returned than was bought on this line.")


class SaleTimeOutOfWindow(LoyaltyError):
    code = "datetime_out_of_window"
    status = 422
    message = _("The time of sale is in the future or older than the offline upload window.")


class RequestInProgress(LoyaltyError):
    code = "request_in_progress"
    status = 409
    retry_after = 1
    message = _("The same receipt is being processed right now; retry the same request.")


# --- POS registration and coupons (processing/api) ---------------------------------------------


class CardAlreadyBound(LoyaltyError):
    code = "card_bound"
    status = 409
    message = _("The card already belongs to a customer.")


class CouponNotFound(LoyaltyError):
    code = "coupon_not_found"
    status = 404
    message = _("No coupon has this code.")


# --- Customer events (POST /api/v1/events) --------------------------------------------------


class EventTypeUnknown(LoyaltyError):
    code = "unknown_event_type"
    status = 422
    message = _("No accepted event type has this code.")


class EventConflict(LoyaltyError):
    code = "event_conflict"
    status = 409
    message = _("This event id was already used with a different body.")


class EventTimeOutOfWindow(LoyaltyError):
    code = "datetime_out_of_window"
    status = 422
    message = _("The event's time is in the future or older than the offline upload window.")


class CardWithoutCustomer(LoyaltyError):
    code = "customer_not_found"
    status = 404
    message = _("The card does not belong to a customer yet.")


# --- Peer thanks ----------------------------------------------------------------------------


class ThanksToSelf(LoyaltyError):
    code = "thanks_to_self"
    message = _("Thanks go to a colleague, never to yourself.")


class ThanksNeedReason(LoyaltyError):
    code = "thanks_reason_required"
    message = _("Say what the thanks are for.")


class ThanksNotGiven(LoyaltyError):
    code = "thanks_not_given"
    message = _("Points of this currency are not given to colleagues.")


class ThanksNotEnough(LoyaltyError):
    code = "thanks_not_enough"
    status = 409
    message = _("You have fewer thanks left to give this month.")


class ThanksBadAmount(LoyaltyError):
    code = "thanks_bad_amount"
    message = _("Give a positive amount, in whole units of the currency's precision.")


# --- Card operations and customer merge (operators, admin) ----------------------------------


class CardStatusInvalid(LoyaltyError):
    code = "card_status_invalid"
    status = 409
    message = _("This operation does not apply to a card in its current status.")


class BlockReasonRequired(LoyaltyError):
    code = "block_reason_required"
    message = _("Say why the card is blocked.")


class CardReplaceSame(LoyaltyError):
    code = "card_replace_same"
    message = _("A card cannot be replaced by itself.")


class CardProgrammeMismatch(LoyaltyError):
    code = "card_programme_mismatch"
    message = _("The new card belongs to another programme.")


class MergeIntoSelf(LoyaltyError):
    code = "merge_same_customer"
    message = _("A customer cannot be merged into themselves.")


class CustomerAlreadyMerged(LoyaltyError):
    code = "customer_merged"
    status = 409
    message = _("One of the customers has already been merged into another.")


class MergeHoldsActive(LoyaltyError):
    code = "merge_holds_active"
    status = 409
    message = _(
        "A purchase of the customer being merged is in progress at a register; "
        "try again in a few minutes."
    )


class CertificateNotFound(LoyaltyError):
    code = "certificate_not_found"
    status = 404
    message = _("No gift certificate has this code.")


class CertificateStateInvalid(LoyaltyError):
    code = "certificate_state_invalid"
    status = 409
    message = _("The gift certificate cannot do this in its present state.")


# --- RFM segmentation (loyalty.rfm) ---------------------------------------------------------


class RfmCellsInvalid(LoyaltyError):
    code = "rfm_cells_invalid"
    status = 409
    message = _("The scheme's cells must cover every square of the R x F grid exactly once.")
