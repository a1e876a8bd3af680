"""Tickets of the contact centre and the service levels they are held to.

A ticket is a customer's request or complaint, opened by an operator (a call), from an email,
or by the app or website through the API. Its category and priority pick an ``SLAPolicy``: how
many minutes of working time (a ``WorkingCalendar``) may pass before the first answer and
before the resolution. The deadlines are stored on the ticket, so lists can sort and filter on
them; ``contactcenter.services`` is the only code that changes status, deadlines or escalation.
"""

from __future__ import annotations

import zoneinfo
from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from contactcenter.worktime import Schedule
from loyalty.money import MAX_DIGITS, POINTS_DECIMAL_PLACES

ATTACHMENT_EXTENSIONS = [
    "pdf",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
    "heic",
    "txt",
    "csv",
    "eml",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "odt",
    "ods",
]


def validate_time_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            _("%(zone)s is not an IANA time zone (e.g. Europe/Moscow)."),
            code="invalid_time_zone",
            params={"zone": value},
        ) from exc


def validate_attachment_size(file) -> None:
    limit = settings.TICKETS_ATTACHMENT_MAX_BYTES
    if file.size is not None and file.size > limit:
        raise ValidationError(
            _("The file is larger than %(limit)s bytes."),
            code="attachment_too_large",
            params={"limit": limit},
        )


# --- Reference data: categories, queues, calendars, policies ------------------------------


class TicketCategory(models.Model):
    """What a ticket is about (card activation, missing points...), defined in the admin."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    default_queue = models.ForeignKey(
        "contactcenter.Queue",
        verbose_name=_("default queue"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("New tickets of this category go to this queue."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive categories cannot be chosen for new tickets."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("ticket category")
        verbose_name_plural = _("ticket categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Queue(models.Model):
    """A group of operators who work tickets together, with a supervisor told of escalations."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("supervisor"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    email = models.EmailField(
        _("notification email"),
        blank=True,
        help_text=_("Escalations are also sent here (a team mailbox)."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkingCalendar(models.Model):
    """Working hours per weekday and holidays, in one time zone; SLA time runs only inside."""

    name = models.CharField(_("name"), max_length=200)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Moscow", validators=[validate_time_zone]
    )
    is_default = models.BooleanField(
        _("default"),
        default=False,
        help_text=_("Used by policies without a calendar of their own. Only one can be default."),
    )

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="workingcalendar_one_default",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def schedule(self) -> Schedule:
        """This calendar as the pure ``Schedule`` the arithmetic works on."""
        hours: dict[int, list[tuple[time, time]]] = {}
        for row in self.hours.all():
            hours.setdefault(row.weekday, []).append((row.start, row.end))
        return Schedule(
            zone=zoneinfo.ZoneInfo(self.time_zone),
            hours={day: tuple(intervals) for day, intervals in hours.items()},
            holidays=frozenset(self.holidays.values_list("date", flat=True)),
        )


