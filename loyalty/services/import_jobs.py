"""Import jobs (cards, products, stores): check a file, then load it, in chunks, resumably.

A job has two stages. **Check** reads every row, runs the kind's row checker against the
database and records the counts (new, to change, unchanged) and every rejected row with its
reasons and cells; it writes nothing else. **Load** (after the user confirms) reads the file
again, checks each row again (the database may have changed meanwhile) and writes the good
rows in chunks of ``IMPORT_CHUNK_ROWS``. Each chunk is one short transaction that also moves
the job's ``rows_done`` mark and counts: a job stopped anywhere (a worker killed, a deploy)
resumes after its last committed chunk, and no row is written twice.

A run claims its job with a token; every heartbeat is a conditional update on that token, so
a run that was declared dead (``import_jobs_fail_stale``) and then resumed elsewhere stops at
its next chunk, before it commits anything. Small files run in the request; files above
``IMPORT_BACKGROUND_BYTES`` in Celery, or, without a broker (the demo), in a thread of the web
process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty.models import CardImport, DataImport, ImportJob, SegmentImport
from loyalty.services import segment_import
from loyalty.services.card_import import CardRowChecker, cards_write, existing_numbers
from loyalty.services.imports import Action, cell_text, open_table
from loyalty.services.product_import import ProductRowChecker, existing_products, products_write
from loyalty.services.store_import import StoreRowChecker, existing_stores, stores_write

logger = logging.getLogger(__name__)

Status = ImportJob.Status
Stage = ImportJob.Stage


class JobSuperseded(Exception):
    """The job is no longer this run's: declared dead and resumed or re-run elsewhere."""


@dataclass(frozen=True)
class ImportKind:
    """What one kind of import brings: its columns, its row checker, and its writer.

    ``existing(raw_rows)`` looks up what a chunk of rows refers to in the database, for the
    checker's ``existing`` attribute; ``write(rows)`` writes checked rows and returns the
    numbers created and updated.
    """

    required: tuple[str, ...]
    checker: Callable[[Any], Any]
    existing: Callable[[list[Mapping[str, object]]], Any]
    write: Callable[[list], tuple[int, int]]


def _card_existing(raw_rows: list[Mapping[str, object]]) -> set[str]:
    return existing_numbers({cell_text(raw.get("number")).upper() for raw in raw_rows})


CARDS = ImportKind(
    required=("number",),
    checker=lambda job: CardRowChecker(default_batch=job.batch, existing=set()),
    existing=_card_existing,
    write=lambda rows: (cards_write(rows), 0),
)
PRODUCTS = ImportKind(
    required=("sku",),
    checker=lambda job: ProductRowChecker(existing={}, default_partner=job.partner),
    existing=lambda raws: existing_products({cell_text(raw.get("sku")) for raw in raws}),
    write=products_write,
)
STORES = ImportKind(
    required=("code",),
    checker=lambda job: StoreRowChecker(existing={}, default_partner=job.partner),
    existing=lambda raws: existing_stores({cell_text(raw.get("code")) for raw in raws}),
    write=stores_write,
)


def import_kind(job: ImportJob) -> ImportKind:
    if isinstance(job, CardImport):
        return CARDS
    if isinstance(job, DataImport):
        return PRODUCTS if job.kind == DataImport.Kind.PRODUCTS else STORES
    raise TypeError(f"no import kind for {type(job).__name__}")


# --- Starting, confirming, resuming ---------------------------------------------------------


def import_job_start[Job: ImportJob](job: Job) -> Job:
    """Run a queued job now, in this request, when its file is small; else in the background.

    The threshold is ``settings.IMPORT_BACKGROUND_BYTES``. Call it outside a transaction (or
    from ``transaction.on_commit``): the run commits chunk by chunk.
    """
    if job.file.size <= settings.IMPORT_BACKGROUND_BYTES:
        return import_job_run(job)
    import_job_to_background(job)
    return job


