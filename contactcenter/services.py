"""Every change to a ticket: opening, comments, status, assignment, escalation.

Each function locks the ticket row, re-reads it, checks the rule, writes with ``update_fields``
and records a ``TicketEvent``; mail is sent after the commit. The SLA arithmetic itself is in
``contactcenter.worktime`` (pure), re-exported here.

The resolution clock runs from ``clock_started_at`` (opening, or reopening) in the working time
of the policy's calendar. While a ticket waits for the customer the clock stops: on leaving
``waiting`` the working time waited is added to ``paused_seconds`` and the deadline moves on by
as much. Waiting that starts after the deadline has passed does not move it (a breach stays a
breach). The first-response deadline is never paused.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from contactcenter.errors import (
    AttachmentRefused,
    CategoryUnknown,
    CommentEmpty,
    TicketConflict,
    TransitionForbidden,
)
from contactcenter.models import (
    ATTACHMENT_EXTENSIONS,
    PRIORITY_ORDER,
    Priority,
    Queue,
    SLAPolicy,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketComment,
    TicketEscalation,
    TicketEvent,
    WorkingCalendar,
)
from contactcenter.worktime import (  # noqa: F401 (re-exported: the SLA arithmetic)
    ScheduleEmpty,
    add_working_time,
    working_minutes_between,
    working_time_between,
)
from crm.selectors import customer_get_by_phone
from loyalty.errors import CardNotFound, ReceiptNotFound
from loyalty.models import Card, Receipt

logger = logging.getLogger(__name__)

Status = Ticket.Status

# The status workflow: from each status, where a ticket may go. Anything else is refused with
# ``TransitionForbidden``. Closed is final: a customer writing again opens a new ticket.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset({Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED, Status.CLOSED}),
    Status.IN_PROGRESS: frozenset({Status.WAITING, Status.RESOLVED, Status.CLOSED}),
    Status.WAITING: frozenset({Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset(),
    Status.REOPENED: frozenset(
        {Status.IN_PROGRESS, Status.WAITING, Status.RESOLVED, Status.CLOSED}
    ),
}


def transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, frozenset())


# --- SLA ---------------------------------------------------------------------------------------


def calendar_default() -> WorkingCalendar | None:
    return WorkingCalendar.objects.filter(is_default=True).first()


def sla_policy_for(category: TicketCategory, priority: str) -> SLAPolicy | None:
    """The category's own policy for this priority, else the policy for any category."""
    policies = SLAPolicy.objects.select_related("calendar").filter(
        Q(category=category) | Q(category__isnull=True), priority=priority
    )
    by_category = {policy.category_id: policy for policy in policies}
    return by_category.get(category.pk) or by_category.get(None)


@dataclass(frozen=True)
class Deadlines:
    first_response_due: datetime | None
    resolution_due: datetime | None


def deadlines_compute(ticket: Ticket, policy: SLAPolicy | None) -> Deadlines:
    """The ticket's deadlines under ``policy``; both None without a policy or a calendar.

    The first response is due ``first_response_minutes`` of working time after opening; the
    resolution ``resolution_minutes`` plus the working time waited after the clock started.
    """
    if policy is None:
        return Deadlines(None, None)
    calendar = policy.calendar or calendar_default()
    if calendar is None:
        logger.warning("no default working calendar: ticket %s has no deadlines", ticket.pk)
        return Deadlines(None, None)
    schedule = calendar.schedule()
    try:
        first = add_working_time(ticket.created_at, policy.first_response_minutes, schedule)
        resolution = add_working_time(
            ticket.clock_started_at or ticket.created_at,
            policy.resolution_minutes + ticket.paused_seconds / 60,
            schedule,
        )
    except ScheduleEmpty:
        logger.warning("calendar %s has no working hours: no deadlines", calendar.pk)
        return Deadlines(None, None)
    return Deadlines(first, resolution)


def _calendar_of(ticket: Ticket):
    policy = ticket.sla_policy
    calendar = (policy.calendar if policy else None) or calendar_default()
    return calendar.schedule() if calendar else None


