"""What every file import shares: reading CSV/XLSX rows (``open_table`` for the admin's import
jobs, with clear errors for unreadable files), checking them, the report, and the bulk writer.
The jobs themselves (chunks, progress, resume) are in ``loyalty.services.import_jobs``.

Each import (cards, products, stores) brings a row checker: ``check(raw, row)`` returns the
checked row or the reasons it cannot be imported, in the user's language. Rows are numbered
from 1, the header and empty lines not counted, as the admin numbers them. The bulk functions
here (the management commands) write nothing unless every row passes; the admin's jobs import
the good rows and list the rejected ones.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any, Protocol

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils.translation import gettext as _

from loyalty.sql import concrete_field, quoted_column

PROGRESS_EVERY = 50_000
WRITE_CHUNK = 2000

Progress = Callable[[str, int], None]


class Action:
    """What an upsert import does with a row, as the preview shows it."""

    NEW = "new"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass
class ImportReport:
    """What an import did: rows read, rows written, and the errors by row (first ones kept)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error_count: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    max_errors: int = 1000

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add(self, row: int, messages: Iterable[str]) -> None:
        for message in messages:
            self.error_count += 1
            if len(self.errors) < self.max_errors:
                self.errors.append((row, message))


class RowChecker(Protocol):
    def check(self, raw: Mapping[str, object], row: int) -> tuple[Any, list[str]]: ...


def cell_text(value: object) -> str:
    """A cell as text: spreadsheets hand numbers over as int or float."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


TRUE_WORDS = frozenset({"1", "yes", "y", "true", "t", "да", "д", "+"})
FALSE_WORDS = frozenset({"0", "no", "n", "false", "f", "нет", "н", "-"})


def cell_bool(value: object, column: str) -> tuple[bool | None, str | None]:
    """A yes/no cell: ``None`` when empty, else the value or an error naming the column."""
    if isinstance(value, bool):
        return value, None
    text = cell_text(value).lower()
    if not text:
        return None, None
    if text in TRUE_WORDS:
        return True, None
    if text in FALSE_WORDS:
        return False, None
    return None, _("%(column)s must be yes or no, not %(value)s.") % {
        "column": column,
        "value": cell_text(value),
    }


def cell_date(value: object, column: str) -> tuple[date | None, str | None]:
    """A date cell (YYYY-MM-DD, DD.MM.YYYY or a spreadsheet date): ``None`` when empty."""
    if isinstance(value, datetime):
        return value.date(), None
    if isinstance(value, date):
        return value, None
    text = cell_text(value)
    if not text:
        return None, None
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date(), None  # noqa: DTZ007 a bare date
        except ValueError:
            continue
    return None, _("%(column)s must be a date such as 2026-12-31, not %(value)s.") % {
        "column": column,
        "value": text,
    }


def first_row_of(seen: dict, key: object, row: int) -> int | None:
    """The row on which ``key`` was first seen in the file, recording it when new."""
    first = seen.get(key)
    if first is None:
        seen[key] = row
    return first


def csv_rows(stream: Iterable[str], required: Sequence[str]) -> Iterator[dict[str, str]]:
    """The rows of a CSV with a header row holding the ``required`` columns."""
    reader = csv.DictReader(stream)
    headers = [f.strip() for f in reader.fieldnames or []]
    missing = [name for name in required if name not in headers]
    if missing:
        raise ValidationError(
            _("The file has no header row with the columns %(columns)s.")
            % {"columns": ", ".join(missing)}
        )
    reader.fieldnames = headers
    yield from reader


def xlsx_rows(binary: IO[bytes], required: Sequence[str]) -> Iterator[dict[str, object]]:
    """The rows of the first sheet of an XLSX workbook, the first row being the header."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(binary, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is no workbook
        raise ValidationError(_("The file is not an XLSX workbook.")) from exc
    try:
        lines = workbook.worksheets[0].iter_rows(values_only=True)
        headers = [cell_text(h) for h in next(lines, ())]
        missing = [name for name in required if name not in headers]
        if missing:
            raise ValidationError(
                _("The file has no header row with the columns %(columns)s.")
                % {"columns": ", ".join(missing)}
            )
        for line in lines:
            if any(cell is not None and cell != "" for cell in line):
                yield dict(zip(headers, line, strict=False))
    finally:
        workbook.close()


def text_max(model: type[models.Model], name: str) -> int:
    """The ``max_length`` of a model's text field: the longest cell its column takes."""
    length = concrete_field(model, name).max_length
    if length is None:
        raise TypeError(f"{model.__name__}.{name} has no max_length")
    return length


