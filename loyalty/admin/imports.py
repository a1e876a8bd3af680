"""File imports in the admin: upload, a summary first, the rejected rows paged with their
reasons, the bad rows as CSV, a progress bar for background jobs, resume and re-run.

Every import kind (cards, products, stores) goes through an import job (``ImportJob``). The
upload page is the job's add form; the job's own page replaces the change form. The stage
that reads the file (check, then import after the user confirms) runs in the request for a
small file and in the background above ``settings.IMPORT_BACKGROUND_BYTES``
(``loyalty.services.import_jobs``).
"""

from __future__ import annotations

import csv

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin
from unfold.decorators import action

from crm.models import Segment
from loyalty.admin.mixins import LineBuffer
from loyalty.models import CardImport, DataImport, ImportJob, SegmentImport
from loyalty.services import segment_import
from loyalty.services.import_jobs import (
    import_job_bad_rows,
    import_job_confirm,
    import_job_progress,
    import_job_rerun,
    import_job_resume,
    import_job_start,
    import_job_summary,
    import_jobs_fail_stale,
)

ERRORS_PER_PAGE = 50


class ImportJobAdmin(ModelAdmin):
    """An import job: the add form uploads the file; the job's page shows what happened."""

    change_list_template = "admin/loyalty/import_job/change_list.html"
    list_filter = ["status"]
    # What the uploader fills in.
    upload_fields: list[str] = ["file"]
    refresh_seconds = 5

    def get_fields(self, request, obj=None):
        return self.upload_fields

    def has_change_permission(self, request, obj=None):
        return False  # a job is a record of what happened; only its runs update it

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name

        def view(function, name):
            return path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(function),
                name="{}_{}_".format(*info) + name.replace("-", "_"),
            )

        return [
            view(self.progress_view, "progress"),
            view(self.bad_rows_view, "bad-rows"),
            view(require_POST(self.confirm_view), "confirm"),
            view(require_POST(self.resume_view), "resume"),
            view(require_POST(self.rerun_view), "rerun"),
            *super().get_urls(),
        ]

    def _url(self, name: str, job: ImportJob) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=[job.pk])

    def _job(self, request, object_id, *, act: bool = False) -> ImportJob:
        """The job, if this user may see it (and act on it); a dead run is shown failed."""
        import_jobs_fail_stale(self.model)
        job = self.get_object(request, object_id)
        if job is None:
            raise Http404
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        if act and not self.has_add_permission(request):
            raise PermissionDenied
        return job

    # --- Upload -----------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        # After the admin's transaction: the check commits chunk by chunk.
        transaction.on_commit(lambda: import_job_start(obj))

    def response_add(self, request, obj, post_url_continue=None):
        return redirect(self._url("change", obj))

    # --- The job's page and its JSON ------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        import_jobs_fail_stale(self.model)
        running = self.model.objects.filter(status__in=self.model.RUNNING).exists()
        extra_context = {
            **(extra_context or {}),
            "refresh_seconds": self.refresh_seconds if running else None,
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id)
        errors = Paginator(job.row_errors.order_by("row"), ERRORS_PER_PAGE)
        page = errors.get_page(request.GET.get("page"))
        may_act = self.has_add_permission(request)
        columns = [column for column in job.columns if column]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(job),
            "job": job,
            "summary": import_job_summary(job),
            "progress": import_job_progress(job),
            "errors_page": page,
            "page_range": errors.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "columns": columns,
            "error_rows": [
                (error.row, error.reasons, [(error.cells or {}).get(c, "") for c in columns])
                for error in page
            ],
            "progress_url": self._url("progress", job),
            "bad_rows_url": self._url("bad_rows", job),
            "confirm_url": self._url("confirm", job) if may_act and job.can_confirm else None,
            "resume_url": self._url("resume", job) if may_act and job.can_resume else None,
            "rerun_url": (
                self._url("rerun", job)
                if may_act and job.status in (ImportJob.Status.FAILED, ImportJob.Status.DONE)
                else None
            ),
            "kept_errors": errors.count,
            "details": self.job_details(job),
            "confirm_label": self.confirm_label(job),
        }
        return TemplateResponse(request, "admin/loyalty/import_job/job.html", context)

    def job_details(self, job) -> list[tuple[str, int]]:
        """Counts shown under the summary, as (label, number)."""
        return []

    def confirm_label(self, job) -> str | None:
        """The confirm button's text (None: "Import N rows")."""
        return None

    def progress_view(self, request, object_id):
        return JsonResponse(import_job_progress(self._job(request, object_id)))

    def bad_rows_view(self, request, object_id):
        job = self._job(request, object_id)

        def lines():
            buffer = LineBuffer()
            writer = csv.writer(buffer)
            for row in import_job_bad_rows(job):
                writer.writerow(row)
                yield buffer.pop()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        name = f"{self.opts.model_name}-{job.pk}-bad-rows.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def _act(self, request, object_id, service, done_message):
        job = self._job(request, object_id, act=True)
        try:
            result = service(job)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            result = job
        else:
            self.message_user(request, done_message, messages.SUCCESS)
        return redirect(self._url("change", result))

    def confirm_view(self, request, object_id):
        return self._act(request, object_id, import_job_confirm, _("The import has started."))

    def resume_view(self, request, object_id):
        return self._act(request, object_id, import_job_resume, _("The import is running again."))

    def rerun_view(self, request, object_id):
        return self._act(
            request,
            object_id,
            lambda job: import_job_rerun(job, user=request.user),
            _("A new run of the same file has started with a check."),
        )


