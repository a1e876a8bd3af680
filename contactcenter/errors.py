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
