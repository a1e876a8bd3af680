"""Card batch import: row checks shared by the admin import and the bulk command, and the loader.

A row is ``number, batch, card_type, status, customer_phone``; only ``number`` is required
when a default batch is given. Rows are numbered from 1, the header not counted, as the
admin preview numbers them. Nothing is written unless every row passes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.trail import record_inserted
from crm.models import Customer
from crm.phones import normalize_phone
from loyalty.models import Card, CardBatch, CardType
from loyalty.services.imports import (
    ImportReport,
    Progress,
    blocks,
    cell_text,
    check_rows,
    first_row_of,
    source_rows,
)
from loyalty.validators import CARD_NUMBER_RE, has_valid_check_digit

COLUMNS = ("number", "batch", "card_type", "status", "customer_phone")
IMPORTABLE_STATUSES = (
    Card.Status.NEW,
    Card.Status.ISSUED,
    Card.Status.ACTIVE,
    Card.Status.BLOCKED,
    Card.Status.LOST,
)
EXISTING_CHUNK = 5000
BULK_CREATE_CHUNK = 5000
# Columns written by the loader, in COPY order.
CARD_COLUMNS = (
    "number",
    "card_type",
    "status",
    "programme_id",
    "batch_id",
    "customer_id",
    "is_virtual",
    "issued_at",
    "activated_at",
    "blocked_at",
    "block_reason",
    "created_at",
)


@dataclass(frozen=True)
class CardRow:
    """A row that passed its checks: everything needed to write the card."""

    number: str
    batch: CardBatch
    card_type: str
    status: str
    customer_id: int | None

    def values(self, now: datetime) -> tuple:
        """The row in ``CARD_COLUMNS`` order; dates follow the status, as the constraints ask."""
        issued = now if self.status != Card.Status.NEW else None
        activated = now if self.status == Card.Status.ACTIVE else None
        blocked = now if self.status in (Card.Status.BLOCKED, Card.Status.LOST) else None
        return (
            self.number,
            self.card_type,
            self.status,
            self.batch.programme_id,
            self.batch.pk,
            self.customer_id,
            False,
            issued,
            activated,
            blocked,
            "",
            now,
        )


class CardRowChecker:
    """Check import rows one by one, remembering the numbers already seen in the file.

    ``existing`` is a set of numbers already in the database; when it is ``None`` the caller
    checks existing numbers itself (the bulk loader does it in one query at the end).
    """

    def __init__(
        self, *, default_batch: CardBatch | None = None, existing: set[str] | None = None
    ) -> None:
        self.default_batch = default_batch
        self.existing = existing
        self.seen: dict[str, int] = {}
        self._batches: dict[str, CardBatch | None] = {}
        self._customers: dict[str, int | None] = {}
        self._type_values = set(CardType.values)
        self._status_values = {str(s) for s in IMPORTABLE_STATUSES}

    def _batch(self, code: str) -> CardBatch | None:
        if code not in self._batches:
            self._batches[code] = CardBatch.objects.filter(code=code).first()
        return self._batches[code]

    def _customer_id(self, raw_phone: str) -> tuple[int | None, str | None]:
        if raw_phone in self._customers:
            customer_id = self._customers[raw_phone]
        else:
            try:
                phone = normalize_phone(raw_phone)
            except ValidationError:
                customer_id = None
            else:
                customer_id = (
                    Customer.objects.filter(phone=phone).values_list("pk", flat=True).first()
                )
            self._customers[raw_phone] = customer_id
        if customer_id is None:
            return None, _("No customer has the phone %(phone)s.") % {"phone": raw_phone}
        return customer_id, None

    def check(self, raw: Mapping[str, object], row: int) -> tuple[CardRow | None, list[str]]:
        """Return the checked row, or ``None`` and the reasons it cannot be imported."""
        errors: list[str] = []
        number = cell_text(raw.get("number")).upper()
        batch_code = cell_text(raw.get("batch"))
        batch = self._batch(batch_code) if batch_code else self.default_batch
        if batch is None:
            if batch_code:
                errors.append(_("Unknown batch %(code)s.") % {"code": batch_code})
            else:
                errors.append(_("No batch given."))
        if not number:
            errors.append(_("No card number given."))
        elif not CARD_NUMBER_RE.match(number):
            errors.append(
                _("The number %(number)s is not 4-32 digits or capital Latin letters.")
                % {"number": number}
            )
        else:
            if batch is not None and not has_valid_check_digit(number, batch.check_digit):
                errors.append(
                    _("The number %(number)s has a wrong check digit (%(scheme)s).")
                    % {"number": number, "scheme": batch.get_check_digit_display()}
                )
            first_row = first_row_of(self.seen, number, row)
            if first_row is not None:
                errors.append(
                    _("The number %(number)s is already on row %(row)s of this file.")
                    % {"number": number, "row": first_row}
                )
            if self.existing is not None and number in self.existing:
                errors.append(
                    _("A card with the number %(number)s already exists.") % {"number": number}
                )
        card_type = cell_text(raw.get("card_type")).lower() or (batch.card_type if batch else "")
        if card_type and card_type not in self._type_values:
            errors.append(
                _("Unknown card type %(value)s: use one of %(choices)s.")
                % {"value": card_type, "choices": ", ".join(CardType.values)}
            )
        status = cell_text(raw.get("status")).lower() or Card.Status.NEW
        if status not in self._status_values:
            errors.append(
                _("The status %(value)s cannot be imported: use one of %(choices)s.")
                % {"value": status, "choices": ", ".join(sorted(self._status_values))}
            )
        customer_id = None
        raw_phone = cell_text(raw.get("customer_phone"))
        if raw_phone:
            customer_id, error = self._customer_id(raw_phone)
            if error:
                errors.append(error)
            elif status == Card.Status.NEW:
                errors.append(_("A new card cannot have a customer: give it the status issued."))
        if errors or batch is None:
            return None, errors
        return CardRow(number, batch, card_type, status, customer_id), []


def existing_numbers(numbers: Iterable[str]) -> set[str]:
    """The numbers among ``numbers`` that cards already have (queried in chunks)."""
    found: set[str] = set()
    chunk: list[str] = []
    for number in numbers:
        chunk.append(number)
        if len(chunk) >= EXISTING_CHUNK:
            found.update(Card.objects.filter(number__in=chunk).values_list("number", flat=True))
            chunk = []
    if chunk:
        found.update(Card.objects.filter(number__in=chunk).values_list("number", flat=True))
    return found


def _existing_numbers_postgres(numbers: Iterable[str]) -> set[str]:
    """Existing numbers through a temporary table filled by COPY: one join, not N lookups."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE card_import_numbers (number varchar(32)) ON COMMIT DROP"
        )
        with cursor.cursor.copy("COPY card_import_numbers (number) FROM STDIN") as copy:
            # Numbers match CARD_NUMBER_RE: nothing to escape in COPY's text format.
            for block in blocks(f"{number}\n" for number in numbers):
                copy.write(block)
        cursor.execute(
            "SELECT t.number FROM card_import_numbers t JOIN loyalty_card c ON c.number = t.number"
        )
        found = {number for (number,) in cursor.fetchall()}
        cursor.execute("DROP TABLE card_import_numbers")
    return found


