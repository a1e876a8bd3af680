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


class SegmentRuleError(CrmError):
    """A segment's rule that cannot be saved or evaluated; nothing is changed.

    ``path`` names the node, as the builder addresses it: ``items.0.items.2`` is the third item
    of the first group; ``param`` the parameter of a condition, if one. Rules hold no personal
    data, so their details are shown."""

    status = 422
    code = "segment_rule_invalid"
    message = _("The segment's rule is not valid.")
    field = "rule"
    details_public = True

    def __init__(self, message=None, *, path: str = "", param: str = "", **details):
        self.path = path
        self.param = param
        self.text = message or self.message
        where = " ".join(part for part in (path, param) if part)
        text = str(self.text)
        super().__init__(f"{where}: {text}" if where else text, path=path, param=param, **details)

    def at(self, path: str) -> SegmentRuleError:
        """The same error, about the node at ``path``."""
        details = {k: v for k, v in self.details.items() if k not in ("path", "param")}
        return type(self)(self.text, path=path, param=self.param, **details)


class RuleShapeInvalid(SegmentRuleError):
    code = "rule_shape_invalid"
    message = _(
        "A rule is a group {op: and/or, not, items: [...]} whose items are groups or conditions "
        "{kind, not, parameters}."
    )


class RuleGroupEmpty(SegmentRuleError):
    code = "rule_group_empty"
    message = _("A group needs at least one condition.")


class RuleTooLarge(SegmentRuleError):
    code = "rule_too_large"
    message = _("The rule is too large: at most 100 conditions and groups, 6 levels deep.")


class RuleKindUnknown(SegmentRuleError):
    code = "rule_kind_unknown"
    message = _("There is no condition of this kind.")


class RuleParamsInvalid(SegmentRuleError):
    code = "rule_params_invalid"
    message = _("A condition's parameters are not valid.")


class RuleSegmentCycle(SegmentRuleError):
    code = "rule_segment_cycle"
    message = _("The segment would refer to itself, directly or through other segments.")


class SegmentIsManual(CrmError):
    status = 409
    code = "segment_is_manual"
    message = _("A segment filled by hand is never refreshed.")
    details_public = True


class SegmentIsRefreshed(CrmError):
    status = 409
    code = "segment_is_refreshed"
    message = _(
        "A segment by rules takes its members from its rule: only a segment filled by hand "
        "or from a list takes a list."
    )
    details_public = True


class SegmentationError(CrmError):
    """A ready segmentation that cannot be created; nothing is created. ``param`` names the
    parameter at fault, if one."""

    status = 422
    code = "segmentation_invalid"
    message = _("The ready segmentation cannot be created.")
    details_public = True

    def __init__(self, message=None, *, param: str = "", **details):
        self.param = param
        super().__init__(message, param=param, **details)


class SegmentationUnknown(SegmentationError):
    code = "segmentation_unknown"
    message = _("There is no ready segmentation of this type.")


class SegmentationParamsInvalid(SegmentationError):
    code = "segmentation_params_invalid"
    message = _("A parameter of the ready segmentation is not valid.")


class SegmentationExists(SegmentationError):
    status = 409
    code = "segmentation_exists"
    message = _("Segments with these codes already exist in the programme.")


class VerificationError(CrmError):
    """A contact verification that cannot be started or confirmed; each subclass names why.
    Nothing is changed, except that a wrong code counts as an attempt."""

    code = "verification_error"
    message = _("The contact cannot be verified.")


class VerificationNoAddress(VerificationError):
    status = 422
    code = "verification_no_address"
    message = _("The customer has no phone or email for this channel.")


class VerificationRateLimited(VerificationError):
    status = 429
    code = "verification_rate_limited"
    message = _("Too many codes and links were sent to this customer in the last hour: try later.")


class VerificationUndeliverable(VerificationError):
    status = 503
    code = "verification_undeliverable"
    message = _("No outbox took the verification message: nothing was sent.")


class VerificationNotFound(VerificationError):
    status = 404
    code = "verification_not_found"
    message = _("No code was sent to this customer through this channel.")


class VerificationExpired(VerificationError):
    status = 410
    code = "verification_expired"
    message = _("The code or link has expired: send a new one.")


class VerificationSuperseded(VerificationError):
    status = 409
    code = "verification_superseded"
    message = _("A newer code or link was sent since: only the newest one can be used.")


class VerificationCodeWrong(VerificationError):
    status = 422
    code = "verification_code_wrong"
    message = _("The code is wrong.")

    def __init__(self, message=None, *, attempts_left: int, **details):
        self.attempts_left = attempts_left
        super().__init__(message, attempts_left=attempts_left, **details)


class VerificationLocked(VerificationError):
    status = 423
    code = "verification_locked"
    message = _("The code was entered wrong too many times: send a new one.")


class VerificationAddressChanged(VerificationError):
    status = 409
    code = "verification_address_changed"
    message = _(
        "The customer's phone or email has changed since the code was sent: send a new one."
    )


class VerificationAlreadyUsed(VerificationError):
    status = 409
    code = "verification_used"
    message = _("This code or link has already been used.")


class VerificationLinkInvalid(VerificationError):
    status = 400
    code = "verification_link_invalid"
    message = _("The link is not valid: copy it from the message in full.")
