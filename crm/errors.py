"""Domain errors of the customer base, each with a stable ``code`` slug (the API's ``code``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class CrmError(Exception):
    """Base of the customer base's errors: a stable ``code``, a translated message, a field."""

    code = "crm_error"
    message = _("The customer cannot be saved.")
    field: str | None = None

    def __init__(self, message=None, **details):
        self.detail = message or self.message
        self.details = details
        super().__init__(str(self.detail))


class CustomerExists(CrmError):
    code = "customer_exists"
    message = _("This phone number already belongs to another customer.")
    field = "phone"

    def __init__(self, customer, message=None):
        self.customer = customer
        super().__init__(message, customer=customer.public_id)


class EmailTaken(CrmError):
    code = "email_taken"
    message = _("This email already belongs to another customer.")
    field = "email"


class ReferralCodeUnknown(CrmError):
    code = "referral_code_unknown"
    message = _("No customer has this referral code or phone.")
    field = "referral_code"


class ReferralCodeTaken(CrmError):
    code = "referral_code_taken"
    message = _("This referral code already belongs to another customer.")
    field = "referral_code"


class OwnReferrer(CrmError):
    code = "own_referrer"
    message = _("A customer cannot refer themselves.")
    field = "referrer"


class InvalidBirthDate(CrmError):
    code = "invalid_birth_date"
    message = _("The birth date must be between 1900-01-01 and today.")
    field = "birth_date"


class AnonymiseReasonRequired(CrmError):
    code = "anonymise_reason_required"
    message = _("Say why the customer is anonymised (whose request, received how).")
    field = "reason"


class AlreadyAnonymised(CrmError):
    code = "already_anonymised"
    message = _("This customer is already anonymised.")
