"""Report pages for staff, outside the admin's model pages (mounted under ``/staff/reports/``)."""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty.models import staff_partner_id
from reports.services.contact_centre import CentreReport, centre_report


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
