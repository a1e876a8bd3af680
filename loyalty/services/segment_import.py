"""Static segments from a list: a file of phones, card numbers or emails fills a segment filled
by hand (``SegmentImport``), through the import jobs' machinery (``import_jobs``).

The column is found by its name (``phone``, ``card``, ``email`` and their Russian names) or
chosen; a file with one column of the chosen kind may name it anything. Values are read as
the register reads them: phones normalised to E.164 (``crm.phones``), emails trimmed and
lower-cased, card numbers upper-cased without spaces or dashes and looked up in the segment's
programme only.

Each row is **found** (a customer who can be a member), **not found**, of a **bad format**,
a **repeat** of a customer an earlier row found, or an **anonymised** customer's. A row that
names a customer merged into another counts for the customer they were merged into (a merge
moves the phone, email and cards there, so this happens only with rows older than the merge,
such as a card that still names them) and is counted as **merged**; a survivor anonymised
since is anonymised. Every row that is not found is listed with its reason and kept in the bad
rows file.

The check reads the file in chunks of ``IMPORT_CHUNK_ROWS`` rows with a few ``IN`` lookups per
chunk (the customers, the survivors of merges if any, the members among them), committing its
progress after each. Applying the list reads the file again, resolves it the same way and
hands the customers to ``crm.segments.static.segment_members_set`` in one transaction: the
segment gets the whole list or none of it, and its history records who entered and left.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.contacts import normalize_email
from crm.errors import CrmError
from crm.models import Customer, Segment, SegmentMember
from crm.phones import normalize_phone
from crm.segments.static import segment_members_set
from loyalty.models import Card, SegmentImport
from loyalty.services.imports import Table, cell_text, open_table

Identifier = SegmentImport.Identifier

# Column names that say what a column holds, compared without case, spaces or punctuation.
HEADERS: dict[str, frozenset[str]] = {
    Identifier.PHONE: frozenset(
        {"phone", "phonenumber", "mobile", "tel", "telephone", "телефон", "номертелефона"}
    ),
    Identifier.CARD: frozenset({"card", "cardnumber", "number", "карта", "номеркарты"}),
    Identifier.EMAIL: frozenset({"email", "mail", "почта", "электроннаяпочта"}),
}
DELIMITERS = ",;\t"
LOOKUP_CHUNK = 5000
MAX_MERGE_HOPS = 10


def _header_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def identifier_column(columns: Sequence[str], identifier: str) -> tuple[str, str]:
    """The column to read and what it holds, from the header and the uploader's choice.

    Raises ``ValidationError`` when no column (or more than one) fits."""
    named = {
        kind: [column for column in columns if _header_key(column) in names]
        for kind, names in HEADERS.items()
    }
    accepted = ", ".join(sorted(HEADERS))
    if identifier == Identifier.AUTO:
        kinds = [kind for kind, found in named.items() if found]
        if len(kinds) == 1 and len(named[kinds[0]]) == 1:
            return named[kinds[0]][0], kinds[0]
        if not kinds:
            raise ValidationError(
                _(
                    "No column of the file is named %(accepted)s (its header: %(columns)s). "
                    "The first line must name the column; or choose what the column holds."
                )
                % {"accepted": accepted, "columns": ", ".join(columns) or "—"},
                code="no_identifier_column",
            )
        raise ValidationError(
            _("The file has several columns to match on (%(columns)s): choose which one to read.")
            % {"columns": ", ".join(c for kind in kinds for c in named[kind])},
            code="several_identifier_columns",
        )
    if len(named[identifier]) == 1:
        return named[identifier][0], identifier
    if len(named[identifier]) > 1:
        raise ValidationError(
            _("The file has several columns of %(what)s (%(columns)s): keep one.")
            % {"what": Identifier(identifier).label, "columns": ", ".join(named[identifier])},
            code="several_identifier_columns",
        )
    if len(columns) == 1:
        return columns[0], identifier
    raise ValidationError(
        _(
            "The file has several columns and none is named %(name)s (its header: "
            "%(columns)s): name the column of %(what)s %(name)s."
        )
        % {"name": identifier, "columns": ", ".join(columns), "what": Identifier(identifier).label},
        code="no_identifier_column",
    )


def _parse(identifier: str, text: str, column: str) -> tuple[str | None, str | None]:
    """A cell as the value looked up, or the reason it cannot be one."""
    if not text:
        return None, _("The %(column)s cell is empty.") % {"column": column}
    if identifier == Identifier.PHONE:
        try:
            return normalize_phone(text), None
        except ValidationError as exc:
            return None, " ".join(exc.messages)
    if identifier == Identifier.EMAIL:
        email = normalize_email(text) or ""
        try:
            validate_email(email)
        except ValidationError:
            return None, _("%(value)s is not an email address.") % {"value": text}
        return email, None
    number = re.sub(r"[\s-]", "", text).upper()
    if not re.fullmatch(r"[0-9A-Z]{4,32}", number):
        return None, _("%(value)s is not a card number (4 to 32 digits or Latin capitals).") % {
            "value": text
        }
    return number, None


@dataclass
class Found:
    """Who a value names: the customer (or None: a card given to nobody) and their state."""

    customer_id: int | None
    is_anonymised: bool = False
    merged_into_id: int | None = None


def _chunked[T](values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _lookup(identifier: str, values: Sequence[str], programme_id: int) -> dict[str, Found]:
    """The values found, each with its customer: one query per ``LOOKUP_CHUNK`` values."""
    found: dict[str, Found] = {}
    for chunk in _chunked(values):
        if identifier == Identifier.CARD:
            cards = Card.objects.filter(programme_id=programme_id, number__in=chunk).values_list(
                "number", "customer_id", "customer__is_anonymised", "customer__merged_into_id"
            )
            for number, customer_id, anonymised, merged_into_id in cards:
                found[number] = Found(customer_id, bool(anonymised), merged_into_id)
            continue
        if identifier == Identifier.PHONE:
            rows = Customer.objects.filter(phone__in=chunk).values_list(
                "phone", "pk", "is_anonymised", "merged_into_id"
            )
        else:
            # The unique index is on LOWER(email): the lookup uses it.
            rows = (
                Customer.objects.annotate(email_lower=Lower("email"))
                .filter(email_lower__in=chunk)
                .values_list("email_lower", "pk", "is_anonymised", "merged_into_id")
            )
        for value, pk, anonymised, merged_into_id in rows:
            if value is not None:
                found[value] = Found(pk, anonymised, merged_into_id)
    return found


def _survivors(merged: set[int]) -> dict[int, Found]:
    """For customers merged into others, the customer each one's merges end at: one query per
    step of the chain (a chain is one step long unless the survivor was merged again)."""
    ends: dict[int, Found] = {}
    step = {customer_id: customer_id for customer_id in merged}  # start -> current
    for _hop in range(MAX_MERGE_HOPS):
        if not step:
            break
        rows = Customer.objects.filter(pk__in=set(step.values())).values_list(
            "pk", "is_anonymised", "merged_into_id"
        )
        state = {pk: (anonymised, into) for pk, anonymised, into in rows}
        following = {}
        for start, current in step.items():
            anonymised, into = state[current]
            if into is None:
                ends[start] = Found(current, anonymised)
            else:
                following[start] = into
        step = following
    return ends


@dataclass
class Resolved:
    """What a chunk of rows gave: the customers found for the first time, the rejected rows."""

    customer_ids: list[int] = field(default_factory=list)
    errors: list[tuple[int, list[str], dict[str, str]]] = field(default_factory=list)


class ListReader:
    """Resolves a list's rows chunk by chunk, keeping the counts and the customers seen."""

    def __init__(self, job: SegmentImport, table: Table, column: str, read_as: str):
        self.identifier = read_as
        self.column = column
        self.columns = [c for c in table.columns if c]
        self.programme_id = job.segment.programme_id
        self.programme = job.segment.programme
        self.seen: dict[int, int] = {}  # customer -> the first row that found them
        self.counts = {
            "found": 0,
            "not_found": 0,
            "bad_format": 0,
            "duplicates": 0,
            "anonymised": 0,
            "merged": 0,
        }

    @property
    def error_count(self) -> int:
        """Rows listed with a reason ("merged" rows are found rows)."""
        counts = self.counts
        return (
            counts["not_found"] + counts["bad_format"] + counts["duplicates"] + counts["anonymised"]
        )

    def _not_found(self, value: str) -> str:
        if self.identifier == Identifier.PHONE:
            return _("No customer has the phone %(value)s.") % {"value": value}
        if self.identifier == Identifier.EMAIL:
            return _("No customer has the email %(value)s.") % {"value": value}
        return _("No card %(value)s in the programme %(programme)s.") % {
            "value": value,
            "programme": self.programme,
        }

    def read(self, chunk: list[tuple[int, Mapping[str, object]]]) -> Resolved:
        parsed: list[tuple[int, Mapping[str, object], str | None, str | None]] = []
        for row, raw in chunk:
            value, problem = _parse(self.identifier, cell_text(raw.get(self.column)), self.column)
            parsed.append((row, raw, value, problem))
        values = sorted({value for _r, _raw, value, _p in parsed if value is not None})
        found = _lookup(self.identifier, values, self.programme_id) if values else {}
        merged = {f.merged_into_id for f in found.values() if f.merged_into_id is not None}
        survivors = _survivors(merged) if merged else {}
        resolved = Resolved()
        for row, raw, value, problem in parsed:
            reason, category = problem, "bad_format"
            target = found.get(value) if value is not None else None
            if reason is None:
                if target is None:
                    reason, category = self._not_found(value or ""), "not_found"
                elif target.customer_id is None:
                    reason = _("The card %(value)s is not given to a customer.") % {"value": value}
                    category = "not_found"
                else:
                    was_merged = target.merged_into_id is not None
                    if was_merged:
                        target = survivors[target.merged_into_id]  # type: ignore[index]
                    assert target.customer_id is not None
                    first = self.seen.get(target.customer_id)
                    if target.is_anonymised:
                        reason, category = (
                            _("The customer was anonymised: they cannot be a member."),
                            "anonymised",
                        )
                    elif first is not None:
                        reason = _("The same customer as row %(row)s.") % {"row": first}
                        category = "duplicates"
                    else:
                        self.seen[target.customer_id] = row
                        self.counts["found"] += 1
                        self.counts["merged"] += int(was_merged)
                        resolved.customer_ids.append(target.customer_id)
                        continue
            self.counts[category] += 1
            cells = {c: cell_text(raw.get(c)) for c in self.columns}
            resolved.errors.append((row, [reason], cells))
        return resolved


