"""A segment's members as a file (CSV or XLSX), whatever fills the segment (a rule or a list).

The rows are read from a queryset of customers the caller gives: the admin passes the
customers' own admin queryset, so the export shows only what that list would show to the same
user (partner staff see no customers at all), and contacts masked where the list masks them.
A queryset annotated with ``contacts_unmasked`` (``contactcenter.masking``) decides per row;
without it every phone and email is masked. Rows are streamed in customer order, a few
thousand at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Customer, Segment, SegmentMember
from crm.phones import mask_phone

FIELDS = ("public_id", "last_name", "first_name", "phone", "email", "member_since")
CHUNK = 5000


def mask_email(email: str) -> str:
    """``ivan@example.com`` -> ``i***@example.com``."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else f"{local[:1]}***"


def segment_member_rows(segment: Segment, customers: QuerySet[Customer]) -> Iterator[list[str]]:
    """The header, then one row per member of ``segment`` among ``customers``."""
    yield [
        _("customer"),
        _("last name"),
        _("first name"),
        _("phone"),
        _("email"),
        _("member since"),
    ]
    unmasked = "contacts_unmasked" in customers.query.annotations
    since = SegmentMember.objects.filter(segment=segment, customer=OuterRef("pk")).values(
        "added_at"
    )[:1]
    rows = (
        customers.filter(segment_memberships__segment=segment)
        .annotate(member_since=Subquery(since))
        .order_by("pk")
        .values_list(*FIELDS, *(["contacts_unmasked"] if unmasked else []))
    )
    zone = timezone.get_current_timezone()
    for row in rows.iterator(chunk_size=CHUNK):
        public_id, last_name, first_name, phone, email, added_at = row[:6]
        shown = unmasked and bool(row[6])
        if not shown:
            phone = mask_phone(phone) if phone else phone
            email = mask_email(email) if email else email
        yield [
            public_id,
            last_name,
            first_name,
            phone or "",
            email or "",
            added_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if added_at else "",
        ]


def segment_members_xlsx(rows: Iterator[list[str]]) -> IO[bytes]:
    """The rows as an XLSX workbook in a temporary file (written row by row, rewound)."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(row)
    out = tempfile.TemporaryFile()
    book.save(out)
    out.seek(0)
    return out