def import_job_to_background(job: ImportJob) -> None:
    """Hand the job to a Celery worker after the commit; without a broker (tasks run eagerly,
    as in the demo) to a thread of this process, so the request returns at once."""
    from config.celery import app
    from loyalty.tasks import import_job_run_task

    label = job._meta.label
    if app.conf.task_always_eager:
        transaction.on_commit(lambda: start_thread(label, job.pk))
    else:
        transaction.on_commit(lambda: import_job_run_task.delay(label, job.pk))


def start_thread(label: str, pk: int) -> None:
    """Run the job in a daemon thread of this process (no broker). A process that ends takes
    the thread with it: the job's heartbeat stops and it shows as failed, resumable."""
    threading.Thread(
        target=_run_in_thread, args=(label, pk), name=f"import-{label}-{pk}", daemon=True
    ).start()


def _run_in_thread(label: str, pk: int) -> None:
    try:
        import_job_run_by_id(label, pk)
    except Exception:
        logger.exception("import %s %s stopped", label, pk)
    finally:
        connections.close_all()


def import_job_run_by_id(label: str, pk: int) -> ImportJob | None:
    job = apps.get_model(label)._default_manager.filter(pk=pk).first()
    return import_job_run(job) if job is not None else None


def import_job_confirm[Job: ImportJob](job: Job) -> Job:
    """Import the good rows of a checked job (rows with errors are skipped and listed).

    Raises ``ValidationError`` when the job is not checked or has nothing to import.
    """
    if not job.can_confirm:
        raise ValidationError(_("This import is not waiting for a confirmation."))
    moved = (
        type(job)
        ._default_manager.filter(pk=job.pk, status=Status.CHECKED)
        .update(status=Status.QUEUED, stage=Stage.LOAD, rows_done=0, finished_at=None)
    )
    job.refresh_from_db()
    return import_job_start(job) if moved else job


def import_job_resume[Job: ImportJob](job: Job) -> Job:
    """Run a failed job again: an import continues after its last committed row, a check
    starts over. Raises ``ValidationError`` for a job that has not failed."""
    if not job.can_resume:
        raise ValidationError(_("Only a failed import can be resumed."))
    fields: dict[str, object] = {"status": Status.QUEUED, "failure": "", "finished_at": None}
    if job.stage == Stage.CHECK:
        fields.update(rows_checked=0, new_rows=0, changed_rows=0, unchanged_rows=0)
    moved = type(job)._default_manager.filter(pk=job.pk, status=Status.FAILED).update(**fields)
    job.refresh_from_db()
    return import_job_start(job) if moved else job


def import_job_rerun[Job: ImportJob](job: Job, *, user) -> Job:
    """Start a new job on the same file and options, from the check; the old job stays."""
    again = type(job)(**{name: getattr(job, name) for name in job.option_fields})
    again.created_by = user
    again.save()
    return import_job_start(again)


# --- Stale jobs -----------------------------------------------------------------------------