def segment_import_check_segment(segment: Segment) -> None:
    """Raise ``ValidationError`` unless ``segment`` takes a list (it is filled by hand)."""
    if segment.kind != Segment.Kind.MANUAL:
        raise ValidationError(
            _(
                "“%(name)s” is a segment by rules: its members are its rule's. Only a segment "
                "filled by hand or from a list takes a list."
            )
            % {"name": segment.name},
            code="segment_is_refreshed",
        )


def open_list(job: SegmentImport, binary) -> tuple[Table, str, str]:
    """The job's file opened, with the column to read and what it holds."""
    assert job.file.name is not None
    table = open_table(
        binary,
        job.file.name,
        (),
        max_line=settings.IMPORT_MAX_LINE_BYTES,
        delimiters=DELIMITERS,
    )
    column, read_as = identifier_column(table.columns, job.identifier)
    return table, column, read_as


def check(run, job: SegmentImport) -> None:
    """The check stage of ``import_jobs``' run: counts and rejected rows, nothing else."""
    segment_import_check_segment(job.segment)
    with job.file.open("rb") as binary:
        table, column, read_as = open_list(job, binary)
        with transaction.atomic():
            job.row_errors.all().delete()
            run.beat(
                columns=table.columns,
                rows_total=table.rows_hint,
                column=column,
                read_as=read_as,
                error_count=0,
            )
        reader = ListReader(job, table, column, read_as)
        entering = staying = kept = rows = 0
        for chunk in run.chunks(table.rows):
            resolved = reader.read(chunk)
            members: set[int] = set()
            for ids in _chunked(resolved.customer_ids):
                members.update(
                    SegmentMember.objects.filter(
                        segment_id=job.segment_id, customer_id__in=ids
                    ).values_list("customer_id", flat=True)
                )
            staying += len(members)
            entering += len(resolved.customer_ids) - len(members)
            rows = chunk[-1][0]
            with transaction.atomic():
                records = run.errors(resolved.errors, kept)
                job.row_errors.model._default_manager.bulk_create(records)
                kept += len(records)
                run.beat(
                    rows_checked=rows,
                    new_rows=entering,
                    unchanged_rows=staying,
                    error_count=reader.error_count,
                    **reader.counts,
                )
    leaving = 0
    if job.mode == SegmentImport.Mode.REPLACE:
        leaving = SegmentMember.objects.filter(segment_id=job.segment_id).count() - staying
    run.beat(
        status=SegmentImport.Status.CHECKED,
        rows_total=rows,
        changed_rows=leaving,
        run_token="",
        finished_at=timezone.now(),
    )


