"""Domain errors of the customer base, each with a stable ``code`` slug (the API's ``code``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """The base of every app's domain errors, defined here in the lowest layer.

    ``code``: a stable slug, the API's problem ``code``; ``status``: the HTTP status the API
    answers it with; ``message``: the translated title (``detail`` defaults to it); ``field``:
    the request field it is about, if one (a 4xx other than a conflict names it in
    ``errors``); ``details``: keyword values the problem body carries when ``details_public``
    (``errors`` among them: field errors). ``processing.api.problems`` renders them all.
    """

    code = "domain_error"
    status = 400
    message = _("The operation cannot be performed.")
    field: str | None = None
    details_public = True

    def __init__(self, message=None, **details):
        self.detail = message or self.message
        self.details = details
        super().__init__(str(self.detail))


class CrmError(DomainError):
    """Base of the customer base's errors. Their details name personal data (a phone, an
    email): the API never shows them."""

    code = "crm_error"
    message = _("The customer cannot be saved.")
    details_public = False


class CustomerExists(CrmError):
    status = 409
    code = "customer_exists"
    message = _("This phone number already belongs to another customer.")
    field = "phone"

    def __init__(self, customer, message=None):
        self.customer = customer
        super().__init__(message, customer=customer.public_id)


class EmailTaken(CrmError):
    status = 409
    code = "email_taken"
    message = _("This email already belongs to another customer.")
    field = "email"


class ReferralCodeUnknown(CrmError):
    status = 422
    code = "referral_code_unknown"
    message = _("No customer has this referral code or phone.")
    field = "referral_code"


class ReferralCodeTaken(CrmError):
    status = 409
    code = "referral_code_taken"
    message = _("This referral code already belongs to another customer.")
    field = "referral_code"


class OwnReferrer(CrmError):
    status = 422
    code = "own_referrer"
    message = _("A customer cannot refer themselves.")
    field = "referrer"


class InvalidBirthDate(CrmError):
    status = 400
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