def _clock_resume(ticket: Ticket, now: datetime) -> None:
    """Leave ``waiting``: count the working time waited before the deadline, move it on."""
    paused_at, ticket.paused_at = ticket.paused_at, None
    if paused_at is None or ticket.resolution_due is None or paused_at >= ticket.resolution_due:
        return
    schedule = _calendar_of(ticket)
    if schedule is None:
        return
    waited = working_time_between(paused_at, now, schedule)
    ticket.paused_seconds += int(waited.total_seconds())
    ticket.resolution_due = deadlines_compute(ticket, ticket.sla_policy).resolution_due


# --- Opening -----------------------------------------------------------------------------------


def _event(ticket: Ticket, kind: str, *, actor=None, note: str = "", at=None, **fields) -> None:
    TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor,
        note=note[:500],
        created_at=at or timezone.now(),
        **fields,
    )


def category_get_active(code: str) -> TicketCategory:
    category = TicketCategory.objects.filter(code=code, is_active=True).first()
    if category is None:
        raise CategoryUnknown(category=code)
    return category


@transaction.atomic
def ticket_open(
    *,
    channel: str,
    category: TicketCategory,
    subject: str,
    body: str = "",
    priority: str = Priority.NORMAL,
    customer=None,
    card=None,
    receipt=None,
    contact_email: str = "",
    contact_phone: str = "",
    queue: Queue | None = None,
    assignee=None,
    actor=None,
    terminal=None,
    request_id: str = "",
    request_fingerprint: str = "",
    message_id: str = "",
    at: datetime | None = None,
) -> Ticket:
    """Open a ticket, linked to what it is about, with its SLA deadlines; return it.

    The customer comes from the card or the receipt when not given; the queue from the
    category. Raises ``CategoryUnknown`` for an inactive category.
    """
    if not category.is_active:
        raise CategoryUnknown(category=category.code)
    if receipt is not None:
        card = card or receipt.card
        customer = customer or receipt.customer
    if card is not None and customer is None:
        customer = card.customer
    if customer is not None:
        contact_email = contact_email or (customer.email or "")
        contact_phone = contact_phone or (customer.phone or "")
    now = at or timezone.now()
    ticket = Ticket(
        channel=channel,
        category=category,
        priority=priority,
        subject=subject[:300],
        body=body,
        customer=customer,
        card=card,
        receipt=receipt,
        contact_email=contact_email,
        contact_phone=contact_phone,
        queue=queue or category.default_queue,
        assignee=assignee,
        terminal=terminal,
        request_id=request_id,
        request_fingerprint=request_fingerprint,
        message_id=message_id[:300],
        created_at=now,
        clock_started_at=now,
    )
    ticket.sla_policy = sla_policy_for(category, priority)
    deadlines = deadlines_compute(ticket, ticket.sla_policy)
    ticket.first_response_due = deadlines.first_response_due
    ticket.resolution_due = deadlines.resolution_due
    ticket.save()
    # The number is the primary key, padded: short enough to read out on the phone and to
    # quote as "[#000123]" in an email subject.
    ticket.number = f"{ticket.pk:06d}"
    ticket.save(update_fields=["number"])
    _event(ticket, TicketEvent.Kind.OPENED, actor=actor, to_status=Status.NEW, at=now)
    return ticket


# --- Changes ----------------------------------------------------------------------------------


def _locked(ticket: Ticket) -> Ticket:
    # ``of``: PostgreSQL cannot lock the nullable side of the outer joins.
    return (
        Ticket.objects.select_related("sla_policy__calendar", "category")
        .select_for_update(of=("self",))
        .get(pk=ticket.pk)
    )


def _refresh(target: Ticket, source: Ticket) -> Ticket:
    """Copy the locked row's fields into the caller's instance, so it sees the change."""
    for field in Ticket._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    return target