class WorkingHours(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    calendar = models.ForeignKey(
        WorkingCalendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(pgettext_lazy("time of day", "from"))
    end = models.TimeField(
        pgettext_lazy("time of day", "to"),
        help_text=_(
            "An end not after the start runs past midnight: 22:00-06:00 is a night shift, "
            "00:00-00:00 the whole day."
        ),
    )

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["calendar", "weekday", "start"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class Holiday(models.Model):
    calendar = models.ForeignKey(
        WorkingCalendar,
        verbose_name=_("calendar"),
        on_delete=models.CASCADE,
        related_name="holidays",
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_per_calendar")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}".strip()


class Priority(models.TextChoices):
    LOW = "low", pgettext_lazy("ticket priority", "low")
    NORMAL = "normal", pgettext_lazy("ticket priority", "normal")
    HIGH = "high", pgettext_lazy("ticket priority", "high")
    URGENT = "urgent", pgettext_lazy("ticket priority", "urgent")


# Escalation raises a ticket's priority one step along this order.
PRIORITY_ORDER = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]


class SLAPolicy(models.Model):
    """Minutes of working time to the first answer and to the resolution, for a category (or
    every category without a policy of its own) and a priority."""

    category = models.ForeignKey(
        TicketCategory,
        verbose_name=_("category"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sla_policies",
        help_text=_("Empty: every category that has no policy of its own for this priority."),
    )
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(
        _("first response, working minutes"), validators=[MinValueValidator(1)]
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution, working minutes"), validators=[MinValueValidator(1)]
    )
    calendar = models.ForeignKey(
        WorkingCalendar,
        verbose_name=_("calendar"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        help_text=_("Empty: the default calendar."),
    )

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["category__name", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "priority"],
                condition=Q(category__isnull=False),
                name="slapolicy_unique_category_priority",
            ),
            models.UniqueConstraint(
                fields=["priority"],
                condition=Q(category__isnull=True),
                name="slapolicy_unique_fallback_priority",
            ),
        ]

    def __str__(self) -> str:
        category = self.category.name if self.category_id else _("any category")
        return f"{category} / {self.get_priority_display()}"


# --- Tickets ---------------------------------------------------------------------------------


class Ticket(models.Model):
    class Channel(models.TextChoices):
        CALL = "call", _("call")
        EMAIL = "email", _("email")
        APP = "app", _("mobile app")
        WEB = "web", _("web form")
        POS = "pos", _("point of sale")

    class Status(models.TextChoices):
        NEW = "new", pgettext_lazy("ticket status", "new")
        IN_PROGRESS = "in_progress", pgettext_lazy("ticket status", "in progress")
        WAITING = "waiting", pgettext_lazy("ticket status", "waiting for customer")
        RESOLVED = "resolved", pgettext_lazy("ticket status", "resolved")
        CLOSED = "closed", pgettext_lazy("ticket status", "closed")
        REOPENED = "reopened", pgettext_lazy("ticket status", "reopened")

    # Statuses in which the ticket still needs the contact centre's work (its clocks run).
    OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS, Status.REOPENED)

    number = models.CharField(_("number"), max_length=16, unique=True, null=True, editable=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    category = models.ForeignKey(
        TicketCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="tickets"
    )
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NEW, editable=False
    )
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("description"), blank=True)
    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    card = models.ForeignKey(
        "loyalty.Card",
        verbose_name=_("card"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    receipt = models.ForeignKey(
        "loyalty.Receipt",
        verbose_name=_("receipt"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=32, blank=True)
    queue = models.ForeignKey(
        Queue,
        verbose_name=_("queue"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets_assigned",
    )
    sla_policy = models.ForeignKey(
        SLAPolicy,
        verbose_name=_("SLA policy"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # Where it came from: the API terminal and its request id (idempotency), or an email.
    terminal = models.ForeignKey(
        "loyalty.Terminal",
        verbose_name=_("terminal"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="tickets",
    )
    request_id = models.CharField(_("request id"), max_length=64, blank=True, editable=False)
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    message_id = models.CharField(_("email Message-ID"), max_length=300, blank=True, editable=False)

    created_at = models.DateTimeField(_("opened"), default=timezone.now, editable=False)
    first_responded_at = models.DateTimeField(
        _("first response"), null=True, blank=True, editable=False
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    first_response_due = models.DateTimeField(
        _("first response due"), null=True, blank=True, editable=False
    )
    resolution_due = models.DateTimeField(
        _("resolution due"), null=True, blank=True, editable=False
    )
    # The resolution clock: it starts when the ticket is opened (again when reopened), stops
    # while the ticket waits for the customer, and the working time spent waiting (before the
    # deadline) moves the deadline on. Seconds of working time.
    clock_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    paused_at = models.DateTimeField(_("waiting since"), null=True, blank=True, editable=False)
    paused_seconds = models.PositiveIntegerField(
        _("working seconds waited"), default=0, editable=False
    )
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation level"), default=0, editable=False
    )
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = pgettext_lazy("support request", "ticket")
        verbose_name_plural = pgettext_lazy("support request", "tickets")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "request_id"],
                condition=~Q(request_id=""),
                name="ticket_unique_terminal_request",
            ),
            models.UniqueConstraint(
                fields=["message_id"],
                condition=~Q(message_id=""),
                name="ticket_unique_message_id",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "resolution_due"], name="ticket_status_due_idx"),
            models.Index(fields=["first_response_due"], name="ticket_first_due_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def first_response_overdue(self, now=None) -> bool:
        now = now or timezone.now()
        if self.first_response_due is None or self.status in (
            self.Status.RESOLVED,
            self.Status.CLOSED,
        ):
            return False
        answered = self.first_responded_at
        return (answered or now) > self.first_response_due

    def resolution_overdue(self, now=None) -> bool:
        now = now or timezone.now()
        if self.resolution_due is None or not self.is_open:
            return False
        return now > self.resolution_due

    def is_overdue(self, now=None) -> bool:
        """An open ticket past a deadline it has not met yet (waiting tickets are paused)."""
        now = now or timezone.now()
        first_missed = (
            self.first_responded_at is None
            and self.first_response_due is not None
            and self.is_open
            and now > self.first_response_due
        )
        return first_missed or self.resolution_overdue(now)


class TicketComment(models.Model):
    class Author(models.TextChoices):
        STAFF = "staff", _("staff")
        CUSTOMER = "customer", _("customer")

    ticket = models.ForeignKey(
        Ticket,
        verbose_name=pgettext_lazy("support request", "ticket"),
        on_delete=models.CASCADE,
        related_name="comments",
    )
    author_kind = models.CharField(
        _("from"), max_length=8, choices=Author.choices, default=Author.STAFF
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    body = models.TextField(_("text"))
    is_internal = models.BooleanField(
        _("internal"), default=False, help_text=_("Internal notes are never shown to the customer.")
    )
    message_id = models.CharField(_("email Message-ID"), max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(_("written"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("comment")
        verbose_name_plural = _("comments")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id"],
                condition=~Q(message_id=""),
                name="ticketcomment_unique_message_id",
            ),
            models.CheckConstraint(
                condition=Q(author_kind="staff") | Q(is_internal=False),
                name="ticketcomment_customer_not_internal",
            ),
        ]

    def __str__(self) -> str:
        return self.body[:60]


class TicketAttachment(models.Model):
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=pgettext_lazy("support request", "ticket"),
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    comment = models.ForeignKey(
        TicketComment,
        verbose_name=_("comment"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
    )
    file = models.FileField(
        _("file"),
        upload_to="tickets/%Y/%m/",
        validators=[
            FileExtensionValidator(allowed_extensions=ATTACHMENT_EXTENSIONS),
            validate_attachment_size,
        ],
    )
    name = models.CharField(_("name"), max_length=255, blank=True)
    content_type = models.CharField(_("type"), max_length=100, blank=True)
    size = models.PositiveIntegerField(_("size, bytes"), default=0, editable=False)
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.name or self.file.name

    def save(self, *args, **kwargs):
        # Size and name are facts of the file, not business steps: keep them in step with it.
        if self.file:
            self.size = self.file.size or 0
            self.name = self.name or self.file.name.rsplit("/", 1)[-1]
        super().save(*args, **kwargs)


class TicketEvent(models.Model):
    """The ticket's history: every status change, assignment, escalation, as it happened."""

    class Kind(models.TextChoices):
        OPENED = "opened", pgettext_lazy("ticket event", "opened")
        STATUS = "status", pgettext_lazy("ticket event", "status changed")
        ASSIGNED = "assigned", pgettext_lazy("ticket event", "assigned")
        COMMENTED = "commented", pgettext_lazy("ticket event", "commented")
        ESCALATED = "escalated", pgettext_lazy("ticket event", "escalated")
        RECLASSIFIED = "reclassified", pgettext_lazy("ticket event", "category or priority changed")

    ticket = models.ForeignKey(
        Ticket,
        verbose_name=pgettext_lazy("support request", "ticket"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    from_status = models.CharField(
        _("from status"), max_length=12, choices=Ticket.Status.choices, blank=True
    )
    to_status = models.CharField(
        _("to status"), max_length=12, choices=Ticket.Status.choices, blank=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("when"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"


class TicketEscalation(models.Model):
    """One escalation of one deadline of a ticket. The unique key makes the escalation job
    idempotent: a deadline is escalated at most once, however often the job runs."""

    class Deadline(models.TextChoices):
        FIRST_RESPONSE = "first_response", _("first response")
        RESOLUTION = "resolution", _("resolution")

    ticket = models.ForeignKey(
        Ticket,
        verbose_name=pgettext_lazy("support request", "ticket"),
        on_delete=models.CASCADE,
        related_name="escalations",
    )
    deadline_kind = models.CharField(_("deadline"), max_length=16, choices=Deadline.choices)
    due_at = models.DateTimeField(_("due"))
    level = models.PositiveSmallIntegerField(_("level"))
    is_breached = models.BooleanField(
        _("already breached"), default=False, help_text=_("False: escalated ahead of the deadline.")
    )
    notified = models.CharField(_("notified"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("escalated"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "deadline_kind", "due_at"], name="escalation_once_per_deadline"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket} {self.get_deadline_kind_display()} {self.level}"


# --- Manual adjustments ------------------------------------------------------------------------


class AdjustmentPolicy(models.Model):
    """How large a manual adjustment of one currency may be before a supervisor approves it."""

    currency = models.OneToOneField(
        "loyalty.Currency",
        verbose_name=_("currency"),
        on_delete=models.CASCADE,
        related_name="adjustment_policy",
    )
    approval_threshold = models.DecimalField(
        _("approval threshold"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_(
            "A credit or debit larger than this (in points) waits for a supervisor's "
            "approval; up to it, it is posted at once. 0: every adjustment is approved."
        ),
    )

    class Meta:
        verbose_name = _("adjustment policy")
        verbose_name_plural = _("adjustment policies")
        ordering = ["currency__code"]

    def __str__(self) -> str:
        return f"{self.currency} ≤ {self.approval_threshold}"


class Adjustment(models.Model):
    """A manual credit (positive amount) or debit (negative) of a customer's points, asked for
    by an operator with a reason. Above its currency's threshold it waits for a supervisor;
    once applied, ``posting`` is the ledger posting that moved the points (against the
    programme's adjustments account). Changed only by ``contactcenter.adjustments``."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("adjustment status", "waiting for approval")
        APPLIED = "applied", pgettext_lazy("adjustment status", "applied")
        REJECTED = "rejected", pgettext_lazy("adjustment status", "rejected")

    customer = models.ForeignKey(
        "crm.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="adjustments",
    )
    currency = models.ForeignKey(
        "loyalty.Currency",
        verbose_name=_("currency"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    amount = models.DecimalField(
        _("amount"),
        max_digits=MAX_DIGITS,
        decimal_places=POINTS_DECIMAL_PLACES,
        help_text=_("Points: positive credits the customer, negative debits."),
    )
    reason = models.TextField(_("reason"))
    ticket = models.ForeignKey(
        Ticket,
        verbose_name=pgettext_lazy("support request", "ticket"),
        on_delete=models.PROTECT,
        related_name="adjustments",
    )
    notify = models.BooleanField(
        _("notify the customer"),
        default=True,
        help_text=_("Queue a message to the customer when the points are posted."),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING, editable=False
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True, editable=False)
    decision_note = models.CharField(_("decision note"), max_length=500, blank=True)
    posting = models.OneToOneField(
        "loyalty.Posting",
        verbose_name=_("posting"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="adjustment",
    )

    class Meta:
        verbose_name = _("manual adjustment")
        verbose_name_plural = _("manual adjustments")
        ordering = ["-requested_at", "-pk"]
        permissions = [
            ("use_console", _("Can use the operator console")),
            ("approve_adjustment", _("Can approve or reject manual adjustments")),
            ("view_contacts", _("Can see customers' phones and emails unmasked")),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="adjustment_amount_not_zero"),
            models.CheckConstraint(condition=~Q(reason=""), name="adjustment_reason_given"),
            models.CheckConstraint(
                condition=~Q(status="applied") | Q(posting__isnull=False),
                name="adjustment_applied_has_posting",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="adjustment_status_idx")]

    def __str__(self) -> str:
        sign = "+" if self.amount > 0 else ""
        return f"{sign}{self.amount} {self.currency_id and self.currency.code} · {self.customer}"

    @property
    def is_credit(self) -> bool:
        return self.amount > 0