def import_jobs_fail_stale(model: type[ImportJob], *, now: datetime | None = None) -> int:
    """Mark failed the jobs of ``model`` whose run stopped giving signs of life (a worker or
    web process that died): checking or importing, with a heartbeat older than
    ``IMPORT_STALE_SECONDS``. Returns how many. Their run token is cleared, so a run that was
    only slow stops at its next chunk instead of writing on."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=settings.IMPORT_STALE_SECONDS)
    stale = model._default_manager.filter(status__in=ImportJob.WORKING).filter(
        Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True, created_at__lt=limit)
    )
    failed = 0
    for job in stale.only("pk", "stage", "rows_done", "heartbeat_at", "run_token"):
        if job.stage == Stage.LOAD:
            failure = _(
                "The process running this import stopped (no sign of life for %(minutes)s "
                "minutes). Rows up to %(row)s are imported; resume to continue after them."
            ) % {"minutes": _minutes(now, job.heartbeat_at), "row": job.rows_done}
        else:
            failure = _(
                "The process checking this file stopped (no sign of life for %(minutes)s "
                "minutes). Nothing was imported; resume to check it again."
            ) % {"minutes": _minutes(now, job.heartbeat_at)}
        failed += model._default_manager.filter(
            pk=job.pk, status__in=ImportJob.WORKING, run_token=job.run_token
        ).update(status=Status.FAILED, failure=failure, run_token="", finished_at=now)
    return failed


def _minutes(now: datetime, since: datetime | None) -> int:
    if since is None:
        return settings.IMPORT_STALE_SECONDS // 60
    return max(1, int((now - since).total_seconds() // 60))


# --- Running --------------------------------------------------------------------------------


def import_job_run[Job: ImportJob](job: Job) -> Job:
    """Run a queued job's stage (check or load) to its end, and record its progress.

    Safe to run twice or concurrently: only the run that moves the job out of "queued" works
    on it. A file that cannot be read fails the job with the reason, and changes nothing.
    """
    run = _run_for(job)
    if not run.claim():
        job.refresh_from_db()
        return job
    try:
        if job.stage == Stage.CHECK:
            run.check()
        else:
            run.load()
    except JobSuperseded:
        pass
    except ValidationError as exc:
        run.fail(" ".join(exc.messages))
    except IntegrityError:
        run.fail(
            _(
                "Another import or user added some of these rows meanwhile; the last chunk was "
                "not written. Resume to check those rows again."
            )
        )
    except Exception:
        logger.exception("import %s %s failed", job._meta.label, job.pk)
        run.fail(_("The import stopped on an unexpected error; resume it, or ask for help."))
    job.refresh_from_db()
    return job


def _run_for(job: ImportJob) -> _Run:
    if isinstance(job, SegmentImport):
        return _SegmentRun(job)
    return _Run(job)


class _Run:
    """One run of a job's stage: the claim token, the heartbeat, the chunked work."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.jobs = type(job)._default_manager
        self.token = uuid.uuid4().hex
        self.working = Status.CHECKING if job.stage == Stage.CHECK else Status.LOADING
        self.chunk_rows = max(1, settings.IMPORT_CHUNK_ROWS)

    @cached_property
    def kind(self) -> ImportKind:
        return import_kind(self.job)

    def claim(self) -> bool:
        return bool(
            self.jobs.filter(pk=self.job.pk, status=Status.QUEUED).update(
                status=self.working, run_token=self.token, heartbeat_at=timezone.now()
            )
        )

    def beat(self, **fields: object) -> None:
        """Record progress (in the caller's transaction, if any); raise ``JobSuperseded``
        when the job is no longer this run's, which rolls that transaction back."""
        fields["heartbeat_at"] = timezone.now()
        if not self.jobs.filter(pk=self.job.pk, run_token=self.token).update(**fields):
            raise JobSuperseded

    def fail(self, failure: str) -> None:
        """Record why the run stopped. A check that fails lists no rows: its reason is the
        file's (an import keeps the rows it rejected before it stopped)."""
        with transaction.atomic():
            if (
                self.jobs.filter(pk=self.job.pk, run_token=self.token).update(
                    status=Status.FAILED, failure=failure, run_token="", finished_at=timezone.now()
                )
                and self.job.stage == Stage.CHECK
            ):
                self.job.row_errors.all().delete()
                self.jobs.filter(pk=self.job.pk).update(
                    error_count=0, new_rows=0, changed_rows=0, unchanged_rows=0
                )

    def chunks(self, rows: Iterable[dict[str, object]]) -> Iterator[list]:
        chunk: list[tuple[int, dict[str, object]]] = []
        for numbered in enumerate(rows, 1):
            chunk.append(numbered)
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def errors(self, errors: list[tuple[int, list[str], dict]], kept: int) -> list:
        """Error rows to insert, up to ``IMPORT_ERRORS_KEPT`` for the job."""
        room = max(0, settings.IMPORT_ERRORS_KEPT - kept)
        model = self.job.row_errors.model
        return [
            model(job=self.job, row=row, reasons="\n".join(messages), cells=cells)
            for row, messages, cells in errors[:room]
        ]

    def check(self) -> None:
        job = self.job
        with job.file.open("rb") as binary:
            assert job.file.name is not None  # open() found the file
            table = open_table(
                binary,
                job.file.name,
                self.kind.required,
                max_line=settings.IMPORT_MAX_LINE_BYTES,
            )
            with transaction.atomic():
                job.row_errors.all().delete()
                self.beat(columns=table.columns, rows_total=table.rows_hint, error_count=0)
            checker = self.kind.checker(job)
            counts = {Action.NEW: 0, Action.UPDATE: 0, Action.UNCHANGED: 0}
            error_count = kept = rows = 0
            for chunk in self.chunks(table.rows):
                checker.existing = self.kind.existing([raw for _row, raw in chunk])
                errors = []
                for row, raw in chunk:
                    checked, messages = checker.check(raw, row)
                    if messages:
                        errors.append((row, messages, _cells(raw, table.columns)))
                    elif checked is not None:
                        counts[getattr(checked, "action", Action.NEW)] += 1
                rows = chunk[-1][0]
                error_count += len(errors)
                with transaction.atomic():
                    records = self.errors(errors, kept)
                    job.row_errors.model._default_manager.bulk_create(records)
                    kept += len(records)
                    self.beat(
                        rows_checked=rows,
                        new_rows=counts[Action.NEW],
                        changed_rows=counts[Action.UPDATE],
                        unchanged_rows=counts[Action.UNCHANGED],
                        error_count=error_count,
                    )
        self.beat(status=Status.CHECKED, rows_total=rows, run_token="", finished_at=timezone.now())

    def load(self) -> None:
        job = self.job
        done = job.rows_done
        with job.file.open("rb") as binary:
            assert job.file.name is not None  # open() found the file
            table = open_table(
                binary,
                job.file.name,
                self.kind.required,
                max_line=settings.IMPORT_MAX_LINE_BYTES,
            )
            errors_model = job.row_errors.model._default_manager
            with transaction.atomic():
                # The check's list gives way to what the import itself finds, row by row.
                errors_model.filter(job=job, row__gt=done).delete()
                kept = errors_model.filter(job=job).count()
                self.beat(error_count=kept if done else 0)
            error_count = kept if done else 0
            counts = job.load_counts() if done else {"created": 0, "updated": 0, "unchanged": 0}
            checker = self.kind.checker(job)
            for chunk in self.chunks(table.rows):
                last = chunk[-1][0]
                fresh = [raw for row, raw in chunk if row > done]
                # Rows already imported are still checked, so duplicates later in the file
                # are recognised; their results are not used.
                checker.existing = self.kind.existing(fresh) if fresh else type(checker.existing)()
                good, errors = [], []
                for row, raw in chunk:
                    checked, messages = checker.check(raw, row)
                    if row <= done:
                        continue
                    if messages:
                        errors.append((row, messages, _cells(raw, table.columns)))
                    elif checked is not None:
                        if getattr(checked, "action", Action.NEW) == Action.UNCHANGED:
                            counts["unchanged"] += 1
                        else:
                            good.append(checked)
                if last <= done:
                    continue
                with transaction.atomic():
                    created, updated = self.kind.write(good) if good else (0, 0)
                    counts["created"] += created
                    counts["updated"] += updated
                    records = self.errors(errors, kept)
                    errors_model.bulk_create(records)
                    kept += len(records)
                    error_count += len(errors)
                    self.beat(
                        rows_done=last,
                        error_count=error_count,
                        **_count_fields(job, counts),
                    )
                _let_writers_in()
        self.beat(status=Status.DONE, run_token="", finished_at=timezone.now())