def source_rows(
    source: io.TextIOBase | Iterable[Mapping], required: Sequence[str]
) -> Iterator[Mapping]:
    """The rows of a CSV text stream (``csv_rows``), or of rows already read (an XLSX sheet)."""
    if isinstance(source, io.TextIOBase):
        return csv_rows(source, required)
    return iter(source)


def file_rows(binary: IO[bytes], name: str, required: Sequence[str]) -> Iterator[Mapping]:
    """The rows of an uploaded file, read as XLSX or as CSV (UTF-8) by its name."""
    if name.lower().endswith(".xlsx"):
        yield from xlsx_rows(binary, required)
        return
    with io.TextIOWrapper(binary, encoding="utf-8-sig", newline="") as stream:
        yield from csv_rows(stream, required)


def check_rows(
    rows: Iterable[Mapping],
    checker: RowChecker,
    report: ImportReport,
    *,
    progress: Progress | None = None,
    every: int = PROGRESS_EVERY,
) -> list:
    """Check every row into ``report``; return the rows that passed.

    ``progress("checking", rows_checked)`` is called every ``every`` rows.
    """
    good = []
    for index, raw in enumerate(rows, 1):
        report.rows = index
        checked, errors = checker.check(raw, index)
        if errors:
            report.add(index, errors)
        elif checked is not None:
            good.append(checked)
        if progress is not None and index % every == 0:
            progress("checking", index)
    return good


def upsert_import(
    raw_rows: Sequence[Mapping],
    checker: RowChecker,
    *,
    write: Callable[[list], object],
    conflict_message: str,
    dry_run: bool = False,
    progress: Progress | None = None,
    every: int = PROGRESS_EVERY,
) -> ImportReport:
    """Check every row, then ``write`` all the checked rows in one transaction, or none.

    The checked rows carry an ``action`` (``Action``); the report counts them, on a dry run
    as what the import would do. A unique index broken meanwhile by another writer rolls
    the write back and raises ``ValidationError(conflict_message)``.
    """
    report = ImportReport()
    good = check_rows(raw_rows, checker, report, progress=progress, every=every)
    if not report.ok:
        return report
    for row in good:
        if row.action == Action.NEW:
            report.created += 1
        elif row.action == Action.UPDATE:
            report.updated += 1
        else:
            report.unchanged += 1
    if dry_run:
        return report
    if progress is not None:
        progress("loading", report.rows)
    try:
        with transaction.atomic():
            write(good)
    except IntegrityError as exc:
        raise ValidationError(conflict_message) from exc
    return report


def upsert_write(
    model: type[models.Model],
    new: Iterable[models.Model],
    changed: Iterable[models.Model],
    fields: Sequence[str],
) -> tuple[int, int]:
    """Insert ``new`` (PostgreSQL: ``COPY``) and update ``fields`` of ``changed`` in chunks;
    return both counts.

    Call it inside a transaction: a key taken meanwhile fails the whole write on its unique
    index. Signals are not sent; callers announce what they changed.
    """
    created = updated = 0
    if connection.vendor == "postgresql":
        created = _copy_insert(model, new)
    else:
        for chunk in _chunks(new, WRITE_CHUNK):
            model._default_manager.bulk_create(chunk)
            created += len(chunk)
    for chunk in _chunks(changed, WRITE_CHUNK):
        _update_by_pk(model, chunk, fields)
        updated += len(chunk)
    return created, updated


def _copy_insert(model: type[models.Model], objs: Iterable[models.Model]) -> int:
    """Insert with PostgreSQL ``COPY``: psycopg escapes each value, the database fills the ids.
    Fields get their ``pre_save`` values first (``auto_now_add``), as ``bulk_create`` does."""
    meta = model._meta
    quote = connection.ops.quote_name
    targets = [f for f in meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quoted_column(f) for f in targets)
    written = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in targets]
                )
                written += 1
    return written


def _update_by_pk(model: type[models.Model], objs: list[models.Model], fields: Sequence[str]):
    """``UPDATE ... WHERE pk = %s`` run with ``executemany``: one prepared statement for the
    chunk. ``bulk_update`` builds a ``CASE`` over every row for every field instead, which
    costs seconds per thousand rows."""
    meta = model._meta
    quote = connection.ops.quote_name
    targets = [concrete_field(model, name) for name in fields]
    assignments = ", ".join(f"{quoted_column(f)} = %s" for f in targets)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quoted_column(meta.pk)} = %s"
    params = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in targets] + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def blocks(lines: Iterable[str], size: int = 1 << 20) -> Iterator[str]:
    """Join lines into blocks of about ``size`` characters: one PostgreSQL COPY write each."""
    parts: list[str] = []
    length = 0
    for line in lines:
        parts.append(line)
        length += len(line)
        if length >= size:
            yield "".join(parts)
            parts, length = [], 0
    if parts:
        yield "".join(parts)


