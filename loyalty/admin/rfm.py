"""RFM schemes in the back office: the scheme with its named cells, the page of its R x F
matrix (heat map, named-cell totals, movement since the previous run, the runs), "Recompute
now" and "Create a segment per cell". The matrix reads only the per-run aggregates
(``loyalty.rfm.matrix``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin, TabularInline

from crm.errors import SegmentRuleError
from loyalty.errors import RfmCellsInvalid
from loyalty.models import RfmCell, RfmRun, RfmScheme
from loyalty.rfm.cells import cells_grid, standard_cells_create
from loyalty.rfm.compute import rfm_cells_reassign, rfm_recompute
from loyalty.rfm.matrix import rfm_matrix
from loyalty.rfm.segments import rfm_cell_segments_create, rfm_segments_refresh


class RfmCellFormSet(BaseInlineFormSet):
    """The cells kept must cover the R x F grid exactly once; a new scheme saved without cells
    gets the standard map."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [
            form.instance
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.instance.r_min is not None
        ]
        if not kept and self.instance.pk is None:
            return  # the standard map is created on save
        try:
            cells_grid(kept)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class RfmCellInline(TabularInline):
    model = RfmCell
    formset = RfmCellFormSet
    extra = 0
    fields = ["position", "code", "name", "r_min", "r_max", "f_min", "f_max"]
    ordering = ["position", "pk"]


@admin.register(RfmScheme)
class RfmSchemeAdmin(ModelAdmin):
    list_display = [
        "name",
        "code",
        "programme",
        "window_days",
        "is_active",
        "last_run_at",
        "matrix_link",
    ]
    list_filter = ["programme", "is_active"]
    search_fields = ["name", "code"]
    list_select_related = ["programme"]
    inlines = [RfmCellInline]
    actions = ["recompute_now", "create_cell_segments"]
    readonly_fields = ["matrix_link"]
    fieldsets = [
        (None, {"fields": ["programme", "code", "name", "description", "is_active"]}),
        (
            _("Scoring"),
            {
                "fields": [
                    "window_days",
                    ("recency_scoring", "recency_bounds"),
                    ("frequency_scoring", "frequency_bounds"),
                    ("monetary_scoring", "monetary_bounds"),
                ],
                "description": _(
                    "Scores run from 1 to 5 (5 the best). Quintiles split the customers who "
                    "bought in the window into five groups of equal size, customers with equal "
                    "values always in the same one; thresholds are your own bounds."
                ),
            },
        ),
        (_("Matrix"), {"fields": ["matrix_link"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(last_run=Max("runs__as_of"))

    @admin.display(description=_("last run"), ordering="last_run")
    def last_run_at(self, obj):
        return getattr(obj, "last_run", None) or "—"

    @admin.display(description=_("RF matrix"))
    def matrix_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:loyalty_rfmscheme_matrix", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("RF matrix"))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        scheme = form.instance
        if not RfmCell.objects.filter(scheme=scheme).exists():
            standard_cells_create(scheme)
        elif change:
            rfm_cells_reassign(scheme.pk)

    # --- the matrix page and its buttons ---------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/matrix/", wrap(self.matrix_view), name="loyalty_rfmscheme_matrix"),
            path(
                "<int:pk>/recompute/",
                wrap(require_POST(self.recompute_view)),
                name="loyalty_rfmscheme_recompute",
            ),
            path(
                "<int:pk>/segments/",
                wrap(require_POST(self.segments_view)),
                name="loyalty_rfmscheme_segments",
            ),
            *super().get_urls(),
        ]

    def _scheme(self, request, pk: int, *, change: bool) -> RfmScheme:
        scheme = get_object_or_404(self.get_queryset(request), pk=pk)
        allowed = (
            self.has_change_permission(request, scheme)
            if change
            else self.has_view_permission(request, scheme)
        )
        if not allowed:
            raise PermissionDenied
        return scheme

    def matrix_view(self, request, pk: int):
        scheme = self._scheme(request, pk, change=False)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("RF matrix: %(name)s") % {"name": scheme.name},
            "scheme": scheme,
            "matrix": rfm_matrix(scheme),
            "can_change": self.has_change_permission(request, scheme),
        }
        return TemplateResponse(request, "admin/loyalty/rfmscheme/matrix.html", context)

    def recompute_view(self, request, pk: int):
        scheme = self._scheme(request, pk, change=True)
        self._recompute(request, scheme)
        return HttpResponseRedirect(reverse("admin:loyalty_rfmscheme_matrix", args=[pk]))

    def segments_view(self, request, pk: int):
        scheme = self._scheme(request, pk, change=True)
        self._segments(request, scheme)
        return HttpResponseRedirect(reverse("admin:loyalty_rfmscheme_matrix", args=[pk]))

    def _recompute(self, request, scheme: RfmScheme) -> None:
        from loyalty.tasks import rfm_recompute_task

        if not rfm_recompute_task.app.conf.task_always_eager:
            # a large programme takes minutes (about 3 for a million customers): the worker
            # runs it, not the web request
            rfm_recompute_task.delay_on_commit(scheme.pk, request.user.pk)
            self.message_user(
                request,
                _("“%(name)s” is being recomputed; the matrix shows the run when it is done.")
                % {"name": scheme.name},
                messages.INFO,
            )
            return
        try:
            run = rfm_recompute(scheme.pk, trigger=RfmRun.Trigger.STAFF, user=request.user)
        except RfmCellsInvalid as exc:
            self.message_user(
                request,
                _("“%(name)s” was not recomputed: %(error)s") % {"name": scheme.name, "error": exc},
                messages.ERROR,
            )
            return
        refreshed = rfm_segments_refresh(scheme.pk, user=request.user)
        self.message_user(
            request,
            _(
                "“%(name)s”: %(size)s customers scored, %(changed)s changed cell, in %(ms)s ms; "
                "%(segments)s segments refreshed."
            )
            % {
                "name": scheme.name,
                "size": run.size,
                "changed": run.changed,
                "ms": run.took_ms,
                "segments": refreshed.refreshed,
            },
            messages.SUCCESS,
        )
        if refreshed.failed:
            self.message_user(
                request,
                _("%(count)s segments reading the scheme failed to refresh; see their errors.")
                % {"count": refreshed.failed},
                messages.WARNING,
            )

    def _segments(self, request, scheme: RfmScheme) -> None:
        if not request.user.has_perm("crm.add_segment"):
            self.message_user(
                request, _("Creating segments needs the permission to add them."), messages.ERROR
            )
            return
        try:
            made = rfm_cell_segments_create(scheme, user=request.user)
        except SegmentRuleError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            _("“%(name)s”: %(created)s segments created, %(existing)s already there.")
            % {"name": scheme.name, "created": len(made.created), "existing": len(made.existing)},
            messages.SUCCESS,
        )

    @admin.action(description=_("Recompute now"), permissions=["change"])
    def recompute_now(self, request, queryset):
        for scheme in queryset.order_by("pk"):
            self._recompute(request, scheme)

    @admin.action(description=_("Create a segment per cell"), permissions=["change"])
    def create_cell_segments(self, request, queryset):
        for scheme in queryset.order_by("pk"):
            self._segments(request, scheme)
