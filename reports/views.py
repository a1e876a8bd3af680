"""Report pages for staff, outside the admin's model pages (mounted under ``/staff/reports/``)."""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import Segment
from loyalty.models import staff_partner_id
from reports.services.contact_centre import CentreReport, centre_report
from reports.services.segments import segment_sizes, segments_overview, size_chart


class PeriodForm(forms.Form):
    since = forms.DateField(label=gettext_lazy("from"))
    until = forms.DateField(label=gettext_lazy("to (inclusive)"))

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and until < since:
            raise forms.ValidationError(
                _("The period ends before it starts."), code="period_reversed"
            )
        return cleaned


def _bounds(form: PeriodForm) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    since = datetime.combine(form.cleaned_data["since"], time.min, tzinfo=zone)
    until = datetime.combine(form.cleaned_data["until"] + timedelta(days=1), time.min, tzinfo=zone)
    return since, until


def _csv(report: CentreReport) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"contact-centre-{report.since:%Y%m%d}-{report.until - timedelta(days=1):%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    out = csv.writer(response)
    out.writerow([_("section"), _("what"), _("tickets")])
    for section, rows in (
        (_("category"), report.by_category),
        (_("channel"), report.by_channel),
        (_("status"), report.by_status),
    ):
        for label, count in rows:
            out.writerow([section, label, count])
    out.writerow([])
    out.writerow(
        [
            _("category"),
            _("priority"),
            _("tickets"),
            _("first response met"),
            _("first response missed"),
            _("first response %"),
            _("resolution met"),
            _("resolution missed"),
            _("resolution %"),
        ]
    )
    for row in [*report.sla, report.sla_total]:
        out.writerow(
            [
                row.category or _("all"),
                row.priority,
                row.tickets,
                row.first_response.met,
                row.first_response.missed,
                row.first_response.percent if row.first_response.percent is not None else "",
                row.resolution.met,
                row.resolution.missed,
                row.resolution.percent if row.resolution.percent is not None else "",
            ]
        )
    out.writerow([])
    out.writerow(
        [
            _("operator"),
            _("assigned"),
            _("resolved"),
            _("open now"),
            _("replies"),
            _("internal notes"),
            _("deadlines missed"),
            _("mean first response, minutes"),
        ]
    )
    for op in report.workload:
        out.writerow(
            [
                op.operator,
                op.assigned,
                op.resolved,
                op.open_now,
                op.replies,
                op.notes,
                op.missed,
                op.first_response_minutes if op.first_response_minutes is not None else "",
            ]
        )
    out.writerow([])
    out.writerow(
        [
            _("operator"),
            _("currency"),
            _("asked"),
            _("applied"),
            _("waiting"),
            _("rejected"),
            _("credited"),
            _("debited"),
        ]
    )
    for row in report.adjustments:
        out.writerow(
            [
                row.operator,
                row.currency,
                row.requested,
                row.applied,
                row.pending,
                row.rejected,
                row.credited,
                row.debited,
            ]
        )
    out.writerow([])
    out.writerow([_("supervisor"), _("approved"), _("rejected")])
    for row in report.decisions:
        out.writerow([row.supervisor, row.approved, row.rejected])
    return response


@staff_member_required
def contact_centre_report(request: HttpRequest) -> HttpResponse:
    """Tickets by category, channel and status, SLA compliance and operators' workload."""
    if staff_partner_id(request.user) is not None or not request.user.has_perm(
        "contactcenter.view_ticket"
    ):
        raise PermissionDenied  # the contact centre serves the coalition, not one partner
    today = timezone.localdate()
    # the last 30 days unless a period is asked for
    data = (
        request.GET
        if "since" in request.GET
        else {"since": today - timedelta(days=29), "until": today}
    )
    form = PeriodForm(data)
    report = None
    if form.is_valid():
        report = centre_report(*_bounds(form))
        if request.GET.get("format") == "csv":
            return _csv(report)
    return TemplateResponse(
        request,
        "staff/contact_centre_report.html",
        {
            **admin.site.each_context(request),  # the back office's frame
            "title": _("Contact centre report"),
            "form": form,
            "report": report,
        },
    )


# --- segments: their size over time -------------------------------------------------------------


def segment_reader(user) -> bool:
    return user.has_perm("crm.view_segment") or user.has_perm("crm.change_segment")


def _segments_seen(request: HttpRequest) -> QuerySet[Segment]:
    """The segments the user may read: all of them, or for partner staff those of their
    partner's programmes and of the coalition's (as the segments' admin list shows them)."""
    if not segment_reader(request.user):
        raise PermissionDenied
    segments = Segment.objects.all()
    partner_id = staff_partner_id(request.user)
    if partner_id is not None:
        segments = segments.filter(
            Q(programme__partner_id=partner_id) | Q(programme__partner__isnull=True)
        )
    return segments


@staff_member_required
def segments_report(request: HttpRequest) -> HttpResponse:
    """Every segment with its members now and its size at its last refreshes, as a line."""
    return TemplateResponse(
        request,
        "staff/segments_report.html",
        {
            **admin.site.each_context(request),
            "title": _("Segments over time"),
            "rows": segments_overview(_segments_seen(request)),
        },
    )


def _sizes_csv(segment: Segment, refreshes) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.code}-sizes.csv"'
    out = csv.writer(response)
    out.writerow(
        [_("started"), _("as of"), _("size"), _("entered"), _("left"), _("took, ms"), _("error")]
    )
    for refresh in refreshes:
        out.writerow(
            [
                timezone.localtime(refresh.started_at).isoformat(),
                timezone.localtime(refresh.as_of).isoformat(),
                "" if refresh.size is None else refresh.size,
                refresh.entered,
                refresh.left,
                refresh.took_ms,
                refresh.error,
            ]
        )
    return response


@staff_member_required
def segment_report(request: HttpRequest, pk: int) -> HttpResponse:
    """One segment's refreshes: size, entered, left and time taken, with the size as a line."""
    segment = get_object_or_404(_segments_seen(request).select_related("programme"), pk=pk)
    refreshes = segment_sizes(segment)
    if request.GET.get("format") == "csv":
        return _sizes_csv(segment, refreshes)
    sizes = [r.size for r in reversed(refreshes) if r.size is not None]
    return TemplateResponse(
        request,
        "staff/segment_report.html",
        {
            **admin.site.each_context(request),
            "title": _("Segment “%(name)s” over time") % {"name": segment.name},
            "segment": segment,
            "refreshes": refreshes,
            "chart": size_chart(sizes, width=720, height=160),
            "can_open": request.user.has_perm("crm.view_segment")
            or request.user.has_perm("crm.change_segment"),
        },
    )
