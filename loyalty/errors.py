"""Domain errors of the processing core. Each has a stable ``code`` slug, the one the API shows."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    code = "loyalty_error"
    status = 400
    message = _("The operation cannot be performed.")

    def __init__(self, message=None, **details):
        self.detail = message or self.message
        self.details = details
        super().__init__(str(self.detail))


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