@dataclass
class Table:
    """An uploaded file opened for reading: its header and its data rows, read lazily.

    ``rows_hint`` is an estimate of the number of rows (for a progress bar) or ``None``.
    Reading ``rows`` raises ``ValidationError`` with the line for a file that turns out
    unreadable on the way (not UTF-8, a line too long, broken quoting).
    """

    columns: list[str]
    rows: Iterator[dict[str, object]]
    rows_hint: int | None


def open_table(
    binary: IO[bytes],
    name: str,
    required: Sequence[str],
    *,
    max_line: int,
    delimiters: str = ",",
) -> Table:
    """Open an uploaded CSV (UTF-8) or XLSX file with a header holding ``required`` columns.

    With several ``delimiters`` (``",;"``: a spreadsheet saved as CSV in a locale whose decimal
    point is a comma writes semicolons), the one the header line holds most often is used.
    Raises ``ValidationError`` for an empty file, a file without the columns, a file that is
    not UTF-8 text or XLSX, and a line longer than ``max_line`` bytes.
    """
    if name.lower().endswith(".xlsx"):
        return _open_xlsx(binary, required)
    rows_hint = _count_lines(binary)
    lines: Iterator[str] = _bounded_lines(binary, max_line)
    delimiter = delimiters[0]
    if len(delimiters) > 1:
        head: list[str] = []
        for line in lines:
            head.append(line)
            if line.strip():
                delimiter = max(delimiters, key=line.count)  # ties: the first named
                break
        lines = itertools.chain(head, lines)
    reader = csv.reader(lines, delimiter=delimiter)
    header = _read_csv_row(reader)
    if header is None:
        raise ValidationError(_("The file is empty: it has no header row."))
    columns = [cell.strip() for cell in header]
    _require(columns, required)
    return Table(columns, _csv_records(reader, columns), max(rows_hint - 1, 0))


def _require(columns: Sequence[str], required: Sequence[str]) -> None:
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValidationError(
            _("The file has no header row with the columns %(columns)s.")
            % {"columns": ", ".join(missing)}
        )


def _count_lines(binary: IO[bytes]) -> int:
    """The number of lines in the file (a hint for the progress bar: a quoted cell may span
    lines), read in blocks; the file is rewound."""
    count = 0
    last = b""
    while block := binary.read(1 << 20):
        count += block.count(b"\n")
        last = block
    binary.seek(0)
    return count + (1 if last and not last.endswith(b"\n") else 0)


def _bounded_lines(binary: IO[bytes], max_line: int) -> Iterator[str]:
    """The lines of a UTF-8 file, decoded one by one (so an error names its line), refusing a
    line longer than ``max_line`` bytes: a binary or one-line file is not read whole into
    memory. A byte-order mark at the start is dropped."""
    number = 0
    while True:
        number += 1
        data = binary.readline(max_line + 1)
        if not data:
            return
        if len(data) > max_line:
            raise ValidationError(
                _(
                    "Line %(line)s is longer than %(max)s characters: this does not look like a "
                    "CSV file of rows."
                )
                % {"line": number, "max": max_line}
            )
        try:
            line = data.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                _(
                    'Line %(line)s is not UTF-8 text: save the file as "CSV UTF-8" or as XLSX '
                    "and upload it again."
                )
                % {"line": number}
            ) from exc
        yield line


def _read_csv_row(reader: Any) -> list[str] | None:
    """The next row that has a non-empty cell, or ``None`` at the end of the file."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise ValidationError(
                _("Line %(line)s cannot be read as CSV (%(problem)s).")
                % {"line": reader.line_num, "problem": exc}
            ) from exc
        if any(cell.strip() for cell in cells):
            return cells


def _csv_records(reader: Any, columns: list[str]) -> Iterator[dict[str, object]]:
    while (cells := _read_csv_row(reader)) is not None:
        yield dict(zip(columns, cells, strict=False))


def _open_xlsx(binary: IO[bytes], required: Sequence[str]) -> Table:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(binary, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is no workbook
        raise ValidationError(_("The file is not an XLSX workbook.")) from exc
    sheet = workbook.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    header = next(lines, None)
    if header is None:
        workbook.close()
        raise ValidationError(_("The file is empty: it has no header row."))
    columns = [cell_text(h) for h in header]
    try:
        _require(columns, required)
    except ValidationError:
        workbook.close()
        raise
    rows_hint = sheet.max_row - 1 if sheet.max_row else None

    def records() -> Iterator[dict[str, object]]:
        try:
            for line in lines:
                if any(cell is not None and cell != "" for cell in line):
                    yield dict(zip(columns, line, strict=False))
        finally:
            workbook.close()

    return Table(columns, records(), rows_hint)
