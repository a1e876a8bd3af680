"""The contact centre in the admin: tickets with their deadlines, comments, attachments and
history; the categories, queues, SLA policies and working calendars behind them; manual
adjustments and their approval; the customers and the outbox with contacts masked. One module
a subject; ``masked`` registers the customers' and the outbox's admins again.
"""

from contactcenter.admin import (
    adjustments,  # noqa: F401
    masked,  # noqa: F401
    reference,  # noqa: F401
    tickets,  # noqa: F401
)
from contactcenter.admin.adjustments import AdjustmentAdmin, AdjustmentPolicyAdmin
from contactcenter.admin.masked import MaskedCustomerAdmin, MaskedMessageAdmin
from contactcenter.admin.reference import (
    HolidayInline,
    QueueAdmin,
    SLAPolicyAdmin,
    TicketCategoryAdmin,
    WorkingCalendarAdmin,
    WorkingHoursInline,
)
from contactcenter.admin.tickets import (
    OVERDUE_STYLE,
    PAUSED_STYLE,
    SOON_STYLE,
    SLAFilter,
    TicketAdmin,
    TicketAttachmentInline,
    TicketCommentInline,
    TicketEscalationAdmin,
    TicketEscalationInline,
    TicketEventInline,
    TicketForm,
    contacts_masked,
    fields_swapped,
)

__all__ = [
    "OVERDUE_STYLE",
    "PAUSED_STYLE",
    "SOON_STYLE",
    "AdjustmentAdmin",
    "AdjustmentPolicyAdmin",
    "HolidayInline",
    "MaskedCustomerAdmin",
    "MaskedMessageAdmin",
    "QueueAdmin",
    "SLAFilter",
    "SLAPolicyAdmin",
    "TicketAdmin",
    "TicketAttachmentInline",
    "TicketCategoryAdmin",
    "TicketCommentInline",
    "TicketEscalationAdmin",
    "TicketEscalationInline",
    "TicketEventInline",
    "TicketForm",
    "WorkingCalendarAdmin",
    "WorkingHoursInline",
    "contacts_masked",
    "fields_swapped",
]
