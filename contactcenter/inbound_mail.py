"""Email to tickets: a message opens a ticket, a reply quoting "[#<number>]" in its subject
becomes the customer's comment on that ticket.

``mail_ingest`` takes one parsed message and knows nothing of where it came from; the
``tickets_from_mail`` command feeds it from an mbox, a maildir or .eml files, and an IMAP
fetcher would feed it the same way (``mail_ingest_bytes`` with each message's raw bytes). A
message is ingested at most once (its Message-ID is kept), so a mailbox can be read again.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.html import strip_tags

from contactcenter.errors import AttachmentRefused, CategoryUnknown, TransitionForbidden
from contactcenter.models import Ticket, TicketCategory, TicketComment
from contactcenter.services import ticket_attach, ticket_comment, ticket_open
from crm.models import Customer

logger = logging.getLogger(__name__)

NUMBER_RE = re.compile(r"\[#(\d{1,16})\]")
DEFAULT_CATEGORY = "other"
NO_SUBJECT = "(no subject)"


@dataclass(frozen=True)
class Ingested:
    """What one message became: ``opened``, ``commented`` or ``duplicate``."""

    outcome: str
    ticket: Ticket | None
    skipped_attachments: tuple[str, ...] = ()


def mail_ingest_bytes(raw: bytes, **kwargs) -> Ingested:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return mail_ingest(message, **kwargs)


def _sender(message: EmailMessage) -> tuple[str, str]:
    addresses = getaddresses([str(message.get("Reply-To") or message.get("From") or "")])
    for name, address in addresses:
        if "@" in address:
            return name, address.strip().lower()
    return "", ""


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):
        content = part.get_payload(decode=True).decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        content = strip_tags(content)
    return content.strip()


def _received_at(message: EmailMessage):
    try:
        sent = parsedate_to_datetime(str(message.get("Date")))
    except (TypeError, ValueError, IndexError):
        return timezone.now()
    if sent is None or sent.tzinfo is None:
        return timezone.now()
    # A date in the future (a wrong clock) would open a ticket whose deadlines are far off.
    return min(sent, timezone.now())


def _customer_by_email(address: str) -> Customer | None:
    if not address:
        return None
    matches = list(
        Customer.objects.filter(
            email__iexact=address, is_anonymised=False, merged_into__isnull=True
        )[:2]
    )
    return matches[0] if len(matches) == 1 else None


def _ticket_quoted(subject: str) -> Ticket | None:
    for number in NUMBER_RE.findall(subject):
        ticket = Ticket.objects.filter(number=number.zfill(6)).first()
        if ticket is not None:
            return ticket
    return None


def _attachments(ticket: Ticket, message: EmailMessage, comment=None) -> tuple[str, ...]:
    skipped = []
    for part in message.iter_attachments():
        name = part.get_filename() or "attachment"
        content = part.get_payload(decode=True) or b""
        try:
            ticket_attach(
                ticket,
                name=name,
                content=content,
                content_type=part.get_content_type(),
                comment=comment,
            )
        except AttachmentRefused:
            skipped.append(name)
    return tuple(skipped)


def mail_ingest(message: EmailMessage, *, category_code: str = DEFAULT_CATEGORY) -> Ingested:
    """Turn one email into a ticket or a comment; return what happened.

    A subject quoting an open or resolved ticket's "[#number]" adds the customer's comment
    (and brings the ticket back to work); a closed ticket's number opens a new ticket. The
    sender is linked to the customer with that email, when exactly one has it. Attachments
    too large or of a refused type are left out and named in the result.
    """
    message_id = str(message.get("Message-ID") or "").strip()[:300]
    if message_id and (
        Ticket.objects.filter(message_id=message_id).exists()
        or TicketComment.objects.filter(message_id=message_id).exists()
    ):
        return Ingested("duplicate", None)
    subject = " ".join(str(message.get("Subject") or "").split()) or NO_SUBJECT
    _name, address = _sender(message)
    body = _text(message)
    received_at = _received_at(message)
    try:
        with transaction.atomic():
            ticket = _ticket_quoted(subject)
            if ticket is not None and ticket.status != Ticket.Status.CLOSED:
                try:
                    comment = ticket_comment(
                        ticket,
                        body=body or subject,
                        author_kind=TicketComment.Author.CUSTOMER,
                        message_id=message_id,
                        at=received_at,
                    )
                except TransitionForbidden:  # closed meanwhile: open a new ticket below
                    pass
                else:
                    skipped = _attachments(ticket, message, comment)
                    return Ingested("commented", ticket, skipped)
            category = TicketCategory.objects.filter(code=category_code, is_active=True).first()
            if category is None and category_code == DEFAULT_CATEGORY:
                # "other" switched off in the admin: the first active category will do.
                category = TicketCategory.objects.filter(is_active=True).first()
            if category is None:
                raise CategoryUnknown(category=category_code)
            customer = _customer_by_email(address)
            opened = ticket_open(
                channel=Ticket.Channel.EMAIL,
                category=category,
                subject=subject,
                body=body,
                customer=customer,
                contact_email=address,
                message_id=message_id,
                at=received_at,
            )
            skipped = _attachments(opened, message)
            return Ingested("opened", opened, skipped)
    except IntegrityError:
        # The same message ingested concurrently by another process: its Message-ID won.
        logger.info("email %s was ingested concurrently", message_id)
        return Ingested("duplicate", None)