def _copy_lines(rows: Iterable[CardRow], now: datetime) -> Iterator[str]:
    """Rows in COPY's text format. Every value is a checked slug, a number, an id or a time,
    so none holds a tab, a newline or a backslash that would need escaping."""
    stamp = now.isoformat()
    for row in rows:
        status = row.status
        issued = stamp if status != Card.Status.NEW else "\\N"
        activated = stamp if status == Card.Status.ACTIVE else "\\N"
        blocked = stamp if status in (Card.Status.BLOCKED, Card.Status.LOST) else "\\N"
        customer = "\\N" if row.customer_id is None else row.customer_id
        yield (
            f"{row.number}\t{row.card_type}\t{status}\t{row.batch.programme_id}\t"
            f"{row.batch.pk}\t{customer}\tf\t{issued}\t{activated}\t{blocked}\t\t{stamp}\n"
        )


def cards_write(rows: Iterable[CardRow]) -> int:
    """Insert checked rows: PostgreSQL COPY, else ``bulk_create`` in chunks. Returns the count.

    Call it inside a transaction; a number taken meanwhile by another import fails the whole
    write on the unique index.
    """
    now = timezone.now()
    written = 0
    if connection.vendor == "postgresql":
        columns = ", ".join(CARD_COLUMNS)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY loyalty_card ({columns}) FROM STDIN") as copy:
                for block in blocks(_copy_lines(rows, now)):
                    copy.write(block)
                    written += block.count("\n")
        # COPY is past the ORM: the audit trail gets its one event per card in one statement.
        # The rows of this call are the ones stamped ``now`` (a microsecond of its own).
        if written:
            record_inserted(
                Card,
                where="created_at = %s",
                params=[now],
                note="cards_write",
                repr_column="number",
            )
        return written
    chunk: list[Card] = []
    for row in rows:
        chunk.append(Card(**dict(zip(CARD_COLUMNS, row.values(now), strict=True))))
        if len(chunk) >= BULK_CREATE_CHUNK:
            Card.objects.bulk_create(chunk)
            written += len(chunk)
            chunk = []
    if chunk:
        Card.objects.bulk_create(chunk)
        written += len(chunk)
    return written


PROGRESS_EVERY = 50_000


def cards_import_bulk(
    source: io.TextIOBase | Iterable[Mapping],
    *,
    default_batch: CardBatch | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row of a CSV (a text stream) or of rows already read, then load them all in one transaction, or nothing.

    Checks: batch known, number well formed with the batch's check digit, not twice in the
    file, not an existing card, status and type known, customer phone known. Raises
    ``ValidationError`` for a file without a header; row problems are in the report.
    ``progress(phase, rows_checked)`` is called every ``PROGRESS_EVERY`` rows while checking
    ("checking") and once before the load ("loading"), outside the load's transaction.
    """
    report = ImportReport()
    checker = CardRowChecker(default_batch=default_batch)
    rows = source_rows(source, ("number",))
    good: list[CardRow] = check_rows(rows, checker, report, progress=progress, every=PROGRESS_EVERY)
    if not report.ok:
        return report
    if progress is not None:
        progress("loading", report.rows)
    with transaction.atomic():
        numbers = (row.number for row in good)
        if connection.vendor == "postgresql":
            taken = _existing_numbers_postgres(numbers)
        else:
            taken = existing_numbers(numbers)
        if taken:
            for number in sorted(taken, key=checker.seen.__getitem__):
                report.add(
                    checker.seen[number],
                    [_("A card with the number %(number)s already exists.") % {"number": number}],
                )
            return report
        if dry_run:
            return report
        report.created = cards_write(good)
    return report
