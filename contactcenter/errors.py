"""Errors of the contact centre. Each has a stable ``code`` slug, the one the API shows.

They extend the core's ``LoyaltyError`` so that the API's problem handler renders them.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from loyalty.errors import LoyaltyError


class TicketError(LoyaltyError):
    code = "ticket_error"
    message = _("The ticket cannot be changed this way.")


class TransitionForbidden(TicketError):
    code = "transition_forbidden"
    status = 409
    message = _("A ticket cannot move from this status to that one.")


class CategoryUnknown(TicketError):
    code = "category_unknown"
    status = 422
    message = _("No active ticket category has this code.")


class TicketConflict(TicketError):
    code = "ticket_conflict"
    status = 409
    message = _("This request id was already used with a different body.")


class CommentEmpty(TicketError):
    code = "comment_empty"
    message = _("A comment needs some text.")


class AttachmentRefused(TicketError):
    code = "attachment_refused"
    message = _("The attachment is too large or of a type that is not accepted.")


class CalendarMissing(TicketError):
    code = "calendar_missing"
    status = 500
    message = _("No default working calendar is defined; SLA deadlines cannot be computed.")


class AdjustmentError(LoyaltyError):
    code = "adjustment_error"
    message = _("The adjustment cannot be made this way.")


class AdjustmentReasonRequired(AdjustmentError):
    code = "adjustment_reason_required"
    message = _("Say why the points are adjusted: the reason is required.")


class AdjustmentAmountInvalid(AdjustmentError):
    code = "adjustment_amount_invalid"
    message = _(
        "The amount must not be zero and must not have more decimal places than the "
        "currency allows."
    )


class AdjustmentTicketInvalid(AdjustmentError):
    code = "adjustment_ticket_invalid"
    message = _("The adjustment needs an open ticket of this customer.")


class AdjustmentInsufficientPoints(AdjustmentError):
    code = "insufficient_points"
    status = 409
    message = _("The customer does not have enough points for this debit.")


class AdjustmentDecided(AdjustmentError):
    code = "adjustment_decided"
    status = 409
    message = _("This adjustment was already approved or rejected.")


class AdjustmentSelfApproval(AdjustmentError):
    code = "adjustment_self_approval"
    status = 403
    message = _("A supervisor cannot approve or reject their own adjustment.")


class AdjustmentNotAllowed(AdjustmentError):
    code = "adjustment_not_allowed"
    status = 403
    message = _("You are not allowed to approve or reject adjustments.")


class DecisionNoteRequired(AdjustmentError):
    code = "decision_note_required"
    message = _("Say why the adjustment is rejected: the note is required.")
