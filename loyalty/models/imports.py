"""File imports (cards, products, stores): the shared record of a job's progress and outcome.

``ImportJob`` holds what every import shows in the admin: its stage (check the file, then
import it), status, counts, the heartbeat of the process running it, and the last row
committed, from which a job whose worker died resumes. ``CardImport`` (cards) and
``DataImport`` (products, stores) add what they load; ``CardImportError`` and
``DataImportError`` keep each rejected row with its reasons and its cells (the bad-rows file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ImportJob(models.Model):
    """A file imported in two stages, checked then loaded, each in-request or in the background."""

    class Stage(models.TextChoices):
        CHECK = "check", _("check the file")
        LOAD = "load", _("import the rows")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        CHECKING = "checking", _("checking the rows")
        CHECKED = "checked", _("checked: waiting for confirmation")
        LOADING = "loading", _("importing")
        DONE = "done", pgettext_lazy("import status", "done")
        FAILED = "failed", pgettext_lazy("import status", "failed")

    # Statuses of a job that is still going on: its admin pages follow its progress.
    RUNNING = (Status.QUEUED, Status.CHECKING, Status.LOADING)
    # Statuses in which a process is working on the job and keeps its heartbeat fresh.
    WORKING = (Status.CHECKING, Status.LOADING)
    # What the uploader chose: a re-run copies these into a new job.
    option_fields: tuple[str, ...] = ("file",)

    if TYPE_CHECKING:  # declared by every concrete job and its error model
        from django.db.models.fields.files import FieldFile

        file: FieldFile
        row_errors: Any

    stage = models.CharField(
        _("stage"), max_length=8, choices=Stage.choices, default=Stage.CHECK, editable=False
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    rows_total = models.PositiveIntegerField(_("rows in the file"), null=True, blank=True)
    rows_checked = models.PositiveIntegerField(_("rows checked"), default=0)
    rows_done = models.PositiveIntegerField(
        _("rows imported up to"),
        default=0,
        help_text=_("The last row committed; a resumed import continues after it."),
    )
    new_rows = models.PositiveIntegerField(_("new"), default=0)
    changed_rows = models.PositiveIntegerField(_("to change"), default=0)
    unchanged_rows = models.PositiveIntegerField(_("unchanged"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    failure = models.TextField(_("why it failed"), blank=True)
    columns = models.JSONField(_("columns of the file"), default=list, blank=True, editable=False)
    run_token = models.CharField(max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file.name

    @property
    def is_running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def can_confirm(self) -> bool:
        return self.status == self.Status.CHECKED and self.new_rows + self.changed_rows > 0

    @property
    def can_resume(self) -> bool:
        """A failed job runs again: an import continues after its last committed row, a
        check starts over (it wrote nothing)."""
        return self.status == self.Status.FAILED

    def load_counts(self) -> dict[str, int]:
        """What the import stage wrote: created, updated, unchanged."""
        raise NotImplementedError


class ImportRowError(models.Model):
    """A row of an import file that cannot be imported: its number, reasons and cells."""

    row = models.PositiveIntegerField(_("row"))
    reasons = models.TextField(_("reason"))
    cells = models.JSONField(_("cells"), default=dict)

    class Meta:
        abstract = True
        ordering = ["row"]

    def __str__(self) -> str:
        return f"{self.row}: {self.reasons}"


class DataImport(ImportJob):
    """A product catalogue or store file import."""

    class Kind(models.TextChoices):
        PRODUCTS = "products", _("products")
        STORES = "stores", _("stores")

    kind = models.CharField(_("what"), max_length=16, choices=Kind.choices)
    file = models.FileField(
        _("file"), upload_to="data_imports/", help_text=_("CSV (UTF-8) or XLSX with a header row.")
    )
    partner = models.ForeignKey(
        "loyalty.Partner",
        verbose_name=_("default partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "Products: for rows that leave the partner column empty (empty here: the shared "
            "catalogue). Stores: for rows that leave the partner column empty."
        ),
    )
    created = models.PositiveIntegerField(_("added"), default=0)
    updated = models.PositiveIntegerField(_("changed"), default=0)
    unchanged = models.PositiveIntegerField(_("left unchanged"), default=0)

    option_fields = ("kind", "file", "partner")

    class Meta(ImportJob.Meta):
        verbose_name = _("product or store import")
        verbose_name_plural = _("product and store imports")

    def load_counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


class DataImportError(ImportRowError):
    """A product or store row that cannot be imported."""

    job = models.ForeignKey(
        DataImport, verbose_name=_("import"), on_delete=models.CASCADE, related_name="row_errors"
    )

    class Meta(ImportRowError.Meta):
        verbose_name = _("product or store import error")
        verbose_name_plural = _("product and store import errors")
        indexes = [models.Index(fields=["job", "row"], name="dataimporterror_job_row")]


class SegmentImport(ImportJob):
    """A list of phones, card numbers or emails that fills a segment filled by hand: checked
    (who is found, who is not, who is already a member), then applied set-wise
    (``loyalty.services.segment_import``). The counts of the check are those of the load
    after it: the file is read again when the list is applied.

    ``new_rows`` are the customers who would enter, ``changed_rows`` the members who would
    leave (replace only), ``unchanged_rows`` the members the list names again."""

    class Identifier(models.TextChoices):
        AUTO = "auto", _("found by the column's name")
        PHONE = "phone", _("phone numbers")
        CARD = "card", _("card numbers")
        EMAIL = "email", _("emails")

    class Mode(models.TextChoices):
        ADD = "add", _("add to the members")
        REPLACE = "replace", _("replace the members")

    segment = models.ForeignKey(
        "crm.Segment",
        verbose_name=_("segment"),
        on_delete=models.CASCADE,
        related_name="list_imports",
        help_text=_("A segment filled by hand or from a list (a rule segment keeps its rule)."),
    )
    file = models.FileField(
        _("file"),
        upload_to="segment_imports/",
        help_text=_(
            "CSV (UTF-8, comma or semicolon) or XLSX with a header row: a column of phones "
            "(phone), card numbers (card) or emails (email)."
        ),
    )
    identifier = models.CharField(
        _("the column holds"),
        max_length=8,
        choices=Identifier.choices,
        default=Identifier.AUTO,
        help_text=_(
            "Found by the column's name: phone, card or email (телефон, карта, почта). Chosen "
            "here: that column, or the file's only column whatever its name."
        ),
    )
    mode = models.CharField(
        _("mode"),
        max_length=8,
        choices=Mode.choices,
        default=Mode.ADD,
        help_text=_("Replace: the members the file does not name leave the segment."),
    )
    column = models.CharField(_("column read"), max_length=200, blank=True, editable=False)
    read_as = models.CharField(
        _("read as"), max_length=8, choices=Identifier.choices, blank=True, editable=False
    )
    found = models.PositiveIntegerField(_("customers found"), default=0)
    not_found = models.PositiveIntegerField(_("not found"), default=0)
    bad_format = models.PositiveIntegerField(_("bad format"), default=0)
    duplicates = models.PositiveIntegerField(_("repeated"), default=0)
    anonymised = models.PositiveIntegerField(_("anonymised customers"), default=0)
    merged = models.PositiveIntegerField(
        _("merged customers"),
        default=0,
        help_text=_("Rows naming a merged customer: the customer they were merged into counts."),
    )
    entered = models.PositiveIntegerField(_("entered"), default=0)
    left = models.PositiveIntegerField(_("left"), default=0)
    size = models.PositiveIntegerField(_("size after"), null=True, blank=True)

    option_fields = ("segment", "file", "identifier", "mode")

    class Meta(ImportJob.Meta):
        verbose_name = _("segment list import")
        verbose_name_plural = _("segment list imports")

    @property
    def can_confirm(self) -> bool:
        # A file in which no row names a customer is the wrong file: replacing with it would
        # empty the segment.
        return super().can_confirm and self.found > 0

    def load_counts(self) -> dict[str, int]:
        return {"created": self.entered, "updated": self.left, "unchanged": self.unchanged_rows}


class SegmentImportError(ImportRowError):
    """A row of a segment list that names no customer who can be a member, or repeats one."""

    job = models.ForeignKey(
        SegmentImport, verbose_name=_("import"), on_delete=models.CASCADE, related_name="row_errors"
    )

    class Meta(ImportRowError.Meta):
        verbose_name = _("segment list import error")
        verbose_name_plural = _("segment list import errors")
        indexes = [models.Index(fields=["job", "row"], name="segmentimporterror_job_row")]