def load(run, job: SegmentImport) -> None:
    """The load stage: the list applied in one transaction (all of it or nothing)."""
    segment_import_check_segment(job.segment)
    errors_model = job.row_errors.model._default_manager
    with job.file.open("rb") as binary:
        table, column, read_as = open_list(job, binary)
        reader = ListReader(job, table, column, read_as)
        state = {"kept": 0, "rows": 0}

        def customer_chunks() -> Iterator[list[int]]:
            for chunk in run.chunks(table.rows):
                resolved = reader.read(chunk)
                records = run.errors(resolved.errors, state["kept"])
                errors_model.bulk_create(records)
                state["kept"] += len(records)
                state["rows"] = chunk[-1][0]
                yield resolved.customer_ids

        with transaction.atomic():
            # What this reading finds replaces what the check found.
            errors_model.filter(job=job).delete()
            try:
                difference = segment_members_set(
                    job.segment_id,
                    customer_chunks(),
                    replace=job.mode == SegmentImport.Mode.REPLACE,
                )
            except CrmError as exc:
                raise ValidationError(str(exc)) from exc
            if reader.counts["found"] == 0:
                # Replacing with it would empty the segment: the file, or the customers, are
                # not what the check found.
                raise ValidationError(_("No row of the file names a customer any more."))
            run.beat(
                status=SegmentImport.Status.DONE,
                rows_done=state["rows"],
                rows_checked=max(job.rows_checked, state["rows"]),
                entered=difference.entered,
                left=difference.left,
                size=difference.size,
                error_count=reader.error_count,
                **reader.counts,
                run_token="",
                finished_at=timezone.now(),
            )