class _SegmentRun(_Run):
    """A segment list: its own stages (``loyalty.services.segment_import``), this run's claim,
    heartbeat, chunks and kept errors. Applying a list is one transaction, not chunks: the
    segment gets the whole list or none of it."""

    job: SegmentImport

    def check(self) -> None:
        segment_import.check(self, self.job)

    def load(self) -> None:
        segment_import.load(self, self.job)


def _let_writers_in() -> None:
    """On SQLite, give a write that waits for the lock the moment between two chunks (see
    ``IMPORT_SQLITE_PAUSE_MS``); PostgreSQL locks rows, and nobody waits for an import."""
    pause = settings.IMPORT_SQLITE_PAUSE_MS
    if pause > 0 and connections["default"].vendor == "sqlite":
        time.sleep(pause / 1000)


def _cells(raw: Mapping[str, object], columns: list[str]) -> dict[str, str]:
    return {column: cell_text(raw.get(column)) for column in columns if column}


def _count_fields(job: ImportJob, counts: dict[str, int]) -> dict[str, int]:
    if isinstance(job, CardImport):
        return {"cards_created": counts["created"]}
    return dict(counts)


# --- What the pages show --------------------------------------------------------------------


def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


def import_job_summary(job: ImportJob) -> str:
    """One sentence: "100,000 rows: 99,995 new, 5 errors", or what the import did."""
    if isinstance(job, SegmentImport):
        return segment_import.summary(job)
    if job.stage == Stage.LOAD and job.status in (Status.LOADING, Status.DONE, Status.FAILED):
        counts = job.load_counts()
        rows = job.rows_done
        parts = [ngettext("%(n)s created", "%(n)s created", counts["created"])]
        values = [counts["created"]]
        if not isinstance(job, CardImport):
            parts += [
                ngettext("%(n)s changed", "%(n)s changed", counts["updated"]),
                ngettext("%(n)s unchanged", "%(n)s unchanged", counts["unchanged"]),
            ]
            values += [counts["updated"], counts["unchanged"]]
    else:
        rows = job.rows_checked
        parts = [ngettext("%(n)s new", "%(n)s new", job.new_rows)]
        values = [job.new_rows]
        if not isinstance(job, CardImport):
            parts += [
                ngettext("%(n)s to change", "%(n)s to change", job.changed_rows),
                ngettext("%(n)s unchanged", "%(n)s unchanged", job.unchanged_rows),
            ]
            values += [job.changed_rows, job.unchanged_rows]
    parts.append(ngettext("%(n)s error", "%(n)s errors", job.error_count))
    values.append(job.error_count)
    details = ", ".join(part % {"n": _n(value)} for part, value in zip(parts, values, strict=True))
    head = ngettext("%(rows)s row", "%(rows)s rows", rows) % {"rows": _n(rows)}
    return _("%(head)s: %(details)s") % {"head": head, "details": details}


