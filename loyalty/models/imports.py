"""Background imports of large files (Celery): the shared record of a job's progress.

``ImportJob`` holds what every background import shows in the admin (status, rows checked,
errors); ``CardImport`` (cards) and ``DataImport`` (products, stores) add what they load.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ImportJob(models.Model):
    """A file imported in the background, with its progress, outcome and first errors."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        CHECKING = "checking", _("checking the rows")
        LOADING = "loading", _("loading")
        DONE = "done", pgettext_lazy("import status", "done")
        FAILED = "failed", _("failed: nothing imported")

    # Statuses of a job that is still going on: its admin pages refresh themselves.
    RUNNING = (Status.QUEUED, Status.CHECKING, Status.LOADING)

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    rows_checked = models.PositiveIntegerField(_("rows checked"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    errors = models.TextField(_("first errors"), blank=True)
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

    def outcome_fields(self, report) -> dict[str, int]:
        """The counters of a finished run to store, from its ``ImportReport``."""
        raise NotImplementedError


class DataImport(ImportJob):
    """A large product catalogue or store file imported in the background."""

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
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)

    class Meta(ImportJob.Meta):
        verbose_name = _("product or store import")
        verbose_name_plural = _("product and store imports")

    def outcome_fields(self, report) -> dict[str, int]:
        return {
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
        }