def _move(ticket: Ticket, to_status: str, *, actor, note: str, now: datetime) -> list[str]:
    """Apply a transition to a locked ticket in memory; return the fields it changed."""
    from_status = ticket.status
    if not transition_allowed(from_status, to_status):
        raise TransitionForbidden(
            _("A ticket cannot go from “%(from)s” to “%(to)s”.")
            % {"from": Status(from_status).label, "to": Status(to_status).label},
            from_status=from_status,
            to_status=to_status,
        )
    changed = ["status"]
    if from_status == Status.WAITING:
        _clock_resume(ticket, now)
        changed += ["paused_at", "paused_seconds", "resolution_due"]
    if to_status == Status.WAITING:
        ticket.paused_at = now
        changed.append("paused_at")
    elif to_status == Status.RESOLVED:
        ticket.resolved_at = now
        changed.append("resolved_at")
    elif to_status == Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
        changed += ["closed_at", "resolved_at"]
    elif to_status == Status.REOPENED:
        # A reopened ticket gets a fresh resolution clock from now.
        ticket.resolved_at = None
        ticket.clock_started_at = now
        ticket.paused_seconds = 0
        ticket.resolution_due = deadlines_compute(ticket, ticket.sla_policy).resolution_due
        changed += ["resolved_at", "clock_started_at", "paused_seconds", "resolution_due"]
    ticket.status = to_status
    _event(
        ticket,
        TicketEvent.Kind.STATUS,
        actor=actor,
        note=note,
        at=now,
        from_status=from_status,
        to_status=to_status,
    )
    return changed


@transaction.atomic
def ticket_transition(
    ticket: Ticket, to_status: str, *, actor=None, note: str = "", at: datetime | None = None
) -> Ticket:
    """Move the ticket to ``to_status`` by ``ALLOWED_TRANSITIONS``; return it, updated.

    Raises ``TransitionForbidden`` (nothing written) for a move the table does not allow.
    """
    locked = _locked(ticket)
    changed = _move(locked, to_status, actor=actor, note=note, now=at or timezone.now())
    locked.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    return _refresh(ticket, locked)


@transaction.atomic
def ticket_assign(ticket: Ticket, assignee, *, actor=None, queue: Queue | None = None) -> Ticket:
    """Give the ticket to ``assignee`` (None: nobody), optionally in another queue."""
    locked = _locked(ticket)
    locked.assignee = assignee
    fields = ["assignee", "updated_at"]
    if queue is not None:
        locked.queue = queue
        fields.append("queue")
    locked.save(update_fields=fields)
    _event(locked, TicketEvent.Kind.ASSIGNED, actor=actor, note=str(assignee or "-"))
    return _refresh(ticket, locked)


@transaction.atomic
def ticket_reclassify(
    ticket: Ticket,
    *,
    category: TicketCategory | None = None,
    priority: str | None = None,
    actor=None,
) -> Ticket:
    """Change the category or priority and recompute the deadlines under the new policy.

    A first-response deadline already met stays as it was.
    """
    locked = _locked(ticket)
    old = f"{locked.category.code}/{locked.priority}"
    locked.category = category or locked.category
    locked.priority = priority or locked.priority
    locked.sla_policy = sla_policy_for(locked.category, locked.priority)
    deadlines = deadlines_compute(locked, locked.sla_policy)
    if locked.first_responded_at is None:
        locked.first_response_due = deadlines.first_response_due
    if locked.paused_at is None and locked.resolved_at is None:
        locked.resolution_due = deadlines.resolution_due
    locked.save(
        update_fields=[
            "category",
            "priority",
            "sla_policy",
            "first_response_due",
            "resolution_due",
            "updated_at",
        ]
    )
    _event(
        locked,
        TicketEvent.Kind.RECLASSIFIED,
        actor=actor,
        note=f"{old} → {locked.category.code}/{locked.priority}",
    )
    return _refresh(ticket, locked)