def import_job_progress(job: ImportJob) -> dict[str, object]:
    """What the progress endpoint answers: status, the rows behind and ahead, a percentage."""
    total: int | None
    if job.stage == Stage.LOAD:
        done, total = job.rows_done, job.rows_total or job.rows_checked
    else:
        done, total = job.rows_checked, job.rows_total
    if job.status in (Status.CHECKED, Status.DONE):
        percent = 100
    elif total:
        percent = min(99, int(done * 100 / total))
    else:
        percent = 0
    return {
        "id": job.pk,
        "stage": job.stage,
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "is_running": job.is_running,
        "rows_total": total,
        "rows_done": done,
        "percent": percent,
        "error_count": job.error_count,
        "summary": import_job_summary(job),
        "failure": job.failure,
    }


def import_job_bad_rows(job: ImportJob) -> Iterator[list[str]]:
    """The rejected rows as CSV rows: ``row``, the file's own columns, then ``reason``. The
    file can be corrected and imported again as it is (the extra columns are ignored)."""
    columns = [column for column in job.columns if column and column not in ("row", "reason")]
    yield ["row", *columns, "reason"]
    for error in job.row_errors.order_by("row").iterator(chunk_size=2000):
        cells = error.cells or {}
        yield [
            str(error.row),
            *(str(cells.get(column, "")) for column in columns),
            " ".join(error.reasons.splitlines()),
        ]