@admin.register(CardImport)
class CardImportAdmin(ImportJobAdmin):
    """Card files: checked, then imported, in the request or in the background."""

    list_display = [
        "file",
        "batch",
        "status",
        "rows_checked",
        "cards_created",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["batch", "created_by"]
    autocomplete_fields = ["batch"]
    upload_fields = ["file", "batch"]


@admin.register(DataImport)
class DataImportAdmin(ImportJobAdmin):
    """Product catalogue and store files: checked, then imported."""

    list_display = [
        "file",
        "kind",
        "partner",
        "status",
        "rows_checked",
        "created",
        "updated",
        "unchanged",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    list_select_related = ["partner", "created_by"]
    autocomplete_fields = ["partner"]
    upload_fields = ["kind", "file", "partner"]


class SegmentImportForm(forms.ModelForm):
    """The upload form: a segment this user may change, filled by hand."""

    request = None  # set per request by ``SegmentImportAdmin.get_form``

    class Meta:
        model = SegmentImport
        fields = ["segment", "file", "identifier", "mode"]

    def clean_segment(self):
        segment = self.cleaned_data["segment"]
        segments = admin.site._registry.get(Segment)
        if segments is None or not segments.has_change_permission(self.request, segment):
            raise ValidationError(
                _("You may not change the segment “%(name)s”.") % {"name": segment.name},
                code="segment_not_changeable",
            )
        segment_import.segment_import_check_segment(segment)
        return segment


@admin.register(SegmentImport)
class SegmentImportAdmin(ImportJobAdmin):
    """Lists of phones, cards or emails for segments filled by hand: checked (the preview),
    then applied. Importing needs the right to add list imports and to change the segment."""

    form = SegmentImportForm
    list_display = [
        "file",
        "segment",
        "mode",
        "status",
        "rows_checked",
        "found",
        "entered",
        "left",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "mode"]
    list_select_related = ["segment", "created_by"]
    autocomplete_fields = ["segment"]
    upload_fields = ["segment", "file", "identifier", "mode"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and request.user.has_perm("crm.change_segment")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def job_details(self, job) -> list[tuple[str, int]]:
        return segment_import.details(job)

    def confirm_label(self, job) -> str | None:
        if job.mode == SegmentImport.Mode.REPLACE:
            return _("Replace the members: %(entering)s enter, %(leaving)s leave") % {
                "entering": job.new_rows,
                "leaving": job.changed_rows,
            }
        return _("Add to the members: %(entering)s enter") % {"entering": job.new_rows}


class ImportButtonMixin:
    """An "Import a file" button on a list, leading to the upload page of its import job.

    An import adds rows and (products, stores) changes them, so it needs both rights."""

    actions_list = ["import_file"]
    import_job_model: type[ImportJob] = CardImport
    import_job_initial: dict[str, str] = {}

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)  # type: ignore[attr-defined]

    @action(
        description=_("Import a file"),
        url_path="import",
        icon="upload_file",
        permissions=["import"],
    )
    def import_file(self, request):
        opts = self.import_job_model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        if self.import_job_initial:
            url += "?" + urlencode(self.import_job_initial)
        return redirect(url)