@transaction.atomic
def ticket_comment(
    ticket: Ticket,
    *,
    body: str,
    author=None,
    author_kind: str = TicketComment.Author.STAFF,
    is_internal: bool = False,
    message_id: str = "",
    at: datetime | None = None,
) -> TicketComment:
    """Add a comment; return it.

    The first public comment by staff is the first response (a new ticket goes in progress),
    and is emailed to the customer. A customer's comment brings a waiting ticket back to work
    and reopens a resolved one. Raises ``CommentEmpty``, and ``TransitionForbidden`` for a
    customer's comment on a closed ticket.
    """
    if not body.strip():
        raise CommentEmpty()
    now = at or timezone.now()
    locked = _locked(ticket)
    is_staff = author_kind == TicketComment.Author.STAFF
    if not is_staff:
        is_internal = False
    comment = TicketComment.objects.create(
        ticket=locked,
        author=author,
        author_kind=author_kind,
        body=body,
        is_internal=is_internal,
        message_id=message_id[:300],
        created_at=now,
    )
    changed: list[str] = []
    if is_staff and not is_internal:
        if locked.first_responded_at is None:
            locked.first_responded_at = now
            changed.append("first_responded_at")
        if locked.status == Status.NEW:
            changed += _move(locked, Status.IN_PROGRESS, actor=author, note="", now=now)
    elif not is_staff:
        if locked.status == Status.WAITING:
            changed += _move(
                locked, Status.IN_PROGRESS, actor=None, note=_("customer replied"), now=now
            )
        elif locked.status == Status.RESOLVED:
            changed += _move(
                locked, Status.REOPENED, actor=None, note=_("customer replied"), now=now
            )
        elif locked.status == Status.CLOSED:
            raise TransitionForbidden(
                _("The ticket is closed; the customer's message needs a new ticket."),
                from_status=Status.CLOSED,
                to_status=Status.REOPENED,
            )
    _event(
        locked,
        TicketEvent.Kind.COMMENTED,
        actor=author,
        note=_("internal note") if is_internal else comment.get_author_kind_display(),
        at=now,
    )
    if changed:
        locked.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    if is_staff and not is_internal:
        transaction.on_commit(lambda: _reply_send(locked, comment))
    _refresh(ticket, locked)
    return comment


def reply_subject(ticket: Ticket) -> str:
    return f"[#{ticket.number}] {ticket.subject}"


def _reply_send(ticket: Ticket, comment: TicketComment) -> None:
    address = ticket.contact_email or (ticket.customer.email if ticket.customer else "")
    if not address:
        return
    try:
        send_mail(
            reply_subject(ticket),
            comment.body,
            settings.TICKETS_FROM_EMAIL,
            [address],
        )
    except Exception:  # the comment is saved; a mail outage must not undo the operator's work
        logger.warning("could not email the reply to ticket %s", ticket.pk, exc_info=True)


