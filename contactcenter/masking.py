"""Who sees a customer's phone and email, and the record of showing them.

An operator sees them masked (``+7 *** ***-**-67``, ``i***@example.com``) unless they have
``contactcenter.view_contacts`` (supervisors, administrators) or work on a ticket of that
customer that is not closed: one they opened or are assigned to. The masked value can be
revealed one field at a time; each reveal writes an ``AuditEvent`` (``reveal``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, Value

from audit.models import AuditEvent
from audit.trail import record
from contactcenter.models import Ticket, TicketEvent
from crm.models import Customer

VIEW_PERMISSION = "contactcenter.view_contacts"
FIELDS = ("phone", "email")


def mask_phone(phone: str | None) -> str:
    """``+79001234567`` → ``+7 *** ***-**-67``: the country code and the last two digits."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    if len(digits) < 6:
        return "*" * len(phone)
    country = digits[: len(digits) - 10] if len(digits) > 10 else digits[:1]
    return f"+{country} *** ***-**-{digits[-2:]}"


def mask_email(email: str | None) -> str:
    """``ivan@example.com`` → ``i***@example.com``: the first letter and the domain."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    if not at:
        return local[:1] + "***"
    return f"{local[:1]}***@{domain}"


def mask(field: str, value: str | None) -> str:
    return mask_phone(value) if field == "phone" else mask_email(value)


def _working_tickets(user) -> Q:
    """Tickets ``user`` works on that are not closed."""
    opened = TicketEvent.objects.filter(kind=TicketEvent.Kind.OPENED, actor=user).values(
        "ticket_id"
    )
    return ~Q(status=Ticket.Status.CLOSED) & (Q(assignee=user) | Q(pk__in=opened))


def customers_unmasked_for(user, customer_ids: Iterable[int]) -> set[int]:
    """Of ``customer_ids``, those whose contacts ``user`` sees in full (one query at most)."""
    ids = {cid for cid in customer_ids if cid is not None}
    if not ids or user is None or not user.is_authenticated:
        return set()
    if user.has_perm(VIEW_PERMISSION):
        return ids
    return set(
        Ticket.objects.filter(_working_tickets(user), customer_id__in=ids)
        .values_list("customer_id", flat=True)
        .distinct()
    )


def contacts_unmasked_expression(user, customer: str = "pk"):
    """An annotation: whether ``user`` sees each customer's contacts in full (``customer``
    names the customer's id in the annotated queryset: ``pk`` for customers themselves)."""
    if user.has_perm(VIEW_PERMISSION):
        return Value(True)
    return Exists(Ticket.objects.filter(_working_tickets(user), customer=OuterRef(customer)))


def ticket_contacts_unmasked_expression(user):
    """An annotation of tickets: whether ``user`` sees the ticket's contact email and phone in
    full (they work on it, or on another open ticket of its customer)."""
    if user.has_perm(VIEW_PERMISSION):
        return Value(True)
    working = Ticket.objects.filter(_working_tickets(user))
    return Exists(working.filter(pk=OuterRef("pk"))) | Exists(
        working.filter(customer=OuterRef("customer"), customer__isnull=False)
    )


def contacts_visible(user, customer: Customer) -> bool:
    """Whether ``user`` sees ``customer``'s phone and email unmasked."""
    return customer.pk in customers_unmasked_for(user, [customer.pk])


def contact_reveal(*, customer: Customer, field: str, user) -> str:
    """Return ``customer``'s full ``field`` (``phone`` or ``email``) and record who saw it.

    Raises ``ValueError`` for any other field."""
    if field not in FIELDS:
        raise ValueError(field)
    value = getattr(customer, field) or ""
    record(
        AuditEvent.Action.REVEAL,
        customer,
        after={"field": field},
        note=field,
        user=user,
    )
    return value