# --- What the pages show --------------------------------------------------------------------


def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


def summary(job: SegmentImport) -> str:
    """One sentence: what the list would do to the segment, or what it did."""
    Status = SegmentImport.Status
    done = job.stage == SegmentImport.Stage.LOAD and job.status == Status.DONE
    rows = job.rows_done if done else job.rows_checked
    head = ngettext("%(rows)s row", "%(rows)s rows", rows) % {"rows": _n(rows)}
    if done:
        parts = [
            ngettext("%(n)s entered", "%(n)s entered", job.entered) % {"n": _n(job.entered)},
            ngettext("%(n)s left", "%(n)s left", job.left) % {"n": _n(job.left)},
        ]
    else:
        parts = [
            ngettext("%(n)s to enter", "%(n)s to enter", job.new_rows) % {"n": _n(job.new_rows)}
        ]
        if job.mode == SegmentImport.Mode.REPLACE:
            parts.append(
                ngettext("%(n)s to leave", "%(n)s to leave", job.changed_rows)
                % {"n": _n(job.changed_rows)}
            )
    parts.append(
        ngettext("%(n)s already a member", "%(n)s already members", job.unchanged_rows)
        % {"n": _n(job.unchanged_rows)}
    )
    parts.append(
        ngettext("%(n)s error", "%(n)s errors", job.error_count) % {"n": _n(job.error_count)}
    )
    text = _("%(head)s: %(details)s") % {"head": head, "details": ", ".join(parts)}
    if done and job.size is not None:
        text += " " + ngettext("(%(n)s member now).", "(%(n)s members now).", job.size) % {
            "n": _n(job.size)
        }
    return text


def details(job: SegmentImport) -> list[tuple[str, int]]:
    """The rows by outcome, for the job's page."""
    return [
        (_("customers found"), job.found),
        (_("of them through a merged customer"), job.merged),
        (_("not found"), job.not_found),
        (_("bad format"), job.bad_format),
        (_("the same customer again"), job.duplicates),
        (_("anonymised customers"), job.anonymised),
    ]