def ticket_attach(
    ticket: Ticket,
    *,
    name: str,
    content: bytes,
    content_type: str = "",
    comment: TicketComment | None = None,
) -> TicketAttachment:
    """Store a file on the ticket. Raises ``AttachmentRefused`` when it is too large or of a
    type not in ``ATTACHMENT_EXTENSIONS``."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if (
        extension not in ATTACHMENT_EXTENSIONS
        or len(content) > settings.TICKETS_ATTACHMENT_MAX_BYTES
    ):
        raise AttachmentRefused(name=name[:100])
    attachment = TicketAttachment(
        ticket=ticket, comment=comment, name=name[:255], content_type=content_type[:100]
    )
    attachment.file.save(name, ContentFile(content), save=False)
    attachment.save()
    return attachment


# --- Escalation -------------------------------------------------------------------------------


def _recipients(ticket: Ticket) -> list[str]:
    addresses: Iterable[str | None] = (
        ticket.queue.supervisor.email if ticket.queue and ticket.queue.supervisor else None,
        ticket.queue.email if ticket.queue else None,
        ticket.assignee.email if ticket.assignee else None,
    )
    return list(dict.fromkeys(address for address in addresses if address))


def _escalation_candidates(now: datetime, margin: timedelta):
    horizon = now + margin
    done_first = TicketEscalation.objects.filter(
        ticket=OuterRef("pk"),
        deadline_kind=TicketEscalation.Deadline.FIRST_RESPONSE,
        due_at=OuterRef("first_response_due"),
    )
    done_resolution = TicketEscalation.objects.filter(
        ticket=OuterRef("pk"),
        deadline_kind=TicketEscalation.Deadline.RESOLUTION,
        due_at=OuterRef("resolution_due"),
    )
    first = Ticket.objects.filter(
        status__in=Ticket.OPEN_STATUSES,
        first_responded_at__isnull=True,
        first_response_due__lte=horizon,
    ).exclude(Exists(done_first))
    resolution = Ticket.objects.filter(
        status__in=Ticket.OPEN_STATUSES, resolution_due__lte=horizon
    ).exclude(Exists(done_resolution))
    ids = set(first.values_list("pk", flat=True)) | set(resolution.values_list("pk", flat=True))
    return sorted(ids)


def _due_deadlines(ticket: Ticket, horizon: datetime) -> list[tuple[str, datetime]]:
    due = []
    if ticket.is_open:
        if ticket.first_responded_at is None and ticket.first_response_due is not None:
            if ticket.first_response_due <= horizon:
                due.append((TicketEscalation.Deadline.FIRST_RESPONSE, ticket.first_response_due))
        if ticket.resolution_due is not None and ticket.resolution_due <= horizon:
            due.append((TicketEscalation.Deadline.RESOLUTION, ticket.resolution_due))
    return due


@transaction.atomic
def ticket_escalate(ticket_id: int, *, now: datetime, margin: timedelta) -> int:
    """Escalate each deadline of one ticket that is within ``margin`` or past, once per
    deadline: raise the level and the priority (not the deadlines), record it, notify the
    queue's supervisor, the queue's mailbox and the assignee. Return how many were escalated."""
    ticket = (
        Ticket.objects.select_related("queue__supervisor", "assignee")
        .select_for_update(of=("self",))
        .get(pk=ticket_id)
    )
    escalated = 0
    for kind, due_at in _due_deadlines(ticket, now + margin):
        if TicketEscalation.objects.filter(
            ticket=ticket, deadline_kind=kind, due_at=due_at
        ).exists():
            continue
        ticket.escalation_level += 1
        ticket.escalated_at = now
        rank = PRIORITY_ORDER.index(Priority(ticket.priority))
        ticket.priority = PRIORITY_ORDER[min(rank + 1, len(PRIORITY_ORDER) - 1)]
        recipients = _recipients(ticket)
        escalation = TicketEscalation.objects.create(
            ticket=ticket,
            deadline_kind=kind,
            due_at=due_at,
            level=ticket.escalation_level,
            is_breached=due_at <= now,
            notified=", ".join(recipients)[:500],
            created_at=now,
        )
        _event(
            ticket,
            TicketEvent.Kind.ESCALATED,
            note=_("%(deadline)s due %(due)s, level %(level)s")
            % {
                "deadline": escalation.get_deadline_kind_display(),
                "due": timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M"),
                "level": ticket.escalation_level,
            },
            at=now,
        )
        if recipients:
            transaction.on_commit(lambda e=escalation, r=recipients: _escalation_send(e, r))
        escalated += 1
    if escalated:
        ticket.save(update_fields=["escalation_level", "escalated_at", "priority", "updated_at"])
    return escalated


def _escalation_send(escalation: TicketEscalation, recipients: list[str]) -> None:
    ticket = escalation.ticket
    breached = _("is overdue") if escalation.is_breached else _("is about to be overdue")
    subject = _("Ticket #%(number)s: %(deadline)s %(state)s") % {
        "number": ticket.number,
        "deadline": escalation.get_deadline_kind_display(),
        "state": breached,
    }
    body = _(
        "Ticket #%(number)s “%(subject)s” (%(category)s, priority %(priority)s)\n"
        "%(deadline)s due: %(due)s\nEscalation level: %(level)s"
    ) % {
        "number": ticket.number,
        "subject": ticket.subject,
        "category": ticket.category.name,
        "priority": ticket.get_priority_display(),
        "deadline": escalation.get_deadline_kind_display(),
        "due": timezone.localtime(escalation.due_at).strftime("%Y-%m-%d %H:%M %Z"),
        "level": escalation.level,
    }
    try:
        send_mail(subject, body, settings.TICKETS_FROM_EMAIL, recipients)
    except Exception:  # the escalation is recorded and listed; a mail outage must not undo it
        logger.warning("could not email the escalation of ticket %s", ticket.pk, exc_info=True)


def tickets_escalate(*, now: datetime | None = None, margin_minutes: int | None = None) -> int:
    """Escalate every open ticket whose deadline is within the margin or past, each deadline
    once (safe to run again and concurrently). Return how many deadlines were escalated."""
    now = now or timezone.now()
    if margin_minutes is None:
        margin_minutes = settings.TICKETS_ESCALATION_MARGIN_MINUTES
    margin = timedelta(minutes=margin_minutes)
    return sum(
        ticket_escalate(ticket_id, now=now, margin=margin)
        for ticket_id in _escalation_candidates(now, margin)
    )


def tickets_overdue(now: datetime | None = None):
    """Open tickets past a deadline they have not met (waiting tickets are paused)."""
    now = now or timezone.now()
    return Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES).filter(
        Q(first_responded_at__isnull=True, first_response_due__lt=now) | Q(resolution_due__lt=now)
    )


# --- Tickets from the app and the website (POST /api/v1/tickets) -------------------------------


def _fingerprint(**body) -> str:
    text = json.dumps(body, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def ticket_answer(ticket: Ticket) -> dict:
    """The JSON answer describing a ticket to the app or website that opened it."""

    def moment(value):
        return timezone.localtime(value).isoformat() if value else None

    return {
        "number": ticket.number,
        "status": ticket.status,
        "channel": ticket.channel,
        "category": ticket.category.code,
        "priority": ticket.priority,
        "customer": ticket.customer.public_id if ticket.customer_id else None,
        "created_at": moment(ticket.created_at),
        "first_response_due": moment(ticket.first_response_due),
        "resolution_due": moment(ticket.resolution_due),
    }


def _linked_customer(card_number: str | None, phone: str | None):
    card = customer = None
    if card_number:
        card = Card.objects.select_related("customer").filter(number=card_number).first()
        if card is None:
            raise CardNotFound(card=card_number)
        customer = card.customer
    if customer is None and phone:
        customer = customer_get_by_phone(phone)
    if customer is not None and customer.is_anonymised:
        customer = None
    return card, customer


def _linked_receipt(terminal, receipt_id: str, customer) -> Receipt:
    receipts = Receipt.objects.filter(receipt_id=receipt_id)
    receipts = (
        receipts.filter(customer=customer)
        if customer is not None
        else receipts.filter(partner_id=terminal.store.partner_id)
    )
    receipt = receipts.order_by("-sold_at").first()
    if receipt is None:
        raise ReceiptNotFound(receipt_id=receipt_id)
    return receipt


def ticket_submit(
    terminal,
    *,
    channel: str,
    category_code: str,
    subject: str,
    body: str,
    request_id: str = "",
    card: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    receipt_id: str | None = None,
) -> tuple[dict, bool]:
    """Open a ticket sent by an app or website; return the answer and whether it is new.

    The same ``request_id`` from the same terminal with the same body answers the ticket it
    opened (False); with another body it is ``TicketConflict``. The customer is the card's
    holder, else the one with the phone; an unknown phone or email is kept as the contact.
    Raises ``CategoryUnknown``, ``CardNotFound``, ``ReceiptNotFound``; nothing is written then.
    """
    fingerprint = _fingerprint(
        channel=channel,
        category=category_code,
        subject=subject,
        body=body,
        card=card,
        phone=phone,
        email=email,
        receipt_id=receipt_id,
    )
    if request_id:
        found = Ticket.objects.filter(terminal=terminal, request_id=request_id).first()
        if found is not None:
            return _replay(found, fingerprint), False
    category = category_get_active(category_code)
    card_row, customer = _linked_customer(card, phone)
    receipt = _linked_receipt(terminal, receipt_id, customer) if receipt_id else None
    try:
        with transaction.atomic():
            ticket = ticket_open(
                channel=channel,
                category=category,
                subject=subject,
                body=body,
                customer=customer,
                card=card_row,
                receipt=receipt,
                contact_email=email or "",
                contact_phone=phone or "",
                terminal=terminal,
                request_id=request_id,
                request_fingerprint=fingerprint if request_id else "",
            )
    except IntegrityError:
        # The same request raced this one and won the unique key: answer what it opened.
        found = Ticket.objects.filter(terminal=terminal, request_id=request_id).first()
        if found is None:
            raise
        return _replay(found, fingerprint), False
    return ticket_answer(ticket), True


def _replay(ticket: Ticket, fingerprint: str) -> dict:
    if ticket.request_fingerprint != fingerprint:
        raise TicketConflict(request_id=ticket.request_id)
    return ticket_answer(ticket)


def on_customer_anonymising(sender, customer, **_kwargs) -> dict:
    """``crm.signals.customer_anonymising``: erase the contacts written on the customer's
    tickets; the tickets, their history and their links to cards and receipts stay."""
    scrubbed = Ticket.objects.filter(customer=customer).update(contact_email="", contact_phone="")
    return {"tickets_scrubbed": scrubbed}
